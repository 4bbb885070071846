"""The `messages` table's one owner: every read and write of a message goes through these operations.

Plain `sqlite3` and SQL only (no sqlite-utils), so the light `ao send` path can use it on its own
connection, and the registry on its connection. The table is created by migration `m002_messages`
in `migrations.py`, next to this module; the columns used here are the ones that migration defines.

A message's `outcome` is its state: queued -> delivering -> delivered -> submitted, or
unconfirmed, failed or rejected; `detail` says why. `delivering` is claimed before a message is
typed (so it is typed at most once); `delivered` means its text left the agent's input line;
`submitted` means the agent itself reported taking it as a prompt (`mark_submitted`, from its
hook), which nothing overwrites. The `submitted_at` column comes from migration `m004_activity`.
"""

from __future__ import annotations

import sqlite3
import time
from enum import StrEnum
from typing import Any


class MessageState(StrEnum):
    QUEUED = "queued"  # waiting for the target's agent to run
    DELIVERING = "delivering"  # claimed by a pass; being typed now (delivered at most once)
    DELIVERED = "delivered"  # its text left the agent's input line
    SUBMITTED = "submitted"  # the agent reported taking it as a prompt: proof
    UNCONFIRMED = "unconfirmed"  # pasted, but the text was still on the input line
    REJECTED = "rejected"
    FAILED = "failed"


COLUMNS = ("at", "sender", "target", "project", "body", "outcome", "detail", "enter_presses")
INSERT = f"insert into messages ({', '.join(COLUMNS)}) values ({', '.join('?' for _ in COLUMNS)})"
SELECT_QUEUED = "select * from messages where outcome = 'queued' order by id"
SET_STATE = "update messages set outcome = ?, detail = coalesce(?, detail), enter_presses = coalesce(?, enter_presses) " \
            "where id = ? and outcome != 'submitted'"
SELECT_OUTCOME = "select outcome from messages where id = ?"
# The latest messages typed into a session that its agent has not yet reported taking.
SELECT_UNPROVEN = "select id, body from messages where target = ? and outcome in ('delivering', 'delivered', " \
                  "'unconfirmed') order by id desc limit 20"
SET_SUBMITTED = "update messages set outcome = 'submitted', detail = '', submitted_at = ? where id = ?"


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def record(conn: sqlite3.Connection, *, target: str, project: str | None, body: str, sender: str | None,
           state: MessageState, detail: str | None = None, enter_presses: int = 0, at: float | None = None) -> int:
    """Write a new message in `state`; returns its id. The caller owns the transaction."""
    values = [at if at is not None else time.time(), sender, target, project, body, str(state), detail, enter_presses]
    cursor = conn.execute(INSERT, values)
    return int(cursor.lastrowid or 0)


def queued(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Messages waiting for their target, oldest first."""
    return _rows(conn, SELECT_QUEUED, [])


def set_state(conn: sqlite3.Connection, message_id: int, state: MessageState, *, detail: str | None = None,
              enter_presses: int | None = None) -> MessageState:
    """Move a message to `state` (keeping detail and Enter presses unless given); a message its agent
    already proved submitted stays so. Returns the state that stands."""
    conn.execute(SET_STATE, [str(state), detail, enter_presses, message_id])
    return state_of(conn, message_id) or state


def state_of(conn: sqlite3.Connection, message_id: int) -> MessageState | None:
    row = conn.execute(SELECT_OUTCOME, [message_id]).fetchone()
    return MessageState(row[0]) if row else None


def mark_submitted(conn: sqlite3.Connection, target: str, prompt: str, now: float) -> int | None:
    """The agent of `target` took `prompt` as a user prompt: the message ao typed with that text is
    proven submitted. Returns its id, if one matched."""
    wanted = " ".join(prompt.split())
    for message_id, body in conn.execute(SELECT_UNPROVEN, [target]).fetchall():
        if " ".join(body.split()) == wanted:
            conn.execute(SET_SUBMITTED, [now, message_id])
            return int(message_id)
    return None


def recent(conn: sqlite3.Connection, *, project: str | None = None, session: str | None = None,
           limit: int | None = None) -> list[dict[str, Any]]:
    """Messages to or from `session` (or of `project`), oldest first."""
    clauses, params = [], []
    if project is not None:
        clauses.append("project = ?")
        params.append(project)
    if session is not None:
        clauses.append("(target = ? or sender = ?)")
        params += [session, session]
    where = f"where {' and '.join(clauses)}" if clauses else ""
    sql = f"select * from messages {where} order by id desc"
    if limit:
        sql += f" limit {int(limit)}"
    return list(reversed(_rows(conn, sql, params)))


# Finished messages: nothing will type, claim or prove them any more (see retention in reconcile/retention.py).
FINISHED = (MessageState.DELIVERED, MessageState.SUBMITTED, MessageState.UNCONFIRMED, MessageState.REJECTED,
            MessageState.FAILED)
_FINISHED_SQL = ", ".join(f"'{state}'" for state in FINISHED)


def first_at_or_after(conn: sqlite3.Connection, cutoff: float) -> int | None:
    """The id of the oldest message written at or after `cutoff` (ids grow with time: this reads
    only the older ones); None when every message is older."""
    row = conn.execute("select id from messages where at >= ? order by id limit 1", [cutoff]).fetchone()
    return int(row[0]) if row else None


def prune_finished(conn: sqlite3.Connection, before_id: int, limit: int) -> int:
    """Delete up to `limit` finished messages with an id below `before_id`, oldest first; a queued or
    delivering message always stays, and so does the newest message (its id is never handed out
    again). The caller owns the transaction. Returns how many went."""
    newest = conn.execute("select max(id) from messages").fetchone()[0]
    if newest is None:
        return 0
    return conn.execute(f"delete from messages where id in (select id from messages where id < ? and outcome in "
                        f"({_FINISHED_SQL}) order by id limit ?)", [min(before_id, int(newest)), limit]).rowcount


def count_finished(conn: sqlite3.Connection) -> tuple[int, int]:
    """(all messages, finished ones)."""
    row = conn.execute(f"select count(*), count(*) filter (where outcome in ({_FINISHED_SQL})) from messages").fetchone()
    return int(row[0]), int(row[1] or 0)
