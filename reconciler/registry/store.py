"""Registry: typed access to `ao.db` (WAL, busy timeout, migrations, short IMMEDIATE transactions).

Reads are plain SQL on the connection; sqlite-utils (upserts, migrations) is loaded only when a write
or a migration needs it, so a read command (`ao get`, `ao describe`, `ao events`) does without it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import RegistryUnreadable
from ..paths import private_dir, private_file
from ..polling import poll
from . import messages
from .records import (
    EventRecord,
    MessageRecord,
    Phase,
    ProjectRecord,
    SessionRecord,
    WorkerRecord,
)

if TYPE_CHECKING:
    from sqlite_utils import Database

R = TypeVar("R", ProjectRecord, WorkerRecord, SessionRecord)
BUSY_TIMEOUT_SECONDS = 30.0
# Records kept per class for rows that did not change, before the cache is started afresh.
RECORD_CACHE_LIMIT = 50_000

# The migrations of migrations.py, by name (tests/unit/test_read_path.py keeps the two lists equal): a
# registry that has them all opens without loading sqlite-utils to ask.
MIGRATION_SET = "ao"
MIGRATIONS = ("m001_initial", "m002_messages", "m003_sources", "m004_activity", "m005_registry_identity")


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    # Switching a new database to WAL needs a lock that SQLite does not wait for (no busy
    # handler), so two processes opening a fresh data dir at once retry here.
    failures: list[sqlite3.OperationalError] = []

    def wal() -> bool | None:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            failures.append(exc)
            return None

    if not poll(wal, timeout=BUSY_TIMEOUT_SECONDS, interval=0.01):
        raise failures[-1]
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _up_to_date(conn: sqlite3.Connection) -> bool:
    """Whether every migration ao knows has been applied (plain SQL: no sqlite-utils needed)."""
    try:
        applied = {name for (name,) in conn.execute(
            "select name from _sqlite_migrations where migration_set = ?", [MIGRATION_SET])}
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False  # a new registry
        raise
    return applied.issuperset(MIGRATIONS)


class Registry:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._identity: str | None = None
        # Row (column names and values) -> its record, per record class: a pass reads every session,
        # worker and project row, and most did not change since the last pass.
        self._records: dict[type, dict[tuple[Any, ...], Any]] = {}
        # Whole results of reads, kept while the database reads as it did (see `unchanged_reads`).
        self._reads: dict[Any, Any] = {}
        self._reads_at: tuple[int, int] | None = None

    @classmethod
    def open(cls, path: Path) -> Registry:
        """Open (creating if needed) and migrate the registry at `path`."""
        try:
            private_dir(path.parent)
            private_file(path)  # SQLite gives its -wal and -shm files the mode of the database
            registry = cls(connect(path))
            if not _up_to_date(registry.conn):
                from .migrations import migrations

                if migrations.pending(registry.db):
                    with registry.transaction():
                        # pending() is checked again under the write lock: another process may have
                        # migrated in the meantime.
                        migrations.apply(registry.db)
        except (sqlite3.DatabaseError, OSError) as exc:  # damaged, a directory, read-only
            if "locked" in str(exc):
                raise  # busy, not broken: the caller waits or reports the holder
            raise RegistryUnreadable(path, getattr(exc, "strerror", None) or exc) from exc
        return registry

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for the table owners (`messages`, `sources`) that run plain SQL."""
        return self._conn

    @cached_property
    def db(self) -> Database:
        """sqlite-utils on the same connection, for upserts and migrations; loaded on first write."""
        from sqlite_utils import Database

        return Database(self._conn, execute_plugins=False)

    def close(self) -> None:
        self._conn.close()

    @property
    def identity(self) -> str:
        """This registry's identity, created with it (see migration m005)."""
        if self._identity is None:
            row = self._conn.execute("select value from meta where key = 'registry_id'").fetchone()
            self._identity = row[0]
        return self._identity

    @property
    def schema_version(self) -> int:
        from .migrations import migrations

        return len(migrations.applied(self.db))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Registry]:
        """One short write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        conn = self._conn
        if conn.in_transaction:
            yield self
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """One write statement, committed at once unless a transaction is open (as sqlite-utils does)."""
        conn = self._conn
        was_in_transaction = conn.in_transaction
        try:
            cursor = conn.execute(sql, list(params))
        except BaseException:
            if not was_in_transaction and conn.in_transaction:
                conn.rollback()
            raise
        if not was_in_transaction and conn.in_transaction:
            conn.commit()
        return cursor

    def unchanged_reads(self) -> dict[Any, Any]:
        """A cache for results of reads, emptied whenever the database may read differently: when
        another connection committed (`PRAGMA data_version` moved) or this one changed a row
        (`total_changes` moved). A pass over a fleet at rest then reads each table once, not per pass."""
        at = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes)
        if at != self._reads_at:
            self._reads, self._reads_at = {}, at
        return self._reads

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def _records_of(self, cls: type[R], sql: str, params: Iterable[Any] = (), *, whole_table: bool = False) -> list[R]:
        """The rows as records; an unchanged row gives the very record it gave before (records are
        immutable), so a pass does not decode the JSON of a thousand unchanged rows again.
        `whole_table`: the query returns every row of the table, so rows not among them are forgotten."""
        params = tuple(params)
        reads = self.unchanged_reads()
        if (read := reads.get((cls, sql, params))) is not None:
            return list(read)
        cursor = self._conn.execute(sql, params)
        names = tuple(column[0] for column in cursor.description)
        cache = self._records.get(cls, {})
        seen: dict[tuple[Any, ...], R] = {}
        result = []
        for values in cursor:
            key = (names, values)
            record = cache.get(key)
            if record is None:
                record = cls.from_row(dict(zip(names, values, strict=True)))
            seen[key] = record
            result.append(record)
        if whole_table or len(cache) > RECORD_CACHE_LIMIT:
            self._records[cls] = seen
        else:
            cache.update(seen)
            self._records[cls] = cache
        reads[(cls, sql, params)] = result
        return list(result)

    # ------------------------------------------------------------ projects

    def projects(self, *, include_deleted: bool = False) -> list[ProjectRecord]:
        where = "" if include_deleted else "where deleted = 0"
        return self._records_of(ProjectRecord, f"select * from projects {where} order by name",
                                whole_table=include_deleted)

    def project(self, name: str) -> ProjectRecord | None:
        rows = self._records_of(ProjectRecord, "select * from projects where name = ?", [name])
        return rows[0] if rows else None

    def save_project(self, record: ProjectRecord) -> None:
        self.db["projects"].upsert(record.to_row(), pk="name")

    def update_project(self, name: str, **changes: Any) -> None:
        """Set the given columns; the row (and its updated_at) is written only when one of them differs,
        so a pass that changes nothing leaves the project's record as it was."""
        assignments = ", ".join(f"{column} = ?" for column in changes)
        differs = " or ".join(f"{column} is not ?" for column in changes)
        values = list(changes.values())
        self._execute(f"update projects set {assignments}, updated_at = ? where name = ? and ({differs})",
                      [*values, time.time(), name, *values])

    # ------------------------------------------------------------ workers

    def workers(self, project: str | None = None) -> list[WorkerRecord]:
        if project is None:
            return self._records_of(WorkerRecord, "select * from workers order by project, position", whole_table=True)
        return self._records_of(WorkerRecord, "select * from workers where project = ? order by position", [project])

    def save_worker(self, record: WorkerRecord) -> None:
        self.db["workers"].upsert(record.to_row(), pk=("project", "name"))

    def delete_worker(self, project: str, name: str) -> None:
        self._execute("delete from workers where project = ? and name = ?", [project, name])

    # ------------------------------------------------------------ counters

    def next_number(self, prefix: str) -> int:
        rows = self._rows("select next_number from counters where prefix = ?", [prefix])
        return rows[0]["next_number"] if rows else 1

    def claim_number(self, prefix: str, number: int) -> None:
        """Record that `number` is taken: the counter only ever moves forward."""
        self._execute(
            "insert into counters (prefix, next_number) values (?, ?) "
            "on conflict(prefix) do update set next_number = max(next_number, excluded.next_number)",
            [prefix, number + 1],
        )

    # ------------------------------------------------------------ sessions

    def sessions(
        self, *, project: str | None = None, include_terminated: bool = False
    ) -> list[SessionRecord]:
        clauses, params = [], []
        if project is not None:
            clauses.append("project = ?")
            params.append(project)
        if not include_terminated:
            clauses.append("phase != ?")
            params.append(Phase.TERMINATED.value)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        return self._records_of(SessionRecord, f"select * from sessions {where} order by project, kind = 'worker', "
                                               "number, id", params, whole_table=not clauses)

    def session(self, session_id: str) -> SessionRecord | None:
        rows = self._records_of(SessionRecord, "select * from sessions where id = ?", [session_id])
        return rows[0] if rows else None

    def save_session(self, record: SessionRecord) -> None:
        self.save_sessions([record])

    def save_sessions(self, records: Iterable[SessionRecord]) -> None:
        rows = [r.to_row() for r in records]
        if rows:
            self.db["sessions"].upsert_all(rows, pk="id")

    def update_session(self, session_id: str, **changes: Any) -> None:
        for key in ("spec", "argv"):
            if key in changes and changes[key] is not None and not isinstance(changes[key], str):
                changes[key] = json.dumps(changes[key], sort_keys=True)
        changes["updated_at"] = time.time()
        # Plain SQL: the row is known to exist, and this runs once per session per pass.
        assignments = ", ".join(f"{column} = ?" for column in changes)
        cursor = self._execute(f"update sessions set {assignments} where id = ?", [*changes.values(), session_id])
        if cursor.rowcount == 0:
            raise LookupError(f"no session {session_id!r} in the registry")

    # ------------------------------------------------------------ events

    def add_event(
        self,
        reason: str,
        message: str,
        *,
        project: str | None = None,
        session: str | None = None,
        warning: bool = False,
        at: float | None = None,
    ) -> None:
        self._execute(
            "insert into events (at, project, session, type, reason, message) values (?, ?, ?, ?, ?, ?)",
            [at if at is not None else time.time(), project, session, "Warning" if warning else "Normal", reason,
             message],
        )

    def events(
        self,
        *,
        project: str | None = None,
        session: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[EventRecord]:
        clauses, params = ["id > ?"], [after_id]
        if project is not None:
            clauses.append("project = ?")
            params.append(project)
        if session is not None:
            clauses.append("session = ?")
            params.append(session)
        sql = f"select * from events where {' and '.join(clauses)} order by id desc"
        if limit:
            sql += f" limit {int(limit)}"
        rows = self._rows(sql, params)
        return [EventRecord.from_row(r) for r in reversed(rows)]

    def events_after(self, after_id: int, *, limit: int, project: str | None = None) -> list[EventRecord]:
        """The next `limit` events after `after_id`, oldest first: a reader paging forward misses none."""
        clauses, params = ["id > ?"], [after_id]
        if project is not None:
            clauses.append("project = ?")
            params.append(project)
        rows = self._rows(f"select * from events where {' and '.join(clauses)} order by id limit {int(limit)}", params)
        return [EventRecord.from_row(r) for r in rows]

    # ------------------------------------------------------------ messages

    def messages(
        self, *, project: str | None = None, session: str | None = None, limit: int | None = None
    ) -> list[MessageRecord]:
        """Messages to or from `session` (or of `project`), oldest first."""
        return [MessageRecord.from_row(r) for r in messages.recent(self.conn, project=project, session=session,
                                                                   limit=limit)]


# ------------------------------------------------------------ retention (see reconcile/retention.py)
# Functions beside the class, not methods: the pruning is its own concern, run hourly by the controller.

PRUNE_BATCH = 1000  # rows per short write transaction (tens of ms), so a pass never waits long for the lock


def first_event_at_or_after(registry: Registry, cutoff: float) -> int | None:
    """The id of the oldest event recorded at or after `cutoff`, read in id order (ids grow with
    time, so this scans only the events older than `cutoff`: the ones about to go)."""
    row = registry.conn.execute("select id from events where at >= ? order by id limit 1", [cutoff]).fetchone()
    return int(row[0]) if row else None


def newest_events_start(registry: Registry, keep: int) -> int | None:
    """The id of the oldest of the newest `keep` events; None when there are no more than `keep`."""
    row = registry.conn.execute("select id from events order by id desc limit 1 offset ?", [max(keep, 1) - 1]).fetchone()
    return int(row[0]) if row else None


def prune_events_before(registry: Registry, first_kept: int, *, deadline: float | None = None) -> int:
    """Delete events with an id below `first_kept`, in batches; the newest event always stays, so an
    id is never handed out twice (SQLite reuses the highest rowid once it is deleted) and a reader
    resuming with Last-Event-ID never sees an old id again. Stops after the batch that passes
    `deadline` (time.monotonic()); the next call goes on. Returns how many went."""
    newest = registry.conn.execute("select max(id) from events").fetchone()[0]
    if newest is None:
        return 0
    return _delete_in_batches(registry, "delete from events where id in (select id from events where id < ? "
                                        "order by id limit ?)", min(first_kept, int(newest)), deadline=deadline)


def terminated_sessions_before(registry: Registry, cutoff: float) -> list[str]:
    """IDs of sessions terminated before `cutoff`."""
    rows = registry.conn.execute("select id from sessions where phase = ? and terminated_at < ? order by id",
                                 [Phase.TERMINATED.value, cutoff]).fetchall()
    return [row[0] for row in rows]


def delete_terminated_sessions(registry: Registry, session_ids: list[str]) -> list[str]:
    """Delete these session rows if they are still terminated (a pass may have brought one back, an
    orchestrator's ID is reused); returns the IDs deleted."""
    deleted: list[str] = []
    for start in range(0, len(session_ids), PRUNE_BATCH):
        chunk = session_ids[start:start + PRUNE_BATCH]
        marks = ", ".join("?" for _ in chunk)
        with registry.transaction():
            rows = registry.conn.execute(f"delete from sessions where phase = ? and id in ({marks}) returning id",
                                         [Phase.TERMINATED.value, *chunk]).fetchall()
        deleted += [row[0] for row in rows]
    return deleted


def _delete_in_batches(registry: Registry, sql: str, *params: Any, deadline: float | None = None) -> int:
    total = 0
    while True:
        with registry.transaction():
            count = registry.conn.execute(sql, [*params, PRUNE_BATCH]).rowcount
        total += count
        if count < PRUNE_BATCH or (deadline is not None and time.monotonic() > deadline):
            return total
