"""Retention (reconcile/retention.py) on a real SQLite registry and real folders: what goes, what always stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.activity import store as activity_store
from reconciler.activity.model import Activity, Reading
from reconciler.errors import UsageError
from reconciler.paths import DataDir
from reconciler.reconcile import retention
from reconciler.reconcile.service import Service
from reconciler.registry import messages
from reconciler.registry.messages import MessageState
from reconciler.registry.records import Kind, Phase, SessionRecord
from reconciler.registry.store import PRUNE_BATCH
from reconciler.runtime.base import Observed
from reconciler.runtime.memory import MemoryRuntime

NOW = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture
def runtime() -> MemoryRuntime:
    return MemoryRuntime()


@pytest.fixture
def ao(tmp_path: Path, runtime: MemoryRuntime):
    service = Service(DataDir.resolve(tmp_path / "data"), runtime=runtime, clock=lambda: NOW, on_wait=lambda _: None)
    yield service
    service.close()


def add_events(ao: Service, count: int, at: float) -> None:
    with ao.registry.transaction():
        for n in range(count):
            ao.registry.add_event("Tick", f"event {n}", project="shop", at=at)


def event_ids(ao: Service) -> list[int]:
    return [row[0] for row in ao.registry.conn.execute("select id from events order by id")]


def test_events_older_than_the_age_go_and_recent_ones_stay(ao: Service) -> None:
    add_events(ao, 30, NOW - 15 * DAY)
    add_events(ao, 20, NOW - 13 * DAY)
    kept = event_ids(ao)[30:]

    assert retention.prune(ao).events == 30
    assert event_ids(ao) == kept


def test_the_newest_event_always_stays_so_no_id_is_handed_out_twice(ao: Service) -> None:
    add_events(ao, 10, NOW - 30 * DAY)
    newest = event_ids(ao)[-1]

    assert retention.prune(ao).events == 9
    assert event_ids(ao) == [newest]
    add_events(ao, 1, NOW)
    assert event_ids(ao) == [newest, newest + 1]  # SQLite would reuse ids had the newest row gone


def test_the_cap_keeps_the_newest_events_across_several_batches(ao: Service) -> None:
    retention.update(ao.data_dir, max_events="1000")
    add_events(ao, 2 * PRUNE_BATCH + 345, NOW)
    kept = event_ids(ao)[-1000:]

    assert retention.prune(ao).events == 2 * PRUNE_BATCH + 345 - 1000
    assert event_ids(ao) == kept


def test_never_keeps_every_event(ao: Service) -> None:
    retention.update(ao.data_dir, events="never", max_events="none")
    add_events(ao, 5, NOW - 400 * DAY)

    assert retention.prune(ao).events == 0
    assert len(event_ids(ao)) == 5


def message(ao: Service, state: MessageState, at: float) -> int:
    with ao.registry.transaction():
        return messages.record(ao.registry.conn, target="shop-1", project="shop", body="hi", sender=None,
                               state=state, at=at)


def test_old_finished_messages_go_and_waiting_ones_stay_however_old(ao: Service) -> None:
    old = NOW - 20 * DAY
    gone = [message(ao, state, old) for state in (MessageState.DELIVERED, MessageState.SUBMITTED,
                                                  MessageState.FAILED, MessageState.REJECTED,
                                                  MessageState.UNCONFIRMED)]
    waiting = [message(ao, MessageState.QUEUED, old), message(ao, MessageState.DELIVERING, old)]
    recent = message(ao, MessageState.DELIVERED, NOW - DAY)

    assert retention.prune(ao).messages == len(gone)
    left = [row[0] for row in ao.registry.conn.execute("select id from messages order by id")]
    assert left == [*waiting, recent]


def test_the_newest_message_stays_even_when_old(ao: Service) -> None:
    ids = [message(ao, MessageState.DELIVERED, NOW - 20 * DAY) for _ in range(3)]

    assert retention.prune(ao).messages == 2
    assert [row[0] for row in ao.registry.conn.execute("select id from messages")] == ids[-1:]


def session(ao: Service, session_id: str, phase: str, *, ended_days_ago: float | None = None,
            kind: str = Kind.WORKER) -> Path:
    terminated_at = NOW - ended_days_ago * DAY if ended_days_ago is not None else None
    ao.registry.save_session(SessionRecord(id=session_id, project="shop", kind=kind, phase=phase,
                                           terminated_at=terminated_at))
    with ao.registry.transaction():
        activity_store.record(ao.registry.conn, session_id, Reading(Activity.IDLE, source="screen"), NOW - 10 * DAY)
    folder = ao.data_dir.session_dir(session_id)
    folder.mkdir(parents=True)
    (folder / "prompt.md").write_text("x" * 1000)
    return folder


def test_terminated_sessions_go_with_their_folder_and_activity_after_the_age(ao: Service) -> None:
    old = session(ao, "shop-1", Phase.TERMINATED, ended_days_ago=8)
    recent = session(ao, "shop-2", Phase.TERMINATED, ended_days_ago=6)
    running = session(ao, "shop-3", Phase.RUNNING, ended_days_ago=30)  # a relaunched row keeps its old end time
    failed = session(ao, "shop-4", Phase.FAILED)

    pruned = retention.prune(ao)

    assert (pruned.sessions, pruned.folders, pruned.folder_bytes) == (1, 1, 1000)
    assert ao.registry.session("shop-1") is None and not old.exists()
    assert activity_store.load(ao.registry.conn, "shop-1") is None
    for sid, folder in (("shop-2", recent), ("shop-3", running), ("shop-4", failed)):
        assert ao.registry.session(sid) is not None and folder.is_dir()
        assert activity_store.load(ao.registry.conn, sid) is not None


def test_a_session_the_runtime_still_shows_is_left_alone_whatever_its_row_says(ao: Service,
                                                                             runtime: MemoryRuntime) -> None:
    folder = session(ao, "shop-orchestrator", Phase.TERMINATED, ended_days_ago=9, kind=Kind.ORCHESTRATOR)
    runtime.add_foreign(Observed("shop-orchestrator", alive=True, pid=123))

    assert retention.prune(ao).sessions == 0
    assert ao.registry.session("shop-orchestrator") is not None and folder.is_dir()


def test_a_folder_without_a_row_is_never_removed(ao: Service) -> None:
    # A lost registry's sessions may still run and be adopted: their folders stay.
    orphan = ao.data_dir.session_dir("shop-9")
    orphan.mkdir(parents=True)

    retention.prune(ao)
    assert orphan.is_dir()


def test_prune_when_due_runs_at_most_once_an_hour(ao: Service) -> None:
    add_events(ao, 3, NOW - 20 * DAY)
    assert retention.prune_when_due(ao, NOW).events == 2
    add_events(ao, 3, NOW - 20 * DAY)

    assert retention.prune_when_due(ao, NOW + retention.PRUNE_EVERY_SECONDS - 1) is None
    assert len(event_ids(ao)) == 4
    assert retention.prune_when_due(ao, NOW + retention.PRUNE_EVERY_SECONDS).events == 3
    assert retention.last_prune(ao.data_dir)["at"] == NOW + retention.PRUNE_EVERY_SECONDS


def test_the_policy_is_the_data_dirs_setting_and_bad_values_change_nothing(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data")
    assert retention.load(data_dir) == retention.Policy("14d", 100_000, "14d", "7d")
    retention.update(data_dir, events="30d", sessions="36h")
    for bad in ({"events": "3x"}, {"sessions": "0d"}, {"messages_age": "-1d"}, {"max_events": "0"},
                {"max_events": "lots", "events": "1d"}):
        with pytest.raises(UsageError):
            retention.update(data_dir, **bad)
    assert retention.load(data_dir) == retention.Policy("30d", 100_000, "14d", "36h")
    assert retention.parse_age("2w") == 14 * DAY and retention.parse_age("90m") == 5400
    assert retention.parse_age("never") is None


def test_a_hand_edited_policy_falls_back_to_the_defaults_key_by_key(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data").ensure()
    (data_dir.root / retention.SETTINGS_FILE).write_text(json.dumps({"events": "soon", "maxEvents": -3,
                                                                     "messages": "2d", "sessions": 7}))
    assert retention.load(data_dir) == retention.Policy("14d", 100_000, "2d", "7d")


def test_a_backlog_is_worked_off_over_several_wakes_within_the_budget(ao: Service) -> None:
    add_events(ao, 3 * PRUNE_BATCH, NOW - 20 * DAY)
    session(ao, "shop-1", Phase.TERMINATED, ended_days_ago=8)

    first = retention.prune_when_due(ao, NOW, budget=0)  # one batch, then the budget is spent
    assert (first.events, first.sessions, first.complete) == (PRUNE_BATCH, 0, False)
    assert retention.last_prune(ao.data_dir)["complete"] is False
    second = retention.prune_when_due(ao, NOW + 1, budget=0)  # not done: due again at once
    assert second is not None and second.events == PRUNE_BATCH
    last = retention.prune_when_due(ao, NOW + 2, budget=None)
    assert (last.events, last.sessions, last.complete) == (PRUNE_BATCH - 1, 1, True)
    assert retention.prune_when_due(ao, NOW + 3) is None
