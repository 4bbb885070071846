"""The SQLite registry (`Registry.open` on a temp file): schema, counters, sessions, events, transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from reconciler.registry import (
    EventRecord,
    ProjectRecord,
    Registry,
    SessionRecord,
    WorkerRecord,
    store,
)
from reconciler.registry.migrations import migrations
from reconciler.registry.records import Kind, Phase

TABLES = {"projects", "counters", "workers", "sessions", "events"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ao.db"


@pytest.fixture
def registry(db_path: Path) -> Iterator[Registry]:
    reg = Registry.open(db_path)
    yield reg
    reg.close()


def session(session_id: str, *, project: str = "shop", number: int | None = None, kind: str = Kind.WORKER,
            phase: str = Phase.RUNNING, **fields: object) -> SessionRecord:
    return SessionRecord(id=session_id, project=project, kind=kind, phase=phase, number=number, **fields)


def orchestrator(project: str = "shop", phase: str = Phase.RUNNING) -> SessionRecord:
    return session(f"{project}-orchestrator", project=project, kind=Kind.ORCHESTRATOR, phase=phase)


def run_in_threads(*bodies: Callable[[], None]) -> None:
    """Run each body in its own thread; re-raise the first error any of them raised."""
    errors: list[BaseException] = []

    def guarded(body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)  # a safety net against a hang, not synchronisation
        assert not thread.is_alive(), "a writer thread hung"
    if errors:
        raise errors[0]


# ====================================================================== opening and migrations


def test_open_creates_the_file_its_folder_and_all_tables(db_path: Path) -> None:
    assert not db_path.parent.exists()

    reg = Registry.open(db_path)

    assert db_path.is_file()
    assert TABLES <= set(reg.db.table_names())
    reg.close()


def test_open_uses_wal_journal_mode_and_a_busy_timeout(registry: Registry, db_path: Path) -> None:
    assert registry.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.BUSY_TIMEOUT_SECONDS >= 5  # long enough to outlast another process's short transaction
    assert registry.db.execute("PRAGMA busy_timeout").fetchone()[0] == int(store.BUSY_TIMEOUT_SECONDS * 1000)
    # WAL is a property of the file: a plain connection sees it too.
    with sqlite3.connect(db_path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_version_is_the_number_of_migrations(registry: Registry) -> None:
    every_migration = migrations.pending(Database(memory=True))

    assert len(every_migration) >= 1
    assert registry.schema_version == len(every_migration)
    assert migrations.pending(registry.db) == []
    assert [m.name for m in migrations.applied(registry.db)] == [m.name for m in every_migration]


def test_reopening_does_not_rerun_migrations(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Registry.open(db_path)
    first.save_session(session("shop-1", number=1))
    applied_before = migrations.applied(first.db)
    first.close()

    def must_not_run(db: Database) -> None:
        raise AssertionError("migrations were applied again on reopen")

    monkeypatch.setattr(migrations, "apply", must_not_run)
    again = Registry.open(db_path)

    assert migrations.applied(again.db) == applied_before  # same names, same applied_at
    assert again.schema_version == len(applied_before)
    assert [s.id for s in again.sessions()] == ["shop-1"]  # data survived, tables were not recreated
    again.close()


# ====================================================================== counters


def test_next_number_starts_at_one(registry: Registry) -> None:
    assert registry.next_number("shop") == 1


def test_claim_number_only_moves_forward(registry: Registry) -> None:
    registry.claim_number("shop", 1)
    assert registry.next_number("shop") == 2

    registry.claim_number("shop", 5)
    assert registry.next_number("shop") == 6

    registry.claim_number("shop", 3)  # an older number must not move the counter back
    assert registry.next_number("shop") == 6

    registry.claim_number("shop", 5)  # nor does claiming the same number again
    assert registry.next_number("shop") == 6


def test_counters_are_per_prefix_and_persist(registry: Registry, db_path: Path) -> None:
    registry.claim_number("shop", 7)
    registry.claim_number("blog", 2)

    assert (registry.next_number("shop"), registry.next_number("blog"), registry.next_number("other")) == (8, 3, 1)
    reopened = Registry.open(db_path)
    assert (reopened.next_number("shop"), reopened.next_number("blog")) == (8, 3)
    reopened.close()


# ====================================================================== sessions


def test_save_session_round_trips_every_field_including_json(registry: Registry) -> None:
    record = SessionRecord(
        id="shop-3",
        project="shop",
        kind=Kind.WORKER,
        phase=Phase.CRASH_LOOP,
        worker="login-bug",
        number=3,
        runtime="tmux",
        spec={"prompt": "Fix it", "agent": {"command": ["claude", "--yolo"], "env": {"A": "1"}}, "issue": "123"},
        spec_hash="abc123",
        restart_policy="OnFailure",
        reason="BackOff",
        message="exited with code 1",
        restarts=4,
        exit_code=1,
        exit_signal=None,
        backoff_step=2,
        quick_failures=3,
        next_retry_at=1700000060.5,
        started_at=1700000000.25,
        pid=4242,
        branch="ao/shop-3",
        workspace="/tmp/worktrees/shop-3",
        argv=["claude", "--yolo", "it's \"quoted\""],
        created_at=1699999999.0,
        last_transition_at=1700000001.0,
        terminated_at=None,
        updated_at=1700000002.0,
    )

    registry.save_session(record)

    assert registry.session("shop-3") == record
    assert registry.sessions() == [record]


def test_empty_json_fields_round_trip(registry: Registry) -> None:
    record = session("shop-1", number=1, spec={}, argv=[])

    registry.save_session(record)

    loaded = registry.session("shop-1")
    assert loaded is not None
    assert (loaded.spec, loaded.argv) == ({}, [])


def test_unknown_session_is_none(registry: Registry) -> None:
    assert registry.session("nope") is None


def test_save_session_again_replaces_the_row(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1, phase=Phase.PENDING, argv=["a"]))
    registry.save_session(session("shop-1", number=1, phase=Phase.RUNNING, argv=["b"], pid=7))

    [loaded] = registry.sessions()
    assert (loaded.phase, loaded.argv, loaded.pid) == (Phase.RUNNING, ["b"], 7)


def test_update_session_changes_only_the_given_fields_and_stamps_updated_at(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1, worker="w", branch="ao/shop-1", spec={"v": 1}, argv=["old"]))
    before = time.time()

    registry.update_session("shop-1", phase=Phase.FAILED, exit_code=2, spec={"v": 2, "nested": [1, 2]},
                            argv=["new", "argv"])

    loaded = registry.session("shop-1")
    assert loaded is not None
    assert (loaded.phase, loaded.exit_code) == (Phase.FAILED, 2)
    assert loaded.spec == {"v": 2, "nested": [1, 2]}
    assert loaded.argv == ["new", "argv"]
    assert (loaded.worker, loaded.branch, loaded.number) == ("w", "ao/shop-1", 1)  # untouched
    assert loaded.updated_at is not None and loaded.updated_at >= before


def test_update_session_can_clear_a_json_field(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1, argv=["x"]))

    registry.update_session("shop-1", argv=None)

    loaded = registry.session("shop-1")
    assert loaded is not None and loaded.argv is None


def test_update_of_an_unknown_session_fails_and_creates_nothing(registry: Registry) -> None:
    with pytest.raises(Exception):  # sqlite_utils' NotFoundError
        registry.update_session("ghost", phase=Phase.RUNNING)

    assert registry.session("ghost") is None
    assert registry.sessions(include_terminated=True) == []


def test_sessions_are_ordered_by_project_then_orchestrator_then_number(registry: Registry) -> None:
    # Saved out of order on purpose; "shop-10" sorts before "shop-2" as text, but not as a number.
    for record in (
        session("shop-10", number=10),
        session("blog-1", project="blog", number=1),
        session("shop-2", number=2),
        orchestrator("shop"),
        session("shop-1", number=1),
        orchestrator("blog"),
    ):
        registry.save_session(record)

    assert [s.id for s in registry.sessions()] == [
        "blog-orchestrator",
        "blog-1",
        "shop-orchestrator",
        "shop-1",
        "shop-2",
        "shop-10",
    ]


def test_sessions_filter_by_project(registry: Registry) -> None:
    registry.save_session(orchestrator("shop"))
    registry.save_session(session("shop-1", number=1))
    registry.save_session(session("blog-1", project="blog", number=1))

    assert [s.id for s in registry.sessions(project="shop")] == ["shop-orchestrator", "shop-1"]
    assert [s.id for s in registry.sessions(project="blog")] == ["blog-1"]
    assert registry.sessions(project="nope") == []


def test_terminated_sessions_are_hidden_unless_asked_for(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1, phase=Phase.TERMINATED))
    registry.save_session(session("shop-2", number=2, phase=Phase.FAILED))
    registry.save_session(session("shop-3", number=3, phase=Phase.TERMINATING))
    registry.save_session(session("blog-1", project="blog", number=1, phase=Phase.TERMINATED))

    assert [s.id for s in registry.sessions()] == ["shop-2", "shop-3"]
    assert [s.id for s in registry.sessions(include_terminated=True)] == ["blog-1", "shop-1", "shop-2", "shop-3"]
    assert [s.id for s in registry.sessions(project="shop", include_terminated=True)] == [
        "shop-1", "shop-2", "shop-3",
    ]
    assert [s.active for s in registry.sessions(include_terminated=True)] == [False, False, True, True]


def test_a_session_updated_to_terminated_disappears_from_the_default_listing(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1))

    registry.update_session("shop-1", phase=Phase.TERMINATED, terminated_at=123.0)

    assert registry.sessions() == []
    [gone] = registry.sessions(include_terminated=True)
    assert (gone.phase, gone.terminated_at) == (Phase.TERMINATED, 123.0)


# ====================================================================== events


@pytest.fixture
def with_events(registry: Registry) -> Registry:
    registry.add_event("Applied", "project shop applied", project="shop", at=100.0)
    registry.add_event("Created", "session shop-1 created", project="shop", session="shop-1", at=101.0)
    registry.add_event("Created", "session blog-1 created", project="blog", session="blog-1", at=102.0)
    registry.add_event("Crashed", "shop-1 exited with 1", project="shop", session="shop-1", warning=True, at=103.0)
    registry.add_event("Restarted", "shop-1 restarted", project="shop", session="shop-1", at=104.0)
    registry.add_event("Daemon", "daemon started", at=105.0)
    return registry


def test_events_come_back_oldest_first_with_their_fields(with_events: Registry) -> None:
    events = with_events.events()

    assert [e.reason for e in events] == ["Applied", "Created", "Created", "Crashed", "Restarted", "Daemon"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert len({e.id for e in events}) == 6
    crashed = events[3]
    assert isinstance(crashed, EventRecord)
    assert (crashed.type, crashed.at, crashed.project, crashed.session, crashed.message) == (
        "Warning", 103.0, "shop", "shop-1", "shop-1 exited with 1",
    )
    assert {e.type for e in events if e.reason != "Crashed"} == {"Normal"}
    assert (events[-1].project, events[-1].session) == (None, None)


def test_event_time_defaults_to_now(registry: Registry) -> None:
    before = time.time()
    registry.add_event("Tick", "now")

    [event] = registry.events()
    assert before <= event.at <= time.time()


def test_events_limit_keeps_the_most_recent_in_chronological_order(with_events: Registry) -> None:
    assert [e.reason for e in with_events.events(limit=2)] == ["Restarted", "Daemon"]
    assert len(with_events.events(limit=100)) == 6


def test_events_after_id(with_events: Registry) -> None:
    ids = [e.id for e in with_events.events()]

    assert [e.id for e in with_events.events(after_id=ids[3])] == ids[4:]
    assert with_events.events(after_id=ids[-1]) == []


def test_events_filter_by_project_and_session(with_events: Registry) -> None:
    assert [e.reason for e in with_events.events(project="shop")] == ["Applied", "Created", "Crashed", "Restarted"]
    assert [e.reason for e in with_events.events(project="blog")] == ["Created"]
    assert [e.reason for e in with_events.events(session="shop-1")] == ["Created", "Crashed", "Restarted"]
    assert with_events.events(project="blog", session="shop-1") == []
    assert [e.reason for e in with_events.events(project="shop", session="shop-1", limit=2)] == [
        "Crashed", "Restarted",
    ]


def test_filters_and_after_id_combine(with_events: Registry) -> None:
    first_shop_1 = with_events.events(session="shop-1")[0]

    assert [e.reason for e in with_events.events(project="shop", after_id=first_shop_1.id)] == [
        "Crashed", "Restarted",
    ]


# ====================================================================== transactions


def fill(reg: Registry) -> None:
    """One write of every kind."""
    reg.save_project(ProjectRecord(name="shop", prefix="shop", spec={"repo": "/r"}, spec_hash="h", generation=1))
    reg.save_worker(WorkerRecord(project="shop", name="w", owner="manifest", spec={"prompt": "p"}, position=0))
    reg.claim_number("shop", 1)
    reg.save_session(session("shop-1", number=1))
    reg.add_event("Created", "created", project="shop")


def is_empty(reg: Registry) -> bool:
    return (
        reg.projects(include_deleted=True) == []
        and reg.workers() == []
        and reg.next_number("shop") == 1
        and reg.sessions(include_terminated=True) == []
        and reg.events() == []
    )


def test_transaction_commits_every_write(registry: Registry, db_path: Path) -> None:
    with registry.transaction() as reg:
        assert reg is registry
        fill(reg)

    other = Registry.open(db_path)
    assert [p.name for p in other.projects()] == ["shop"]
    assert [w.name for w in other.workers("shop")] == ["w"]
    assert other.next_number("shop") == 2
    assert [s.id for s in other.sessions()] == ["shop-1"]
    assert [e.reason for e in other.events()] == ["Created"]
    other.close()


def test_transaction_rolls_back_everything_on_an_exception(registry: Registry) -> None:
    boom = RuntimeError("boom")

    with pytest.raises(RuntimeError) as caught:
        with registry.transaction():
            fill(registry)
            registry.update_session("shop-1", phase=Phase.FAILED)
            raise boom

    assert caught.value is boom  # the original error, not a rollback failure
    assert is_empty(registry)
    assert not registry.db.conn.in_transaction


def test_rollback_keeps_what_was_committed_before(registry: Registry) -> None:
    registry.save_session(session("shop-1", number=1, phase=Phase.RUNNING))

    with pytest.raises(KeyError):
        with registry.transaction():
            registry.update_session("shop-1", phase=Phase.FAILED)
            registry.save_session(session("shop-2", number=2))
            raise KeyError("x")

    assert [(s.id, s.phase) for s in registry.sessions()] == [("shop-1", Phase.RUNNING)]


def test_registry_is_usable_after_a_rollback(registry: Registry) -> None:
    with pytest.raises(ValueError):
        with registry.transaction():
            registry.claim_number("shop", 9)
            raise ValueError

    with registry.transaction():
        registry.claim_number("shop", 1)

    assert registry.next_number("shop") == 2


def test_nested_transaction_joins_the_outer_one(registry: Registry) -> None:
    with pytest.raises(RuntimeError):
        with registry.transaction():
            registry.save_session(session("shop-1", number=1))
            with registry.transaction():
                registry.save_session(session("shop-2", number=2))
            registry.add_event("X", "y")
            raise RuntimeError

    assert is_empty(registry)


def test_uncommitted_writes_are_invisible_to_other_connections(registry: Registry, db_path: Path) -> None:
    reader = Registry.open(db_path)

    with registry.transaction():
        registry.save_session(session("shop-1", number=1))
        assert reader.session("shop-1") is None  # WAL: a reader is not blocked and sees the last commit

    assert reader.session("shop-1") is not None
    reader.close()


# ====================================================================== concurrency


def test_a_writer_waits_for_the_lock_instead_of_failing(registry: Registry, db_path: Path) -> None:
    waiting = Registry.open(db_path)
    tried = threading.Event()
    # The trace callback runs when a statement starts, before SQLite asks for the lock.
    waiting.db.conn.set_trace_callback(lambda sql: tried.set() if "BEGIN IMMEDIATE" in sql else None)

    def second_writer() -> None:
        with waiting.transaction():
            waiting.save_session(session("shop-2", number=2))

    with registry.transaction():
        registry.save_session(session("shop-1", number=1))
        errors: list[BaseException] = []
        thread = threading.Thread(target=_capture, args=(second_writer, errors))
        thread.start()
        assert tried.wait(timeout=30), "the second writer never started its transaction"
        # Leaving the block commits and releases the lock while the second writer is waiting for it.

    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    assert [s.id for s in registry.sessions()] == ["shop-1", "shop-2"]
    waiting.close()


def _capture(body: Callable[[], None], errors: list[BaseException]) -> None:
    try:
        body()
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)


def test_two_registries_writing_concurrently_lose_nothing(registry: Registry, db_path: Path) -> None:
    per_thread = 40
    start = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def writer(name: str) -> Callable[[], None]:
        def body() -> None:
            reg = Registry.open(db_path)  # its own connection, as another process would have
            start.wait(timeout=30)
            for i in range(per_thread):
                with reg.transaction():
                    number = reg.next_number("shop")
                    reg.claim_number("shop", number)
                    reg.save_session(session(f"shop-{number}", number=number, worker=f"{name}-{i}"))
                    reg.add_event("Created", f"{name} {i}", project="shop", session=f"shop-{number}")
                claimed[name].append(number)
            reg.close()

        return body

    run_in_threads(writer("a"), writer("b"))

    total = 2 * per_thread
    numbers = claimed["a"] + claimed["b"]
    assert sorted(numbers) == list(range(1, total + 1))  # no number handed out twice, none skipped
    sessions = registry.sessions()
    assert len(sessions) == total
    assert {s.worker for s in sessions} == {f"{n}-{i}" for n in "ab" for i in range(per_thread)}
    assert len(registry.events(project="shop")) == total
    assert registry.next_number("shop") == total + 1


def test_concurrent_first_open_of_an_existing_registry(registry: Registry, db_path: Path) -> None:
    opened: list[Registry] = []
    start = threading.Barrier(4)

    def opener() -> None:
        start.wait(timeout=30)
        opened.append(Registry.open(db_path))

    run_in_threads(*[opener] * 4)

    assert [r.schema_version for r in opened] == [registry.schema_version] * 4
    assert len(migrations.applied(registry.db)) == registry.schema_version
    for reg in opened:
        reg.close()


def test_open_of_a_new_database_waits_for_a_concurrent_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ao.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE creating (x)")  # another process is creating the database...
    holder.execute("BEGIN IMMEDIATE")  # ...and holds the write lock, still in rollback-journal mode
    monkeypatch.setattr(store, "BUSY_TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()

    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            Registry.open(path)  # the holder never lets go, so this must fail - but only after waiting
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert waited >= 0.25, f"gave up after {waited:.3f}s instead of waiting for the 0.3s busy timeout"


def test_open_of_a_new_database_proceeds_once_the_concurrent_writer_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ao.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE creating (x)")
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(store, "BUSY_TIMEOUT_SECONDS", 10.0)
    release = threading.Timer(0.2, lambda: (holder.execute("COMMIT"), holder.close()))
    started = time.monotonic()
    release.start()

    try:
        registry = Registry.open(path)
        waited = time.monotonic() - started
    finally:
        release.join()

    try:
        assert 0.15 <= waited < 5, f"opened after {waited:.3f}s; expected to wait for the writer (~0.2s)"
        assert registry.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert len(migrations.applied(registry.db)) == registry.schema_version
    finally:
        registry.close()


def test_private_files_can_be_written_by_several_launches_at_once(tmp_path) -> None:
    import threading

    from reconciler.paths import write_private

    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(50):
                write_private(tmp_path / "tmux.conf", f"config {n}\n")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (tmp_path / "tmux.conf").read_text().startswith("config ")
    assert (tmp_path / "tmux.conf").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tmux.conf"]  # no temporary file left behind


def test_opening_the_registry_again_keeps_this_process_s_locks(db_path: Path) -> None:
    # Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's too:
    # Registry.open's private_file (ao serve opens two registries) must not open an existing file.
    import subprocess
    import sys

    db_path.parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(db_path, isolation_level=None)  # rollback journal: a write lock is a file lock
    holder.execute("create table t (x)")
    holder.execute("begin immediate")
    from reconciler.paths import private_file

    private_file(db_path)
    probe = ("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
             "try:\n    c.execute('begin immediate')\nexcept sqlite3.OperationalError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(db_path)], capture_output=True, text=True, timeout=30)
    holder.execute("rollback")
    assert out.stdout.strip() == "database is locked", out


# ====================================================================== reads at rest


def test_reads_are_served_again_until_the_database_may_read_differently(registry: Registry, db_path: Path) -> None:
    registry.save_session(session("shop-1", number=1))
    selects: list[str] = []
    registry.conn.set_trace_callback(lambda sql: selects.append(sql) if sql.lstrip().lower().startswith("select") else None)
    first = registry.sessions()
    assert [r.id for r in first] == ["shop-1"] and len(selects) == 1
    again = registry.sessions()
    assert again == first and again is not first and len(selects) == 1  # nothing changed: not read again
    # Another connection commits (another ao process, an agent's hook): read again and see it.
    other = Registry.open(db_path)
    other.save_session(session("shop-2", number=2))
    other.close()
    assert [r.id for r in registry.sessions()] == ["shop-1", "shop-2"]
    # This connection changes a row: read again too.
    registry.update_session("shop-1", phase=Phase.FAILED)
    assert registry.sessions()[0].phase == Phase.FAILED
