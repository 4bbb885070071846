"""Lifecycle routing: what the orchestrator is told when one of its workers changes state.

Pure: from an executed action to the text of a notice, or None; and from one pass's notices to
one `[from ao]` message per orchestrator (`fold`): a burst (a server restart, many agents dying at
once) is one message listing the workers compactly, not one message per worker typed one after
the other. The executor queues them in the same transaction as the transitions themselves, so
each transition is announced at most once, even across crashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..registry.records import Kind, Phase
from ..sessions.naming import split_id
from .backoff import CRASH_LOOP_AFTER
from .plan import Action, Recovery, Verb

SENDER = "ao"
FOLD_AFTER = 3  # more notices of one kind than this in one pass are listed as one line of IDs
MAX_LISTED = 12  # pieces (IDs or ranges) listed before "and N more"


def _who(action: Action) -> str:
    issue = action.desired.issue if action.desired else (
        (action.record.spec or {}).get("issue") if action.record else None)
    return f"{action.session_id} (issue {issue})" if issue else action.session_id


def _since(action: Action, now: float) -> str:
    record = action.record
    if record is None or record.started_at is None:
        return ""
    ended = action.live.dead_at if action.live and action.live.dead_at else now
    minutes = max(0, int(ended - record.started_at)) // 60
    return f" after {minutes}m" if minutes else f" after {max(0, int(ended - record.started_at))}s"


def _branch(action: Action) -> str:
    branch = action.record.branch if action.record else None
    return f"; branch {branch}" if branch else ""


def notice(action: Action, outcome: str, detail: str, now: float) -> str | None:
    """The message for the orchestrator about this worker transition, if it is one worth telling."""
    if action.kind != Kind.WORKER:
        return None
    if outcome == "failed" and action.verb in (Verb.CREATE, Verb.RELAUNCH, Verb.RECREATE):
        # Only the first failure: retries of a launch that keeps failing are not news.
        first = action.record is None or action.record.phase != Phase.FAILED
        return f"{_who(action)} failed to start: {detail}" if first else None
    who, branch = _who(action), _branch(action)
    waited = action.record is not None and action.record.reason == "Capacity"
    if waited and outcome in ("created", "relaunched"):
        return f"{who} started: there was room for it at last (it waited for capacity)"
    live = action.live
    status = (f"killed by signal {live.exit_signal}" if live and live.exit_signal
              else f"exited {live.exit_status}" if live and live.exit_status is not None else "stopped")
    if action.verb == Verb.EXITED:
        if action.phase == Phase.SUCCEEDED:
            return f"{who} {status}{_since(action, now)}{branch}"
        return f"{who} failed: {status}{_since(action, now)}{branch}; see `ao logs {action.session_id}`"
    crash_looping = action.quick_failures >= CRASH_LOOP_AFTER
    if action.verb == Verb.BACKOFF and action.phase == Phase.CRASH_LOOP:
        # Told once, when the loop starts; each further cycle is in the events, not the inbox.
        if action.quick_failures != CRASH_LOOP_AFTER:
            return None
        return f"{who} is crash-looping ({action.reason}); see `ao logs {action.session_id}`"
    if action.verb == Verb.RELAUNCH and outcome == "relaunched" and not crash_looping:
        restarts = (action.record.restarts if action.record else 0) + 1
        return f"{who} was relaunched (restart {restarts}): {action.reason}{branch}"
    if action.verb == Verb.REAP and outcome == "reaped" and action.record is not None:
        return f"{who} was stopped and removed: {action.reason}{branch}"
    return None


@dataclass(frozen=True)
class Notice:
    """One worker's news for its orchestrator, from one pass."""

    target: str  # the orchestrator's session ID
    project: str
    session_id: str
    text: str
    kind: str  # what happened, as the folded line says it: "relaunched", "failed to start", ...
    recovery: Recovery | None = None


def _kind(action: Action, outcome: str) -> str:
    if outcome == "failed" and action.verb != Verb.EXITED:
        return "failed to start"
    if action.verb == Verb.EXITED:
        return "finished" if action.phase == Phase.SUCCEEDED else "failed"
    if action.verb == Verb.BACKOFF:
        return "crash-looping"
    if action.verb == Verb.REAP:
        return "stopped and removed"
    return "started" if outcome == "created" else outcome


def notice_for(action: Action, outcome: str, detail: str, now: float, target: str | None) -> Notice | None:
    """The notice for `target` (the project's orchestrator) about this transition, if any."""
    if not target or target == action.session_id:
        return None
    text = notice(action, outcome, detail, now)
    if text is None:
        return None
    recovery = action.recovery if outcome == "relaunched" else None
    return Notice(target, action.project, action.session_id, text, _kind(action, outcome), recovery)


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def compact_ids(ids: Iterable[str]) -> str:
    """`shop-1…shop-40, shop-42, web-3`: consecutive worker numbers as ranges, at most MAX_LISTED pieces."""
    numbered: dict[str, list[int]] = {}
    pieces: list[str] = []
    for sid in ids:
        prefix, suffix = split_id(sid)
        if suffix.isdigit():
            numbered.setdefault(prefix, []).append(int(suffix))
        else:
            pieces.append(sid)
    for prefix, numbers in sorted(numbered.items()):
        for first, last in _ranges(numbers):
            if last - first >= 2:
                pieces.append(f"{prefix}-{first}…{prefix}-{last}")
            else:
                pieces += [f"{prefix}-{n}" for n in range(first, last + 1)]
    if len(pieces) > MAX_LISTED:
        return ", ".join(pieces[:MAX_LISTED]) + f" and {len(pieces) - MAX_LISTED} more"
    return ", ".join(pieces)


def _lines(notices: Sequence[Notice]) -> list[str]:
    lines: list[str] = []
    restarts: dict[str, list[str]] = {}
    kinds: dict[str, list[Notice]] = {}
    for n in notices:
        if n.recovery is not None:
            restarts.setdefault(n.recovery.runtime, []).append(n.session_id)
        else:
            kinds.setdefault(n.kind, []).append(n)
    for runtime, ids in restarts.items():
        lines.append(f"relaunched {compact_ids(ids)} after the {runtime} server restarted")
    for kind, group in kinds.items():
        if len(group) > FOLD_AFTER:
            lines.append(f"{kind}: {compact_ids(n.session_id for n in group)} (see `ao events`)")
        else:
            lines += [n.text for n in group]
    return lines


def fold(notices: Sequence[Notice]) -> list[tuple[str, str, str]]:
    """One message per orchestrator for one pass's notices: (target, project, body)."""
    by_target: dict[str, list[Notice]] = {}
    for n in notices:
        by_target.setdefault(n.target, []).append(n)
    messages = []
    for target, group in by_target.items():
        # Each line says who speaks: an agent may show a multi-line paste line by line.
        body = "\n".join(f"[from {SENDER}] {line}" for line in _lines(group))
        messages.append((target, group[0].project, body))
    return messages


def restart_events(actions: Iterable[Action]) -> list[tuple[str, str]]:
    """(reason, message) of one `RuntimeRestarted` event per server restart this pass recovers from."""
    counts: dict[Recovery, int] = {}
    for action in actions:
        if action.recovery is not None:
            counts[action.recovery] = counts.get(action.recovery, 0) + 1
    return [("RuntimeRestarted", f"the {r.runtime} server was restarted or killed: none of its sessions was left; "
             f"relaunching {n} at once (not counted as crashes of their agents)") for r, n in counts.items()]
