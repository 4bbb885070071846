"""The `activity` table: each session's current activity and its agent's last signal.

Plain sqlite3, no sqlite-utils: the hook entry point and `ao send` run this on every agent event
and every message. Callers hold the write transaction (`immediate`, or `Registry.transaction`).
The table is created by migration m004_activity in registry/migrations.py (ACTIVITY_TABLE).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import Activity, Reading

if TYPE_CHECKING:
    from ..registry.store import Registry

WAITING_EVENT = "Waiting"
ANSWERED_EVENT = "NoLongerWaiting"



@dataclass(frozen=True)
class ActivityRow:
    """A session's row of the activity table."""

    session: str
    current: Reading
    since: float
    observed_at: float
    signal: Reading | None
    signal_at: float | None
    conversation: str | None
    waiting_notified: bool


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A short write transaction on a plain connection (BEGIN IMMEDIATE takes the lock up front)."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _row(values: tuple) -> ActivityRow:
    (session, activity, reason, source, since, observed_at, signal_activity, signal_reason, signal_at, conversation,
     notified) = values
    signal = Reading(Activity(signal_activity), signal_reason or "", "signal") if signal_activity else None
    return ActivityRow(session, Reading(Activity(activity), reason, source), since, observed_at, signal, signal_at,
                       conversation, bool(notified))


_COLUMNS = ("session, activity, reason, source, since, observed_at, signal_activity, signal_reason, signal_at, "
            "conversation, waiting_notified")


def load(conn: sqlite3.Connection, session: str) -> ActivityRow | None:
    found = conn.execute(f"select {_COLUMNS} from activity where session = ?", [session]).fetchone()
    return _row(tuple(found)) if found else None


def load_all(conn: sqlite3.Connection) -> dict[str, ActivityRow]:
    return {r.session: r for r in (_row(tuple(v)) for v in conn.execute(f"select {_COLUMNS} from activity"))}


def load_all_of(registry: Registry) -> Mapping[str, ActivityRow]:
    """Every row, read again only when the registry may have changed (read-only: it is shared)."""
    reads = registry.unchanged_reads()
    if "activity" not in reads:
        reads["activity"] = load_all(registry.conn)
    return reads["activity"]


def waiting_unannounced(conn: sqlite3.Connection, since_before: float) -> list[ActivityRow]:
    """Rows waiting since before `since_before` whose episode is not yet announced (read by SQL, not
    by loading every row: a pass asks this of a thousand idle agents)."""
    query = (f"select {_COLUMNS} from activity where activity = ? and not waiting_notified and since <= ? "
             "order by session")
    return [_row(tuple(v)) for v in conn.execute(query, [Activity.WAITING.value, since_before])]


def _event(conn: sqlite3.Connection, session: str, now: float, reason: str, message: str, warning: bool) -> None:
    project = conn.execute("select project from sessions where id = ?", [session]).fetchone()
    conn.execute("insert into events (at, project, session, type, reason, message) values (?, ?, ?, ?, ?, ?)",
                 [now, project[0] if project else None, session, "Warning" if warning else "Normal", reason, message])


def record(conn: sqlite3.Connection, session: str, reading: Reading, now: float) -> bool:
    """Store the session's current activity; True when it changed. Entering or leaving
    `waiting` is an event; a new waiting episode may be announced again."""
    before = load(conn, session)
    if before is not None and before.current.same_state(reading):
        conn.execute("update activity set observed_at = ?, source = ? where session = ?",
                     [now, reading.source, session])
        return False
    if before is None:
        conn.execute(
            "insert into activity (session, activity, reason, source, since, observed_at) values (?, ?, ?, ?, ?, ?)",
            [session, reading.activity.value, reading.reason, reading.source, now, now])
    else:
        same_activity = before.current.activity == reading.activity
        conn.execute(
            "update activity set activity = ?, reason = ?, source = ?, since = ?, observed_at = ?, "
            "waiting_notified = ? where session = ?",
            [reading.activity.value, reading.reason, reading.source, before.since if same_activity else now, now,
             int(before.waiting_notified and reading.activity == Activity.WAITING), session])
    was_waiting = before is not None and before.current.activity == Activity.WAITING
    if reading.activity == Activity.WAITING and not was_waiting:
        _event(conn, session, now, WAITING_EVENT, f"agent is waiting for its user: {reading.reason}", True)
    elif was_waiting and reading.activity != Activity.WAITING:
        _event(conn, session, now, ANSWERED_EVENT, f"agent is no longer waiting (now {reading.activity.value})", False)
    return True


def record_signal(conn: sqlite3.Connection, session: str, reading: Reading | None, conversation: str | None,
                  now: float) -> None:
    """Remember an agent's signal (and the conversation id it reports); the signal also becomes the
    current activity at once, so a permission prompt is `waiting` before the next pass looks."""
    before = load(conn, session)
    if before is not None and reading is not None and _less_specific(reading, before.current):
        reading = before.current  # a late "needs your permission" notice names no tool: keep the one that did
    if before is None:
        record(conn, session, reading or Reading(Activity.STARTING, source="signal"), now)
    elif reading is not None:
        record(conn, session, reading, now)
    if reading is not None:
        conn.execute("update activity set signal_activity = ?, signal_reason = ?, signal_at = ? where session = ?",
                     [reading.activity.value, reading.reason, now, session])
    if conversation:
        conn.execute("update activity set conversation = ? where session = ?", [conversation, session])


def _less_specific(new: Reading, current: Reading) -> bool:
    return (new.activity == current.activity == Activity.WAITING
            and bool(current.reason) and current.reason.startswith(new.reason or "\0"))


def mark_notified(conn: sqlite3.Connection, session: str) -> None:
    conn.execute("update activity set waiting_notified = 1 where session = ?", [session])


def restart(conn: sqlite3.Connection, session: str, now: float) -> None:
    """A (re)launched agent starts over: no signal of the old process carries into the new one."""
    record(conn, session, Reading(Activity.STARTING, source="process"), now)
    conn.execute("update activity set signal_activity = null, signal_reason = null, signal_at = null "
                 "where session = ?", [session])


def forget(conn: sqlite3.Connection, sessions: list[str]) -> int:
    """Delete the activity rows of sessions whose registry rows are gone (retention); returns how many."""
    gone = 0
    for start in range(0, len(sessions), 500):
        chunk = sessions[start:start + 500]
        gone += conn.execute(f"delete from activity where session in ({', '.join('?' for _ in chunk)})", chunk).rowcount
    return gone
