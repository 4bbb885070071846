"""The capacity rule of the planner: limits, memory, start order and keeping one's place.

Worlds are built by hand with the builders of test_plan; nothing touches disk or a multiplexer.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.reconcile.capacity import Capacity, Memory
from reconciler.reconcile.limits import parse_max_running, reserve_bytes
from reconciler.reconcile.memory import machine_memory, tree_rss
from reconciler.reconcile.plan import BlockReason, Verb, World, plan
from reconciler.registry.records import Kind, Phase
from reconciler.wording import MIB, size
from tests.unit.test_plan import NOW, dead, desired, find, live, proj, record, wk, world

GIB = 1024 * MIB


def six(limit: int | None = 3, *, orchestrator: bool = True) -> tuple:
    project = proj(orchestrator=orchestrator)
    if limit is not None:
        project = dataclasses.replace(project, spec={**project.spec, "limits": {"maxRunningWorkers": limit}})
    return desired([project], [wk("shop", f"w{i}", i) for i in range(1, 7)])


def with_capacity(w: World, **kwargs: object) -> World:
    return dataclasses.replace(w, capacity=Capacity(**kwargs))  # type: ignore[arg-type]


def by_verb(actions, verb: Verb) -> list[str]:
    return [a.session_id for a in actions if a.verb == verb]


def test_a_project_limit_starts_the_orchestrator_and_the_first_workers_in_declaration_order() -> None:
    dps = six(3)
    actions = plan(world(dps))
    assert by_verb(actions, Verb.CREATE) == ["shop-orchestrator", "shop-1", "shop-2", "shop-3"]
    queued = [a for a in actions if a.verb == Verb.QUEUE]
    assert [a.worker for a in queued] == ["w4", "w5", "w6"]
    assert all(a.block == BlockReason.CAPACITY and not a.quiet for a in queued)
    assert "runs 3 of at most 3 workers (spec.limits.maxRunningWorkers); 0 ahead of it" in queued[0].reason
    assert queued[2].reason.endswith("2 ahead of it")
    assert [a.number for a in queued] == [4, 5, 6]  # spawn order is kept by their numbers


def _three_running_three_waiting(dps, *, gone: str | None = None):
    records, lives = [record(find(dps, "shop"), "shop-orchestrator")], [live(find(dps, "shop"), "shop-orchestrator")]
    for i in range(1, 7):
        ds, sid = find(dps, "shop", f"w{i}"), f"shop-{i}"
        if i <= 3:
            records.append(record(ds, sid))
            if sid != gone:
                lives.append(live(ds, sid))
        else:
            ahead = i - 4
            records.append(record(ds, sid, phase=Phase.PENDING, reason="Capacity", started_at=None, pid=None,
                                  message="waiting for capacity: project shop runs 3 of at most 3 workers "
                                          f"(spec.limits.maxRunningWorkers); {ahead} ahead of it"))
    return records, lives


def test_waiting_workers_stay_put_quietly_while_the_running_ones_run() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    actions = plan(world(dps, records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.WAIT) == ["shop-4", "shop-5", "shop-6"]
    assert all(a.block == BlockReason.CAPACITY for a in actions)
    assert not [a for a in actions if a.verb != Verb.WAIT]


def test_a_worker_that_finishes_makes_room_for_the_next_in_order() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    lives = [dead(find(dps, "shop", "w2"), "shop-2", status=0) if l.session_id == "shop-2" else l for l in lives]
    actions = plan(world(dps, records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.EXITED) == ["shop-2"]
    assert by_verb(actions, Verb.CREATE) == ["shop-4"]
    start = next(a for a in actions if a.session_id == "shop-4")
    assert start.reason == "started once there was room for it"
    # The two still waiting move up: their words change, without a new event.
    queued = [a for a in actions if a.verb == Verb.QUEUE]
    assert [(a.session_id, a.quiet, a.reason.rpartition("; ")[2]) for a in queued] == [
        ("shop-5", True, "0 ahead of it"), ("shop-6", True, "1 ahead of it")]


def test_a_stopped_or_reaped_worker_makes_room() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps, gone="shop-1")
    records = [dataclasses.replace(r, phase=Phase.STOPPED, reason="StoppedByUser") if r.id == "shop-1" else r
               for r in records]
    assert by_verb(plan(world(dps, records, lives, {"shop": 7})), Verb.CREATE) == ["shop-4"]
    # w3 no longer declared: reaped, and its place goes to the next one waiting.
    fewer = desired([dataclasses.replace(proj(), spec={**proj().spec, "limits": {"maxRunningWorkers": 3}})],
                    [wk("shop", f"w{i}", i) for i in (1, 2, 4, 5, 6)])
    records, lives = _three_running_three_waiting(dps)
    actions = plan(world(fewer, records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.REAP) == ["shop-3"]
    assert by_verb(actions, Verb.CREATE) == ["shop-4"]


def test_a_crashed_worker_keeps_its_place_over_those_waiting() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    lives = [dead(find(dps, "shop", "w1"), "shop-1", status=1) if l.session_id == "shop-1" else l for l in lives]
    actions = plan(world(dps, records, lives, {"shop": 7}))
    assert {a.session_id: a.verb for a in actions if a.session_id == "shop-1"}["shop-1"] in (Verb.RELAUNCH, Verb.BACKOFF)
    assert not by_verb(actions, Verb.CREATE)
    # Later, its back-off elapsed: relaunched although the project is full, still nobody else starts.
    records = [dataclasses.replace(r, phase=Phase.PENDING, reason="BackOff", next_retry_at=NOW - 1)
               if r.id == "shop-1" else r for r in records]
    actions = plan(world(dps, records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.RELAUNCH) == ["shop-1"]
    assert not by_verb(actions, Verb.CREATE)


def test_a_spec_change_recreates_running_workers_in_place() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    changed = desired([dataclasses.replace(proj(agent={"command": ["sleep", "9"]}),
                                           spec={**proj(agent={"command": ["sleep", "9"]}).spec,
                                                 "limits": {"maxRunningWorkers": 3}})],
                      [wk("shop", f"w{i}", i) for i in range(1, 7)])
    actions = plan(world(changed, records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.RECREATE) == ["shop-orchestrator", "shop-1", "shop-2", "shop-3"]
    assert not by_verb(actions, Verb.CREATE)


def test_raising_the_limit_starts_the_rest() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    actions = plan(world(six(None), records, lives, {"shop": 7}))
    assert by_verb(actions, Verb.CREATE) == ["shop-4", "shop-5", "shop-6"]


def test_lowering_the_limit_never_stops_a_running_worker() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    actions = plan(world(six(1), records, lives, {"shop": 7}))
    assert not [a for a in actions if a.verb in (Verb.REAP, Verb.RELAUNCH, Verb.RECREATE, Verb.CREATE)]


def test_the_data_dir_limit_counts_workers_of_every_project_but_no_orchestrator() -> None:
    dps = desired([proj("a"), proj("b")], [wk("a", "x", 0), wk("a", "y", 1), wk("b", "x", 0), wk("b", "y", 1)])
    actions = plan(with_capacity(world(dps), max_running=3))
    assert by_verb(actions, Verb.CREATE) == ["a-orchestrator", "a-1", "a-2", "b-orchestrator", "b-1"]
    queued = next(a for a in actions if a.verb == Verb.QUEUE)
    assert queued.session_id == "b-2"
    assert "3 of at most 3 workers run in this data dir (--max-running); 0 ahead of it" in queued.reason


def test_a_limit_of_zero_runs_the_orchestrator_alone() -> None:
    actions = plan(world(six(0)))
    assert by_verb(actions, Verb.CREATE) == ["shop-orchestrator"]
    assert len(by_verb(actions, Verb.QUEUE)) == 6


def test_memory_under_the_reserve_holds_new_agents_back_and_leaves_running_ones() -> None:
    dps = six(None)
    records, lives = _three_running_three_waiting(dps)
    tight = Memory(total=8 * GIB, available=1 * GIB, reserve=2 * GIB)
    actions = plan(with_capacity(world(dps, records, lives, {"shop": 7}), memory=tight))
    assert [a.session_id for a in actions if a.verb == Verb.QUEUE] == ["shop-4", "shop-5", "shop-6"]
    assert "memory: 1.0 GiB available" in next(a for a in actions if a.verb == Verb.QUEUE).reason
    assert not [a for a in actions if a.session_id in ("shop-1", "shop-2", "shop-3")]


def test_memory_admits_as_many_as_fit_over_the_reserve_using_the_measured_size() -> None:
    dps = six(None)
    records, lives = _three_running_three_waiting(dps)
    rss = {"shop-orchestrator": 300 * MIB, "shop-1": 300 * MIB, "shop-2": 300 * MIB, "shop-3": 300 * MIB}
    memory = Memory(total=8 * GIB, available=2 * GIB + 700 * MIB, reserve=2 * GIB)
    actions = plan(with_capacity(world(dps, records, lives, {"shop": 7}), memory=memory, rss=rss))
    assert by_verb(actions, Verb.CREATE) == ["shop-4", "shop-5"]
    assert by_verb(actions, Verb.QUEUE) == ["shop-6"]


def test_a_reserve_of_zero_turns_the_memory_check_off() -> None:
    # Less available than the 256 MiB a first agent is estimated at: with no reserve, all start anyway.
    memory = Memory(total=8 * GIB, available=100 * MIB, reserve=0)
    actions = plan(with_capacity(world(six(None)), memory=memory))
    assert len(by_verb(actions, Verb.CREATE)) == 7 and not by_verb(actions, Verb.QUEUE)


def test_the_orchestrator_goes_first_for_memory() -> None:
    memory = Memory(total=8 * GIB, available=2 * GIB + 300 * MIB, reserve=2 * GIB)
    actions = plan(with_capacity(world(six(None)), memory=memory))
    assert by_verb(actions, Verb.CREATE) == ["shop-orchestrator"]
    assert next(a for a in actions if a.session_id == "shop-orchestrator").kind == Kind.ORCHESTRATOR


def test_spawned_workers_wait_behind_declared_ones() -> None:
    project = dataclasses.replace(proj(), spec={**proj().spec, "limits": {"maxRunningWorkers": 1}})
    dps = desired([project], [wk("shop", "spawned", 0, owner="spawn"), wk("shop", "declared", 5)])
    actions = plan(world(dps))
    assert [a.worker for a in actions if a.verb == Verb.CREATE and a.kind == Kind.WORKER] == ["declared"]
    assert [a.worker for a in actions if a.verb == Verb.QUEUE] == ["spawned"]


def test_memory_figures() -> None:
    table = {1: (0, 10), 2: (1, 20), 3: (2, 30), 4: (1, 40), 9: (0, 1000)}
    assert tree_rss({"a": 2, "b": 1, "gone": 77}, table) == {"a": 50, "b": 100}
    assert reserve_bytes("10%", 1000) == 100
    assert reserve_bytes("2G", 0) == 2 * GIB
    assert reserve_bytes("512MiB", 0) == 512 * MIB
    assert reserve_bytes("0", 1000) == 0
    assert parse_max_running("none") is None and parse_max_running("4") == 4
    assert size(1536 * MIB) == "1.5 GiB"
    figures = machine_memory()
    assert figures is None or figures[0] >= figures[1] > 0


def test_the_orchestrator_prompt_says_how_many_workers_may_run() -> None:
    from reconciler.sessions.prompts import SessionFacts, render_role

    facts = SessionFacts("shop-orchestrator", "shop", "orchestrator", "/w", "main", "main")
    limited = render_role(dataclasses.replace(facts, max_workers=3, max_workers_all=5))
    assert "At most **3** workers of this project run at once (`spec.limits.maxRunningWorkers`" in limited
    assert "at most **5** workers of all projects together run at once" in limited
    assert "wait as `Pending` (reason `Capacity`)" in limited
    assert "No limit is set on how many workers run at once" in render_role(facts)


def test_a_worker_started_again_by_a_user_waits_its_turn_like_any_other() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps, gone="shop-1")
    records = [dataclasses.replace(r, phase=Phase.PENDING, reason="Released", next_retry_at=NOW)
               if r.id == "shop-1" else r for r in records]
    # Its room was given away while it was stopped: shop-4 took it and runs now.
    records = [dataclasses.replace(r, phase=Phase.RUNNING, reason="Started") if r.id == "shop-4" else r
               for r in records]
    lives.append(live(find(dps, "shop", "w4"), "shop-4"))
    actions = plan(world(dps, records, lives, {"shop": 7}))
    queued = next(a for a in actions if a.session_id == "shop-1")
    assert queued.verb == Verb.QUEUE and not queued.quiet
    assert queued.reason.endswith("0 ahead of it")  # declared first, so first in line
    assert not by_verb(actions, Verb.RELAUNCH) and not by_verb(actions, Verb.CREATE)


STATES = ["none", "running", "crashed", "capacity", "finished", "stopped"]


@given(states=st.lists(st.sampled_from(STATES), min_size=6, max_size=6), limit=st.integers(0, 6))
@settings(max_examples=300, deadline=None)
def test_never_more_than_the_limit_and_always_in_order(states: list[str], limit: int) -> None:
    dps = six(limit)
    records, lives = [], []
    for i, state in enumerate(states, start=1):
        ds, sid = find(dps, "shop", f"w{i}"), f"shop-{i}"
        if state == "running":
            records.append(record(ds, sid))
            lives.append(live(ds, sid))
        elif state == "crashed":
            records.append(record(ds, sid))
            lives.append(dead(ds, sid, status=1))
        elif state == "capacity":
            records.append(record(ds, sid, phase=Phase.PENDING, reason="Capacity", started_at=None, pid=None))
        elif state == "finished":
            records.append(record(ds, sid, phase=Phase.SUCCEEDED, reason="Completed", pid=None))
        elif state == "stopped":
            records.append(record(ds, sid, phase=Phase.STOPPED, reason="StoppedByUser", pid=None))
    actions = {a.session_id: a for a in plan(world(dps, records, lives, {"shop": 7}))
               if a.kind == Kind.WORKER}
    holding = {f"shop-{i}" for i, s in enumerate(states, start=1) if s in ("running", "crashed")}
    after = {sid for sid in holding if actions.get(sid) is None or actions[sid].verb != Verb.EXITED}
    after |= {sid for sid, a in actions.items() if a.verb in (Verb.CREATE, Verb.RELAUNCH, Verb.RECREATE)}
    assert len(after) <= max(limit, len(holding))
    # Those that start anew come before every one left waiting, in declaration order.
    fresh = sorted((a.worker or "", a.verb) for sid, a in actions.items() if sid not in holding
                   and (a.verb in (Verb.CREATE, Verb.RELAUNCH) or a.block == BlockReason.CAPACITY))
    verbs = [verb for _, verb in fresh]
    waiting_from = next((i for i, v in enumerate(verbs) if v in (Verb.QUEUE, Verb.WAIT)), len(verbs))
    assert all(v in (Verb.QUEUE, Verb.WAIT) for v in verbs[waiting_from:])
    if len(after) < limit:
        assert waiting_from == len(verbs)  # nobody waits while there is room


def test_the_orchestrator_is_told_when_a_waiting_worker_starts() -> None:
    from reconciler.reconcile.notices import notice

    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    lives = [dead(find(dps, "shop", "w2"), "shop-2", status=0) if l.session_id == "shop-2" else l for l in lives]
    actions = plan(world(dps, records, lives, {"shop": 7}))
    start = next(a for a in actions if a.session_id == "shop-4")
    assert notice(start, "created", "", NOW) == "shop-4 started: there was room for it at last (it waited for capacity)"
    assert notice(next(a for a in actions if a.session_id == "shop-5"), "pending", "", NOW) is None
