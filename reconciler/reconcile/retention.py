"""Retention: what ao forgets, and when, so that a data dir does not grow forever.

The policy is a setting of the data dir, kept in `retention.json` (like the capacity settings in
`capacity.json`) and changed with `ao retention`. The controller applies it at most once an hour
(`prune_when_due`); `ao retention --prune-now` applies it at once. Defaults, and why:

- events: 14 days, and never more than the newest 100,000. Events explain what happened (`ao
  events`, `ao describe`); two weeks covers any look back at a run, and the cap bounds a crash loop's
  flood (100,000 events are about 20 MB).
- messages: 14 days, finished ones only (delivered, submitted, unconfirmed, rejected, failed); a
  queued message waits for its agent however long that takes.
- terminated sessions: 7 days after they ended, the row and its `sessions/<id>` folder (prompts,
  agent histories: about 16 KB a session) go. Live sessions, and any session whose row is not
  terminated, are never touched; neither are worktrees (a reaped session's uncommitted work stays
  where the reap left it).

Deletes are by id range in batches of short transactions (ids grow with time, so the rows to go are a
prefix: no index on time is needed), and the newest event and message always stay so an id is never
handed out twice.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..activity import store as activity_store
from ..errors import UsageError
from ..paths import DataDir, read_json_object, write_private
from ..registry import messages
from ..registry import store as registry_store
from ..sessions.naming import SESSION_ID_PATTERN

SETTINGS_FILE = "retention.json"
LAST_PRUNE_FILE = "retention-last.json"
PRUNE_EVERY_SECONDS = 3600.0
# The controller's share of one wake: a big backlog (the first prune of an old data dir) is worked
# off over several wakes instead of holding up the passes; `ao retention --prune-now` has no budget.
CONTROLLER_BUDGET_SECONDS = 0.5
SESSIONS_PER_STEP = 100  # terminated sessions whose rows and folders go together, under the pass lock
KEEP_FOREVER = ("never", "off", "none", "forever")
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Policy:
    """How long ao keeps events, messages and ended sessions."""

    events: str = "14d"  # age after which an event goes, or "never"
    max_events: int | None = 100_000  # newest events kept at most; None: no cap
    messages: str = "14d"  # age after which a finished message goes
    sessions: str = "7d"  # time after its end when a terminated session's row and folder go

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "maxEvents": self.max_events, "messages": self.messages,
                "sessions": self.sessions}

    def summary(self) -> str:
        cap = f", at most the newest {self.max_events}" if self.max_events is not None else ""
        return (f"events {_age_words(self.events)}{cap}; finished messages {_age_words(self.messages)}; "
                f"terminated sessions and their folders {_age_words(self.sessions)} after they ended")


def _age_words(text: str) -> str:
    return "kept forever" if parse_age(text) is None else f"kept {text}"


def parse_age(text: str) -> float | None:
    """Seconds of an age like 14d, 36h, 2w, 90m; None for never (keep forever)."""
    value = text.strip().lower()
    if value in KEEP_FOREVER:
        return None
    match = _AGE.match(value)
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(f"retention age {text!r} is not a duration",
                         hint="e.g. 14d, 36h, 2w, 90m, or never to keep forever")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_max_events(text: str) -> int | None:
    value = text.strip().lower()
    if value in KEEP_FOREVER:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--max-events {text!r} is not a number of events", hint="e.g. 100000, or none for no cap")
    return int(value)


def _path(data_dir: DataDir) -> Path:
    return data_dir.root / SETTINGS_FILE


def load(data_dir: DataDir) -> Policy:
    """The stored policy; the defaults where none was given (or the file cannot be read)."""
    raw = read_json_object(_path(data_dir))
    if raw is None:
        return Policy()
    default = Policy()

    def age(key: str, fallback: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str):
            return fallback
        try:
            parse_age(value)
        except UsageError:
            return fallback  # a hand-edited file never stops the controller
        return value

    cap = raw.get("maxEvents", default.max_events)
    return Policy(events=age("events", default.events),
                  max_events=cap if cap is None or (isinstance(cap, int) and cap >= 1) else default.max_events,
                  messages=age("messages", default.messages), sessions=age("sessions", default.sessions))


def update(data_dir: DataDir, *, events: str | None = None, max_events: str | None = None,
           messages_age: str | None = None, sessions: str | None = None) -> Policy:
    """Change the settings given (as typed by a user; validated first); the others stay."""
    for value in (events, messages_age, sessions):
        if value is not None:
            parse_age(value)
    current = load(data_dir)
    policy = Policy(
        events=events.strip() if events is not None else current.events,
        max_events=parse_max_events(max_events) if max_events is not None else current.max_events,
        messages=messages_age.strip() if messages_age is not None else current.messages,
        sessions=sessions.strip() if sessions is not None else current.sessions,
    )
    if policy != current or not _path(data_dir).exists():
        write_private(_path(data_dir.ensure()), json.dumps(policy.as_json()))
    return policy


# ------------------------------------------------------------ pruning


@dataclass
class Pruned:
    """What one retention run removed."""

    at: float
    complete: bool = True  # False when the time budget ran out first: the next wake goes on
    events: int = 0
    messages: int = 0
    sessions: int = 0
    folders: int = 0
    folder_bytes: int = 0

    def summary(self) -> str:
        return (f"removed {self.events} events, {self.messages} messages, {self.sessions} terminated sessions and "
                f"{self.folders} session folders ({_size(self.folder_bytes)})"
                + ("" if self.complete else "; more to remove at the next wake"))

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "complete": self.complete, "events": self.events, "messages": self.messages, "sessions": self.sessions,
                "folders": self.folders, "folderBytes": self.folder_bytes}


def prune(svc: Any, now: float | None = None, *, budget: float | None = None) -> Pruned:
    """Apply the data dir's policy, now. `svc` is the `Service` (its registry, runtime and lock). With
    a `budget` (seconds), stop after the batch that exhausts it: `complete` is then False."""
    now = svc.clock() if now is None else now
    deadline = time.monotonic() + budget if budget is not None else None
    policy = load(svc.data_dir)
    registry = svc.registry
    done = Pruned(at=now)
    done.events = _prune_events(registry, policy, now, deadline)
    age = parse_age(policy.messages)
    if age is not None and not _past(deadline):
        first_kept = messages.first_at_or_after(registry.conn, now - age)
        before = first_kept if first_kept is not None else 1 << 62
        while not _past(deadline):
            with registry.transaction():
                count = messages.prune_finished(registry.conn, before, registry_store.PRUNE_BATCH)
            done.messages += count
            if count < registry_store.PRUNE_BATCH:
                break
    age = parse_age(policy.sessions)
    if age is not None and not _past(deadline):
        _prune_sessions(svc, now - age, done, deadline)
    done.complete = not _past(deadline)
    _write_last(svc.data_dir, done)
    return done


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _prune_events(registry: Any, policy: Policy, now: float, deadline: float | None) -> int:
    bounds = []
    age = parse_age(policy.events)
    if age is not None:
        first_recent = registry_store.first_event_at_or_after(registry, now - age)
        bounds.append(first_recent if first_recent is not None else 1 << 62)  # every event is older
    if policy.max_events is not None:
        start = registry_store.newest_events_start(registry, policy.max_events)
        if start is not None:
            bounds.append(start)
    return registry_store.prune_events_before(registry, max(bounds), deadline=deadline) if bounds else 0


def _prune_sessions(svc: Any, cutoff: float, done: Pruned, deadline: float | None) -> None:
    """Under the pass lock, so no pass brings an ID back (an orchestrator's is reused) while its row
    and folder go; a session the runtime still shows is left alone whatever its row says. A step's
    rows and folders go together, so a budget that runs out never leaves a folder without its row."""
    if not registry_store.terminated_sessions_before(svc.registry, cutoff):
        return  # the usual case: the lock is not taken
    with svc.lock():
        shown = set(svc.observe())
        # Read again under the lock: a pass may have reused and ended an ID since.
        candidates = [c for c in registry_store.terminated_sessions_before(svc.registry, cutoff) if c not in shown]
        for start in range(0, len(candidates), SESSIONS_PER_STEP):
            if _past(deadline):
                return
            gone = registry_store.delete_terminated_sessions(svc.registry, candidates[start:start + SESSIONS_PER_STEP])
            with svc.registry.transaction():
                activity_store.forget(svc.registry.conn, gone)
            done.sessions += len(gone)
            for session_id in gone:
                folder = _session_folder(svc.data_dir, session_id)
                if folder is None:
                    continue
                size = _tree_size(folder)
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    done.folders += 1
                    done.folder_bytes += size


def _session_folder(data_dir: DataDir, session_id: str) -> Path | None:
    """The folder of a session ID ao made (never a path a hand-edited row could point elsewhere)."""
    if not re.fullmatch(SESSION_ID_PATTERN, session_id):
        return None
    folder = data_dir.session_dir(session_id)
    return folder if folder.is_dir() and not folder.is_symlink() else None


def _tree_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def _write_last(data_dir: DataDir, done: Pruned) -> None:
    write_private(data_dir.ensure().root / LAST_PRUNE_FILE, json.dumps(done.as_json()))


def last_prune(data_dir: DataDir) -> dict[str, Any] | None:
    found = read_json_object(data_dir.root / LAST_PRUNE_FILE)
    return found if found is not None and isinstance(found.get("at"), int | float) else None


def prune_when_due(svc: Any, now: float | None = None, *, budget: float | None = CONTROLLER_BUDGET_SECONDS
                   ) -> Pruned | None:
    """The controller's hook: prune when the last prune (by any process) is an hour old or more, or
    ran out of time before it was done."""
    now = svc.clock() if now is None else now
    last = last_prune(svc.data_dir)
    if last is not None and last.get("complete", True) and 0 <= now - last["at"] < PRUNE_EVERY_SECONDS:
        return None
    return prune(svc, now, budget=budget)


# ------------------------------------------------------------ what the data dir holds (ao doctor)


def held(svc: Any) -> dict[str, Any]:
    """Counts and sizes of what the policy governs."""
    conn = svc.registry.conn
    events = conn.execute("select count(*) from events").fetchone()[0]
    all_messages, finished = messages.count_finished(conn)
    terminated = conn.execute("select count(*) from sessions where phase = 'Terminated'").fetchone()[0]
    root = svc.data_dir.root / "sessions"
    folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    db = svc.data_dir.db_path
    db_bytes = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    return {"events": events, "messages": all_messages, "finishedMessages": finished,
            "terminatedSessions": terminated, "sessionFolders": len(folders),
            "sessionFolderBytes": sum(_tree_size(p) for p in folders), "registryBytes": db_bytes}


def held_summary(figures: dict[str, Any]) -> str:
    return (f"{figures['events']} events, {figures['messages']} messages ({figures['finishedMessages']} finished), "
            f"{figures['terminatedSessions']} terminated sessions, {figures['sessionFolders']} session folders "
            f"({_size(figures['sessionFolderBytes'])}), registry {_size(figures['registryBytes'])}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"
