"""Table-driven tests of the pure planner, plus the backoff and desired-state helpers it uses.

Every world here is built by hand: desired projects from ProjectRecord/WorkerRecord values (through
the real `desired_projects`), session rows, `Observed` observations with stamps, counters and a clock.
Nothing touches disk, SQLite or a multiplexer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.reconcile import backoff
from reconciler.reconcile.desired import (
    DEFAULT_PRESET,
    DesiredProject,
    DesiredSession,
    changed_fields,
    desired_projects,
    merge_agent,
    spec_hash,
)
from reconciler.reconcile.plan import Action, Verb, World, converged, plan
from reconciler.registry.records import (
    Kind,
    Phase,
    ProjectRecord,
    SessionRecord,
    WorkerRecord,
)
from reconciler.runtime.base import Observed, Stamp
from reconciler.sessions.naming import orchestrator_id, worker_id

OWNER = "ao-0123456789ab"
OTHER_OWNER = "ao-ba9876543210"
NOW = 100_000.0
REPO = "/srv/repos/shop"


# ---------------------------------------------------------------- builders


def proj(
    name: str = "shop",
    *,
    prefix: str | None = None,
    orchestrator: bool = True,
    agent: dict | None = None,
    restart: str | None = None,
    orch: dict | None = None,
    suspended: bool = False,
    deleted: bool = False,
) -> ProjectRecord:
    spec: dict = {"repo": REPO, "runtime": "auto", "agent": agent if agent is not None else {"command": ["true"]}}
    if restart is not None:
        spec["restartPolicy"] = restart
    spec["orchestrator"] = {"enabled": orchestrator, **(orch or {})}
    return ProjectRecord(name=name, prefix=prefix or name, spec=spec, spec_hash=f"h-{name}", generation=1,
                         suspended=int(suspended), deleted=int(deleted))


def wk(project: str, name: str, position: int = 0, *, owner: str = "manifest", **spec: object) -> WorkerRecord:
    return WorkerRecord(project=project, name=name, owner=owner, spec={"name": name, **spec}, position=position)


def desired(projects: Iterable[ProjectRecord], workers: Iterable[WorkerRecord] = ()) -> tuple[DesiredProject, ...]:
    return tuple(desired_projects(list(projects), list(workers)))


def find(dps: Sequence[DesiredProject], project: str, worker: str | None = None) -> DesiredSession:
    dp = next(p for p in dps if p.name == project)
    if worker is None:
        assert dp.orchestrator is not None
        return dp.orchestrator
    return next(w for w in dp.workers if w.worker == worker)


def record(ds: DesiredSession, sid: str, *, phase: str = Phase.RUNNING, **over: object) -> SessionRecord:
    suffix = sid.rpartition("-")[2]
    values: dict = dict(
        id=sid, project=ds.project, kind=ds.kind, worker=ds.worker,
        number=int(suffix) if suffix.isdigit() else None, phase=phase, runtime="memory",
        spec=dict(ds.spec), spec_hash=ds.spec_hash, restart_policy=ds.restart_policy,
        started_at=NOW - 3600, pid=4242,
    )
    values.update(over)
    return SessionRecord(**values)


def live(ds: DesiredSession, sid: str, *, alive: bool = True, owner: str = OWNER, spec_hash: str | None = None,
         **over: object) -> Observed:
    stamp = Stamp(owner, ds.project, ds.kind, ds.worker or "", spec_hash or ds.spec_hash)
    return Observed(sid, alive=alive, pid=4242 if alive else None, stamp=stamp, **over)  # type: ignore[arg-type]


def dead(ds: DesiredSession, sid: str, status: int | None = 1, signal: int | None = None,
         dead_at: float | None = None, **over: object) -> Observed:
    return live(ds, sid, alive=False, exit_status=status, exit_signal=signal, dead_at=dead_at, **over)


def foreign(sid: str, *, stamp: Stamp | None = None, alive: bool = True) -> Observed:
    return Observed(sid, alive=alive, pid=777, stamp=stamp)


def world(
    dps: Sequence[DesiredProject],
    records: Iterable[SessionRecord] = (),
    lives: Iterable[Observed] = (),
    counters: dict[str, int] | None = None,
    *,
    now: float = NOW,
    scope: Iterable[str] | None = None,
    deleted: Iterable[str] = (),
) -> World:
    return World(
        desired=tuple(dps), records=tuple(records), observed={l.session_id: l for l in lives},
        counters=counters or {}, owner=OWNER, now=now,
        scope=frozenset(scope) if scope is not None else None, deleted=frozenset(deleted),
    )


def steady(dps: Sequence[DesiredProject]) -> tuple[list[SessionRecord], list[Observed], dict[str, int]]:
    """Records, live sessions and counters of a fully converged world for `dps`."""
    records, lives, counters = [], [], {}
    for dp in dps:
        n = 1
        for ds in dp.sessions:
            if ds.kind == Kind.ORCHESTRATOR:
                sid = orchestrator_id(dp.prefix)
            else:
                sid, n = worker_id(dp.prefix, n), n + 1
            records.append(record(ds, sid))
            lives.append(live(ds, sid))
        counters[dp.prefix] = n
    return records, lives, counters


def pairs(actions: Iterable[Action]) -> list[tuple[str, str]]:
    return [(a.verb.value, a.session_id) for a in actions]


def only(actions: list[Action]) -> Action:
    assert len(actions) == 1, pairs(actions)
    return actions[0]


def swap(items: Sequence, new: object, key: str = "session_id") -> list:
    """`items` with the element of the same id replaced by `new` (or dropped when new is a str id)."""
    if isinstance(new, str):
        return [i for i in items if getattr(i, key) != new]
    return [new if getattr(i, key) == getattr(new, key) else i for i in items]


SHOP = (proj("shop"),), (wk("shop", "a", 0, prompt="fix a"), wk("shop", "b", 1, prompt="fix b"))


def shop(**project: object) -> tuple[DesiredProject, ...]:
    return desired([proj("shop", **project)], SHOP[1])  # type: ignore[arg-type]


# ---------------------------------------------------------------- create and numbering


def test_create_everything_declared_orchestrator_first_with_numbers_from_one() -> None:
    actions = plan(world(shop()))
    assert pairs(actions) == [("create", "shop-orchestrator"), ("create", "shop-1"), ("create", "shop-2")]
    assert [a.reason for a in actions] == ["declared; no session"] * 3
    assert [(a.kind, a.worker, a.number) for a in actions] == [
        ("orchestrator", None, None), ("worker", "a", 1), ("worker", "b", 2)]
    assert all(a.desired is not None and a.record is None and a.live is None for a in actions)


def test_converged_world_plans_nothing() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    assert plan(world(dps, records, lives, counters)) == []


def test_worker_numbers_come_from_the_counter() -> None:
    actions = plan(world(shop(), counters={"shop": 7}))
    assert pairs(actions) == [("create", "shop-orchestrator"), ("create", "shop-7"), ("create", "shop-8")]
    assert [a.number for a in actions] == [None, 7, 8]


def test_a_counter_below_one_still_starts_at_one() -> None:
    assert pairs(plan(world(shop(), counters={"shop": 0})))[1:] == [("create", "shop-1"), ("create", "shop-2")]


def test_orchestrator_never_consumes_a_number() -> None:
    with_orch = plan(world(shop(orchestrator=True), counters={"shop": 3}))
    without = plan(world(shop(orchestrator=False), counters={"shop": 3}))
    assert [a.session_id for a in with_orch if a.kind == Kind.WORKER] == ["shop-3", "shop-4"]
    assert pairs(without) == [("create", "shop-3"), ("create", "shop-4")]


def test_a_reaped_and_redeclared_worker_gets_a_new_number() -> None:
    # a runs as shop-1; b ran as shop-2, was reaped (its row is Terminated, so not an active record)
    # and is declared again: the counter already moved to 3, so b must not get shop-2 back.
    dps = shop(orchestrator=False)
    a = find(dps, "shop", "a")
    actions = plan(world(dps, [record(a, "shop-1")], [live(a, "shop-1")], {"shop": 3}))
    assert pairs(actions) == [("create", "shop-3")]
    assert only(actions).worker == "b" and only(actions).number == 3


def test_new_numbers_skip_ids_of_live_sessions_and_active_records() -> None:
    # A stale counter (1) must not hand out IDs that exist: shop-1 is a foreign session,
    # shop-2 another owner's session, shop-3 an active row of a deleted project with the same prefix.
    dps = shop(orchestrator=False)
    old = find(desired([proj("old", prefix="shop")], [wk("old", "x")]), "old", "x")
    lives = [foreign("shop-1"), foreign("shop-2", stamp=Stamp(OTHER_OWNER, "shop", "worker", "a", "h"))]
    records = [record(old, "shop-3", phase=Phase.RUNNING)]
    actions = plan(world(dps, records, lives, {"shop": 1}, scope={"shop"}))
    assert pairs(actions) == [("create", "shop-4"), ("create", "shop-5")]
    assert [a.number for a in actions] == [4, 5]


def test_session_prefix_names_the_ids() -> None:
    dps = desired([proj("shop", prefix="sh")], [wk("shop", "a")])
    assert pairs(plan(world(dps))) == [("create", "sh-orchestrator"), ("create", "sh-1")]


def test_orchestrator_created_before_workers_in_every_project() -> None:
    dps = desired([proj("alpha"), proj("beta", prefix="b")],
                  [wk("alpha", "x"), wk("beta", "y"), wk("beta", "z", 1)])
    order = [a.session_id for a in plan(world(dps))]
    assert order.index("alpha-orchestrator") < order.index("alpha-1")
    assert order.index("b-orchestrator") < min(order.index("b-1"), order.index("b-2"))
    assert sorted(order) == ["alpha-1", "alpha-orchestrator", "b-1", "b-2", "b-orchestrator"]


def test_workers_are_numbered_in_manifest_order_then_spawned() -> None:
    dps = desired([proj("shop", orchestrator=False)],
                  [wk("shop", "spawned", 0, owner="spawn"), wk("shop", "second", 1), wk("shop", "first", 0)])
    assert [(a.session_id, a.worker) for a in plan(world(dps))] == [
        ("shop-1", "first"), ("shop-2", "second"), ("shop-3", "spawned")]


def test_pending_record_without_session_is_created_under_its_own_id() -> None:
    # the executor wrote its intent (Pending) and crashed before starting the session
    dps = shop(orchestrator=False)
    a = find(dps, "shop", "a")
    b = find(dps, "shop", "b")
    records = [record(a, "shop-5", phase=Phase.PENDING), record(b, "shop-6")]
    actions = plan(world(dps, records, [live(b, "shop-6")], {"shop": 7}))
    action = only(actions)
    assert (action.verb, action.session_id, action.number) == ("create", "shop-5", 5)
    assert "never started" in action.reason
    assert action.record is records[0]


# ---------------------------------------------------------------- adopt


def test_adopt_live_stamped_worker_whose_record_was_lost() -> None:
    dps = shop(orchestrator=False)
    a, b = find(dps, "shop", "a"), find(dps, "shop", "b")
    records = [record(a, "shop-1")]
    lives = [live(a, "shop-1"), live(b, "shop-4")]  # b's row was lost; its session runs as shop-4
    actions = plan(world(dps, records, lives, {"shop": 5}))
    action = only(actions)
    assert (action.verb, action.session_id, action.worker, action.number) == ("adopt", "shop-4", "b", 4)
    assert "registry lost" in action.reason
    assert action.live is lives[1] and action.record is None


def test_adopt_matches_the_lost_session_by_stamp_not_by_position() -> None:
    dps = shop(orchestrator=False)
    a, b = find(dps, "shop", "a"), find(dps, "shop", "b")
    # both rows lost; the numbers are the reverse of the declaration order
    lives = [live(b, "shop-1"), live(a, "shop-2")]
    actions = plan(world(dps, [], lives, {"shop": 3}))
    assert sorted((a.verb.value, a.session_id, a.worker) for a in actions) == [
        ("adopt", "shop-1", "b"), ("adopt", "shop-2", "a")]


def test_adopt_records_the_spec_that_runs_when_the_row_is_stale() -> None:
    # the session already runs the declared spec (its stamp says so) but the row still has the old one
    old = desired([proj("shop", orchestrator=False)], [wk("shop", "a", prompt="one")])
    new = desired([proj("shop", orchestrator=False)], [wk("shop", "a", prompt="two")])
    a_old, a_new = find(old, "shop", "a"), find(new, "shop", "a")
    action = only(plan(world(new, [record(a_old, "shop-1")], [live(a_new, "shop-1")], {"shop": 2})))
    assert (action.verb, action.session_id) == ("adopt", "shop-1")
    assert action.reason == "agent is running; the registry said Running"


def test_adopt_lost_orchestrator() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    actions = plan(world(dps, swap(records, "shop-orchestrator", "id"), lives, counters))
    action = only(actions)
    assert (action.verb, action.session_id, action.kind, action.number) == (
        "adopt", "shop-orchestrator", "orchestrator", None)


def test_adopt_record_stuck_in_pending_while_the_session_is_alive() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    b = find(dps, "shop", "b")
    stuck = record(b, "shop-2", phase=Phase.PENDING, started_at=None)
    action = only(plan(world(dps, swap(records, stuck, "id"), lives, counters)))
    assert (action.verb, action.session_id, action.number) == ("adopt", "shop-2", 2)
    assert "agent is running" in action.reason and "Pending" in action.reason
    assert action.record is stuck


def test_lost_session_of_another_project_is_not_adopted_into_this_one() -> None:
    dps = shop(orchestrator=False)
    ghost = find(desired([proj("ghost", prefix="shop", orchestrator=False)], [wk("ghost", "a")]), "ghost", "a")
    actions = plan(world(dps, [], [live(ghost, "shop-1")], {"shop": 2}))
    # shop's workers are created with fresh numbers; the stranger is an orphan of ours and is reaped
    assert pairs(actions) == [("reap", "shop-1"), ("create", "shop-2"), ("create", "shop-3")]
    assert "orphaned" in actions[0].reason


# ---------------------------------------------------------------- relaunch, exit and restart policy


@pytest.mark.parametrize(
    "policy, status, signal, verb, phase, text",
    [
        ("Always", 0, None, "relaunch", None, "agent exited with status 0; restartPolicy Always"),
        ("Always", 2, None, "relaunch", None, "agent exited with status 2; restartPolicy Always"),
        ("OnFailure", 1, None, "relaunch", None, "agent exited with status 1; restartPolicy OnFailure"),
        ("OnFailure", None, 9, "relaunch", None, "agent was killed by signal 9; restartPolicy OnFailure"),
        ("OnFailure", 0, 15, "relaunch", None, "agent was killed by signal 15; restartPolicy OnFailure"),
        ("OnFailure", None, None, "relaunch", None, "agent exited (status unknown); restartPolicy OnFailure"),
        ("OnFailure", 0, None, "exited", Phase.SUCCEEDED, "agent exited with status 0; restartPolicy OnFailure"),
        ("Never", 1, None, "exited", Phase.FAILED, "agent exited with status 1; restartPolicy Never"),
        ("Never", None, 9, "exited", Phase.FAILED, "agent was killed by signal 9; restartPolicy Never"),
        ("Never", 0, None, "exited", Phase.SUCCEEDED, "agent exited with status 0; restartPolicy Never"),
    ],
)
def test_dead_agent_and_restart_policy(policy: str, status: int | None, signal: int | None, verb: str,
                                       phase: str | None, text: str) -> None:
    dps = desired([proj("shop", orchestrator=False)], [wk("shop", "a", restartPolicy=policy)])
    a = find(dps, "shop", "a")
    corpse = dead(a, "shop-1", status, signal)
    action = only(plan(world(dps, [record(a, "shop-1")], [corpse], {"shop": 2})))
    assert (action.verb, action.session_id) == (verb, "shop-1")
    assert action.reason == text
    assert action.phase == phase
    assert action.live is corpse
    if verb == "relaunch":
        assert action.backoff_step == 1 and action.retry_at is None


@pytest.mark.parametrize("policy, phase, verb", [
    ("Never", Phase.SUCCEEDED, None),
    ("Never", Phase.FAILED, None),
    ("OnFailure", Phase.SUCCEEDED, None),
    # the policy is read again on every pass: a finished worker comes back once its policy says so
    ("OnFailure", Phase.FAILED, "relaunch"),
    ("Always", Phase.SUCCEEDED, "relaunch"),
    ("Always", Phase.FAILED, "relaunch"),
])
def test_finished_and_recorded_agents(policy: str, phase: str, verb: str | None) -> None:
    dps = desired([proj("shop", orchestrator=False)], [wk("shop", "a", restartPolicy=policy)])
    a = find(dps, "shop", "a")
    status = 0 if phase == Phase.SUCCEEDED else 1
    rec = record(a, "shop-1", phase=phase, backoff_step=3, quick_failures=2, restart_policy="Never")
    actions = plan(world(dps, [rec], [dead(a, "shop-1", status)], {"shop": 2}))
    if verb is None:
        assert actions == []
    else:
        action = only(actions)
        assert (action.verb, action.session_id, action.reason) == (verb, "shop-1", f"restartPolicy is now {policy}")
        assert action.quick_failures == 0


@pytest.mark.parametrize("policy, verb, phase", [("OnFailure", "relaunch", None), ("Always", "relaunch", None),
                                                 ("Never", "exited", Phase.FAILED)])
def test_vanished_session(policy: str, verb: str, phase: str | None) -> None:
    dps = desired([proj("shop", orchestrator=False)], [wk("shop", "a", restartPolicy=policy), wk("shop", "b", 1)])
    a, b = find(dps, "shop", "a"), find(dps, "shop", "b")
    # Another session still runs on the same server: this one was removed, its server was not restarted.
    records = [record(a, "shop-1", runtime="tmux"), record(b, "shop-2", runtime="tmux")]
    action = only(plan(world(dps, records, [live(b, "shop-2")], {"shop": 3})))
    assert (action.verb, action.session_id, action.phase) == (verb, "shop-1", phase)
    assert "session disappeared" in action.reason
    assert action.live is None and action.recovery is None


def test_orchestrator_restarts_always_by_default_even_after_a_clean_exit() -> None:
    dps = shop(restart="Never")
    records, lives, counters = steady(dps)
    o = find(dps, "shop")
    assert o.restart_policy == "Always"
    action = only(plan(world(dps, records, swap(lives, dead(o, "shop-orchestrator", 0)), counters)))
    assert (action.verb, action.session_id) == ("relaunch", "shop-orchestrator")


def test_worker_policy_overrides_the_project_policy() -> None:
    dps = desired([proj("shop", orchestrator=False, restart="Never")],
                  [wk("shop", "a"), wk("shop", "b", 1, restartPolicy="Always")])
    a, b = find(dps, "shop", "a"), find(dps, "shop", "b")
    records = [record(a, "shop-1"), record(b, "shop-2")]
    actions = plan(world(dps, records, [dead(a, "shop-1", 0), dead(b, "shop-2", 0)], {"shop": 3}))
    assert pairs(actions) == [("exited", "shop-1"), ("relaunch", "shop-2")]


# ---------------------------------------------------------------- backoff in the planner


def _one_worker(**record_over: object) -> tuple[tuple[DesiredProject, ...], DesiredSession, SessionRecord]:
    dps = desired([proj("shop", orchestrator=False)], [wk("shop", "a")])
    a = find(dps, "shop", "a")
    return dps, a, record(a, "shop-1", **record_over)


def test_first_restart_is_immediate_even_after_a_quick_failure() -> None:
    dps, a, rec = _one_worker(started_at=NOW - 2)
    action = only(plan(world(dps, [rec], [dead(a, "shop-1")], {"shop": 2})))
    assert action.verb == "relaunch"
    assert (action.backoff_step, action.quick_failures, action.retry_at) == (1, 1, None)


def test_backoff_then_wait_until_due_then_relaunch() -> None:
    dps, a, rec = _one_worker(started_at=NOW - 2, restarts=1, backoff_step=1, quick_failures=1)
    corpse = dead(a, "shop-1")
    action = only(plan(world(dps, [rec], [corpse], {"shop": 2})))
    assert action.verb == "backoff"
    assert action.retry_at is not None and NOW + 1.0 <= action.retry_at <= NOW + 1.2
    assert (action.backoff_step, action.quick_failures, action.phase) == (1, 2, Phase.PENDING)
    assert action.reason == "agent exited with status 1; restarting in 1s"
    assert not converged([action])

    # what the executor writes down for BACKOFF
    waiting = dataclasses.replace(rec, phase=action.phase, reason="BackOff", next_retry_at=action.retry_at,
                                  backoff_step=action.backoff_step, quick_failures=action.quick_failures)
    early = plan(world(dps, [waiting], [corpse], {"shop": 2}, now=action.retry_at - 0.5))
    assert pairs(early) == [("wait", "shop-1")]
    assert early[0].reason.startswith("back-off until")
    assert converged(early)

    due = only(plan(world(dps, [waiting], [corpse], {"shop": 2}, now=action.retry_at)))
    assert (due.verb, due.backoff_step, due.quick_failures) == ("relaunch", 2, 2)
    assert "back-off elapsed" in due.reason


def test_backoff_waits_even_when_the_session_vanished_meanwhile() -> None:
    dps, a, rec = _one_worker(phase=Phase.PENDING, next_retry_at=NOW + 30, backoff_step=4)
    assert pairs(plan(world(dps, [rec], [], {"shop": 2}))) == [("wait", "shop-1")]


@pytest.mark.parametrize("step", range(1, 12))
def test_backoff_delay_doubles_up_to_the_cap(step: int) -> None:
    dps, a, rec = _one_worker(started_at=NOW - 2, restarts=step, backoff_step=step)
    action = only(plan(world(dps, [rec], [dead(a, "shop-1")], {"shop": 2})))
    assert action.verb == "backoff"
    assert action.retry_at is not None
    raw = min(300.0, 2.0 ** (step - 1))
    assert raw <= action.retry_at - NOW <= min(300.0, raw * 1.2)


@pytest.mark.parametrize("quick_before, uptime, quick_after, phase", [
    (0, 2.0, 1, Phase.PENDING),
    (1, 2.0, 2, Phase.PENDING),
    (2, 2.0, 3, Phase.CRASH_LOOP),
    (7, 9.9, 8, Phase.CRASH_LOOP),
    (7, 10.0, 0, Phase.PENDING),  # a run of 10s is not a quick failure: the count starts over
])
def test_quick_failures_lead_to_crash_loop_backoff(quick_before: int, uptime: float, quick_after: int,
                                                   phase: str) -> None:
    dps, a, rec = _one_worker(started_at=NOW - 50, backoff_step=2, restarts=3, quick_failures=quick_before)
    action = only(plan(world(dps, [rec], [dead(a, "shop-1", dead_at=NOW - 50 + uptime)], {"shop": 2})))
    assert (action.verb, action.quick_failures, action.phase) == ("backoff", quick_after, phase)


@pytest.mark.parametrize("started_ago, dead_ago, verb", [
    (1000.0, 100.0, "relaunch"),  # ran 900s before dying (dead_at is what counts): reset
    (700.0, 101.0, "backoff"),  # ran 599s: no reset, even though it started 700s ago
    (700.0, None, "relaunch"),  # death time unknown: measured until now (700s): reset
    (600.0, 0.0, "relaunch"),  # exactly 600s is long enough
])
def test_a_long_run_resets_the_backoff(started_ago: float, dead_ago: float | None, verb: str) -> None:
    dps, a, rec = _one_worker(started_at=NOW - started_ago, backoff_step=6, restarts=9, quick_failures=2)
    dead_at = None if dead_ago is None else NOW - dead_ago
    action = only(plan(world(dps, [rec], [dead(a, "shop-1", dead_at=dead_at)], {"shop": 2})))
    assert action.verb == verb
    if verb == "relaunch":
        assert (action.backoff_step, action.quick_failures) == (1, 0)
    else:
        assert action.backoff_step == 6 and action.retry_at is not None and action.retry_at - NOW >= 32


# ---------------------------------------------------------------- recreate


def _changed(before: tuple, after: tuple) -> list[Action]:
    old, new = desired(*before), desired(*after)
    records, lives, counters = steady(old)
    return plan(world(new, records, lives, counters))


def test_recreate_names_the_changed_prompt() -> None:
    before = ([proj("shop")], [wk("shop", "a", prompt="fix a"), wk("shop", "b", 1, prompt="fix b")])
    after = ([proj("shop")], [wk("shop", "a", prompt="fix a"), wk("shop", "b", 1, prompt="fix b better")])
    action = only(_changed(before, after))
    assert (action.verb, action.session_id, action.worker, action.number) == ("recreate", "shop-2", "b", 2)
    assert action.reason == "spec changed: prompt"
    assert action.desired is not None and action.desired.spec["prompt"] == "fix b better"


def test_recreate_names_nested_agent_fields_for_every_session_that_inherits_them() -> None:
    before = ([proj("shop", agent={"command": ["true"]})], [wk("shop", "a")])
    after = ([proj("shop", agent={"command": ["true", "--fast"], "env": {"FOO": "1"}})], [wk("shop", "a")])
    actions = _changed(before, after)
    assert pairs(actions) == [("recreate", "shop-orchestrator"), ("recreate", "shop-1")]
    assert {a.reason for a in actions} == {"spec changed: agent.command, agent.env.FOO"}


def test_recreate_names_several_top_level_fields() -> None:
    before = ([proj("shop", orchestrator=False)], [wk("shop", "a", issue="1")])
    after = ([proj("shop", orchestrator=False)], [wk("shop", "a", issue="2", branch="fix/2")])
    assert only(_changed(before, after)).reason == "spec changed: branch, issue"


def test_recreate_when_only_the_live_stamp_differs() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    a = find(dps, "shop", "a")
    action = only(plan(world(dps, records, swap(lives, live(a, "shop-1", spec_hash="v1-stale")), counters)))
    assert (action.verb, action.session_id, action.reason) == ("recreate", "shop-1", "spec changed: (stamp)")


def test_recreate_with_unknown_previous_spec() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    a = find(dps, "shop", "a")
    lost_spec = record(a, "shop-1", spec=None, spec_hash="v1-old")
    action = only(plan(world(dps, swap(records, lost_spec, "id"), swap(lives, live(a, "shop-1", spec_hash="v1-old")),
                             counters)))
    assert action.verb == "recreate" and "(unknown previous spec)" in action.reason


def test_recreate_a_finished_worker_whose_spec_changed() -> None:
    before = ([proj("shop", orchestrator=False)], [wk("shop", "a", prompt="one", restartPolicy="Never")])
    after = ([proj("shop", orchestrator=False)], [wk("shop", "a", prompt="two", restartPolicy="Never")])
    old, new = desired(*before), desired(*after)
    a = find(old, "shop", "a")
    action = only(plan(world(new, [record(a, "shop-1", phase=Phase.SUCCEEDED)], [dead(a, "shop-1", 0)],
                             {"shop": 2})))
    assert (action.verb, action.reason) == ("recreate", "spec changed: prompt")


def test_a_restart_policy_change_alone_does_not_recreate() -> None:
    before = ([proj("shop", orchestrator=False)], [wk("shop", "a", restartPolicy="Never")])
    after = ([proj("shop", orchestrator=False)], [wk("shop", "a", restartPolicy="Always")])
    assert _changed(before, after) == []


# ---------------------------------------------------------------- reap


def test_reap_a_worker_no_longer_declared() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    gone = find(desired([proj("shop")], [wk("shop", "old")]), "shop", "old")
    records.append(record(gone, "shop-3"))
    lives.append(live(gone, "shop-3"))
    action = only(plan(world(dps, records, lives, {"shop": 4})))
    assert (action.verb, action.session_id, action.worker) == ("reap", "shop-3", "old")
    assert action.reason == "worker 'old' is no longer declared"
    assert action.live is lives[-1] and action.record is records[-1]


def test_reap_a_record_whose_session_is_already_gone() -> None:
    dps = shop(orchestrator=False)
    records, lives, counters = steady(dps)
    gone = find(desired([proj("shop")], [wk("shop", "old")]), "shop", "old")
    action = only(plan(world(dps, [*records, record(gone, "shop-3")], lives, {"shop": 4})))
    assert (action.verb, action.session_id, action.live) == ("reap", "shop-3", None)


def test_reap_every_session_of_a_deleted_project_workers_before_orchestrator() -> None:
    old = shop()
    records, lives, _ = steady(old)
    actions = plan(world((), records, lives, {"shop": 3}, deleted={"shop"}))
    assert pairs(actions) == [("reap", "shop-1"), ("reap", "shop-2"), ("reap", "shop-orchestrator")]
    assert {a.reason for a in actions} == {"its project was deleted"}
    assert [a.kind for a in actions] == ["worker", "worker", "orchestrator"]


def test_reap_an_orchestrator_no_longer_enabled() -> None:
    records, lives, counters = steady(shop())
    action = only(plan(world(shop(orchestrator=False), records, lives, counters)))
    assert (action.verb, action.session_id, action.kind) == ("reap", "shop-orchestrator", "orchestrator")
    assert action.reason == "the orchestrator is no longer enabled"


def test_reap_an_orphan_with_our_stamp_and_no_record() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    nobody = find(desired([proj("shop")], [wk("shop", "nobody")]), "shop", "nobody")
    lives.append(live(nobody, "shop-9"))
    action = only(plan(world(dps, records, lives, counters)))
    assert (action.verb, action.session_id, action.record) == ("reap", "shop-9", None)
    assert action.reason == "orphaned session with ao's stamp; nothing declares it"
    assert action.live is lives[-1]


def test_orphan_orchestrator_stamp_is_reaped_last() -> None:
    other = desired([proj("gone")], [wk("gone", "w")])
    orphans = [live(find(other, "gone"), "gone-orchestrator"), live(find(other, "gone", "w"), "gone-1")]
    actions = plan(world((), [], orphans))
    assert pairs(actions) == [("reap", "gone-1"), ("reap", "gone-orchestrator")]
    assert [a.kind for a in actions] == ["worker", "orchestrator"]


def test_reaps_come_first_then_creations_orchestrator_first() -> None:
    old = shop()
    records, lives, _ = steady(old)
    new = desired([proj("shop")], [wk("shop", "c")])  # a and b replaced by c
    actions = plan(world(new, records, lives, {"shop": 3}))
    assert pairs(actions) == [("reap", "shop-1"), ("reap", "shop-2"), ("create", "shop-3")]


def test_reap_workers_of_every_project_before_any_orchestrator() -> None:
    dps = desired([proj("alpha"), proj("beta")], [wk("alpha", "x"), wk("beta", "y")])
    records, lives, _ = steady(dps)
    actions = plan(world((), records, lives, deleted={"alpha", "beta"}))
    kinds = [a.kind for a in actions]
    assert kinds == ["worker", "worker", "orchestrator", "orchestrator"]
    assert {a.verb for a in actions} == {"reap"}


def test_terminating_orchestrator_is_reaped_before_being_created_again() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    o = find(dps, "shop")
    dying = record(o, "shop-orchestrator", phase=Phase.TERMINATING)
    actions = plan(world(dps, swap(records, dying, "id"), lives, counters))
    action = only(actions)
    assert (action.verb, action.session_id, action.reason) == ("reap", "shop-orchestrator", "being replaced")


# ---------------------------------------------------------------- foreign sessions


def test_foreign_and_other_owner_sessions_are_never_reaped_or_touched() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    strangers = [
        foreign("scratch"),
        foreign("shop-7"),
        foreign("shop-8", alive=False),
        foreign("shop-9", stamp=Stamp(OTHER_OWNER, "shop", "worker", "a", "v1-x")),
        foreign("other-orchestrator", stamp=Stamp(OTHER_OWNER, "other", "orchestrator", "", "v1-x")),
    ]
    assert plan(world(dps, records, [*lives, *strangers], counters)) == []
    assert plan(world((), [], strangers, deleted={"shop"})) == []


@pytest.mark.parametrize("stamp", [None, Stamp(OTHER_OWNER, "shop", "orchestrator", "", "v1-x")])
def test_foreign_session_on_the_orchestrator_name_blocks_then_waits(stamp: Stamp | None) -> None:
    dps = shop()
    squatter = foreign("shop-orchestrator", stamp=stamp)
    actions = plan(world(dps, [], [squatter]))
    assert pairs(actions) == [("blocked", "shop-orchestrator"), ("create", "shop-1"), ("create", "shop-2")]
    assert "ao did not create it" in actions[0].reason and "sessionPrefix" in actions[0].reason
    assert not converged(actions)

    o = find(dps, "shop")
    records, lives, counters = steady(dps)
    blocked = record(o, "shop-orchestrator", phase=Phase.PENDING, reason="NameTaken", started_at=None)
    after = plan(world(dps, swap(records, blocked, "id"), swap(lives, squatter), counters))
    assert pairs(after) == [("wait", "shop-orchestrator")]
    assert converged(after)


def test_foreign_session_on_a_known_worker_id_blocks_it() -> None:
    dps = shop(orchestrator=False)
    records, lives, counters = steady(dps)
    action = only(plan(world(dps, records, swap(lives, foreign("shop-1")), counters)))
    assert (action.verb, action.session_id) == ("blocked", "shop-1")


# Regression (failed against 8081fd3): the row of a blocked name is reaped, the stranger is not.
@pytest.mark.parametrize("change", ["orchestrator disabled", "project deleted"])
def test_reap_of_a_blocked_record_never_targets_the_foreign_session(change: str) -> None:
    dps = shop()
    o = find(dps, "shop")
    records, lives, counters = steady(dps)
    squatter = foreign("shop-orchestrator")
    blocked = record(o, "shop-orchestrator", phase=Phase.PENDING, reason="NameTaken", started_at=None)
    records, lives = swap(records, blocked, "id"), swap(lives, squatter)
    if change == "orchestrator disabled":
        w = world(shop(orchestrator=False), records, lives, counters)
    else:
        w = world((), records, lives, counters, deleted={"shop"})
    reap = next(a for a in plan(w) if a.session_id == "shop-orchestrator")
    assert reap.verb == "reap"  # the row must go ...
    assert reap.live is None  # ... but the executor must not kill a session ao did not create


# ---------------------------------------------------------------- scope and suspension


def _two_projects_out_of_shape() -> tuple[tuple[DesiredProject, ...], list[SessionRecord], list[Observed], dict]:
    dps = desired([proj("alpha"), proj("beta")], [wk("alpha", "x"), wk("beta", "y")])
    records, lives, counters = steady(dps)
    x, y = find(dps, "alpha", "x"), find(dps, "beta", "y")
    lives = swap(lives, dead(x, "alpha-1"))
    lives = swap(lives, dead(y, "beta-1"))
    ghost_b = find(desired([proj("beta")], [wk("beta", "ghost")]), "beta", "ghost")
    lives.append(live(ghost_b, "beta-9"))  # orphan of ours in beta
    records.append(record(ghost_b, "beta-5"))  # undeclared row in beta
    counters["beta"] = 10
    return desired([proj("alpha"), proj("beta")], [wk("alpha", "x"), wk("beta", "y"), wk("beta", "new", 1)]), \
        records, lives, counters


def test_scope_limits_actions_to_the_named_projects() -> None:
    dps, records, lives, counters = _two_projects_out_of_shape()
    everything = plan(world(dps, records, lives, counters))
    assert {a.project for a in everything} == {"alpha", "beta"}
    scoped = plan(world(dps, records, lives, counters, scope={"alpha"}))
    assert pairs(scoped) == [("relaunch", "alpha-1")]
    assert plan(world(dps, records, lives, counters, scope=set())) == []


def test_suspended_project_gets_no_actions_at_all() -> None:
    dps, records, lives, counters = _two_projects_out_of_shape()
    suspended = desired([proj("alpha"), proj("beta", suspended=True)],
                        [wk("alpha", "x"), wk("beta", "y"), wk("beta", "new", 1)])
    actions = plan(world(suspended, records, lives, counters))
    assert pairs(actions) == [("relaunch", "alpha-1")]


def test_scope_still_reaps_orphans_of_in_scope_projects_only() -> None:
    dps, records, lives, counters = _two_projects_out_of_shape()
    actions = plan(world(dps, records, lives, counters, scope={"beta"}))
    assert sorted(pairs(actions)) == [("create", "beta-10"), ("reap", "beta-5"), ("reap", "beta-9"),
                                      ("relaunch", "beta-1")]


def test_orphans_of_projects_outside_the_scope_are_left_alone() -> None:
    gone = desired([proj("gone")], [wk("gone", "w")])
    orphan = live(find(gone, "gone", "w"), "gone-1")
    assert plan(world(shop(), [], [orphan], scope={"shop"}))[0].verb == "create"
    assert all(a.session_id != "gone-1" for a in plan(world(shop(), [], [orphan], scope={"shop"})))
    assert pairs(plan(world(shop(), [], [orphan], scope={"gone"}))) == [("reap", "gone-1")]


def test_orphans_another_registry_created_are_left_running_and_declared_ones_adopted() -> None:
    """ao.db lost or replaced: the new registry has another identity, and never reaps what it did not create."""
    gone = desired([proj("gone")], [wk("gone", "w")])
    ghost = live(find(gone, "gone", "w"), "gone-1")
    ghost = replace(ghost, stamp=replace(ghost.stamp, registry="old-registry"))
    actions = plan(replace(world(shop(), [], [ghost]), registry_id="new-registry"))
    left = [a for a in actions if a.session_id == "gone-1"]
    assert [(a.verb, a.project, a.worker) for a in left] == [(Verb.LEAVE, "gone", "w")]
    assert "another registry" in left[0].reason and converged(left)
    # The same session, made by this registry, is an orphan and is reaped.
    ours = replace(ghost, stamp=replace(ghost.stamp, registry="new-registry"))
    assert ("reap", "gone-1") in pairs(plan(replace(world(shop(), [], [ours]), registry_id="new-registry")))
    # Declared again: adopted, whichever registry created it.
    actions = plan(replace(world(gone, [], [ghost]), registry_id="new-registry"))
    assert ("adopt", "gone-1") in pairs(actions)


# ---------------------------------------------------------------- converged()


@pytest.mark.parametrize("verbs, expected", [
    ([], True),
    ([Verb.WAIT], True),
    ([Verb.WAIT, Verb.WAIT], True),
    ([Verb.WAIT, Verb.LEAVE], True),  # a session another registry created, left running: nothing to do
    *[([Verb.WAIT, v], False) for v in Verb if v not in (Verb.WAIT, Verb.LEAVE)],
])
def test_converged_means_nothing_but_waiting(verbs: list[Verb], expected: bool) -> None:
    assert converged([Action(v, f"s-{i}", "p", "r") for i, v in enumerate(verbs)]) is expected


# ---------------------------------------------------------------- a property of the planner itself


@settings(max_examples=60, deadline=None)
@given(
    n_workers=st.integers(0, 4),
    orchestrator=st.booleans(),
    counter=st.integers(1, 6),
    strangers=st.lists(st.tuples(st.sampled_from(["shop-orchestrator", *[f"shop-{i}" for i in range(1, 12)],
                                                   "tmp", "x-1"]),
                                 st.sampled_from([None, OTHER_OWNER])), max_size=5),
)
def test_fresh_ids_never_collide_and_foreign_sessions_are_only_ever_blocked_on(
        n_workers: int, orchestrator: bool, counter: int, strangers: list[tuple[str, str | None]]) -> None:
    dps = desired([proj("shop", orchestrator=orchestrator)], [wk("shop", f"w{i}", i) for i in range(n_workers)])
    lives = {sid: foreign(sid, stamp=Stamp(o, "shop", "worker", "w0", "v1-x") if o else None) for sid, o in strangers}
    actions = plan(world(dps, [], lives.values(), {"shop": counter}))
    created = [a for a in actions if a.verb == Verb.CREATE]
    assert len({a.session_id for a in created}) == len(created)
    for a in created:
        assert a.session_id not in lives
        if a.kind == Kind.WORKER:
            assert a.number is not None and a.number >= counter
    for a in actions:
        if a.session_id in lives:
            assert a.verb == Verb.BLOCKED and a.session_id == "shop-orchestrator"
    assert len(actions) == n_workers + int(orchestrator)


# ================================================================ backoff.py


def test_delay_zero_for_the_first_restart() -> None:
    assert backoff.delay(0, "s") == 0.0
    assert backoff.delay(-3, "s") == 0.0


@given(seed=st.text(max_size=20))
def test_delay_doubles_with_jitter_up_to_twenty_percent_and_the_cap(seed: str) -> None:
    for step in range(1, 9):  # 1, 2, ..., 128 seconds before jitter
        raw = 2.0 ** (step - 1)
        assert raw <= backoff.delay(step, seed) <= raw * 1.2
        if step < 8:  # the same seed gives the same jitter: exactly twice the previous delay
            assert backoff.delay(step + 1, seed) == pytest.approx(2 * backoff.delay(step, seed))
    assert 256.0 <= backoff.delay(9, seed) <= 300.0
    for step in (10, 11, 20, 60):
        assert backoff.delay(step, seed) == 300.0


def test_jitter_is_deterministic_per_seed_and_varies_between_seeds() -> None:
    assert backoff.delay(4, "shop-1/3") == backoff.delay(4, "shop-1/3")
    values = {backoff.delay(4, f"shop-{i}/0") for i in range(20)}
    assert len(values) > 10
    assert all(8.0 <= v <= 9.6 for v in values)


@pytest.mark.parametrize("step, quick, uptime, expected", [
    (3, 0, None, (3, 1)),  # unknown uptime counts as a quick failure
    (3, 1, 0.0, (3, 2)),
    (3, 2, 9.99, (3, 3)),
    (3, 2, 10.0, (3, 0)),  # not quick: the count starts over, the step is kept
    (5, 4, 599.9, (5, 0)),
    (5, 4, 600.0, (0, 0)),  # a long run forgets earlier failures
    (5, 4, 86400.0, (0, 0)),
])
def test_after_exit(step: int, quick: int, uptime: float | None, expected: tuple[int, int]) -> None:
    assert backoff.after_exit(step, quick, uptime) == expected


def test_crash_looping_after_three_quick_failures() -> None:
    assert [backoff.crash_looping(n) for n in range(5)] == [False, False, False, True, True]


# ================================================================ desired.py


def test_spec_hash_is_stable_versioned_and_insensitive_to_key_order() -> None:
    a = {"repo": "/r", "agent": {"preset": "codex", "env": {"A": "1", "B": "2"}}, "prompt": "x"}
    b = {"prompt": "x", "agent": {"env": {"B": "2", "A": "1"}, "preset": "codex"}, "repo": "/r"}
    assert spec_hash(a) == spec_hash(b) == spec_hash(dict(a))
    assert spec_hash(a).startswith("v1-") and len(spec_hash(a)) == len("v1-") + 16
    assert spec_hash(a) != spec_hash({**a, "prompt": "y"})
    assert spec_hash(a) != spec_hash({**a, "agent": {**a["agent"], "env": {"A": "1"}}})
    assert spec_hash({"a": None}) != spec_hash({})


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=6))
def test_spec_hash_ignores_insertion_order(d: dict) -> None:
    assert spec_hash(dict(reversed(list(d.items())))) == spec_hash(d)


@pytest.mark.parametrize("old, new, fields", [
    ({"prompt": "a"}, {"prompt": "a"}, []),
    ({"prompt": "a"}, {"prompt": "b"}, ["prompt"]),
    ({"agent": {"command": ["x"]}, "prompt": "a"}, {"agent": {"command": ["y"]}, "prompt": "b"},
     ["agent.command", "prompt"]),
    ({"agent": {"env": {"A": "1"}}}, {"agent": {"env": {"A": "2", "B": "3"}}}, ["agent.env.A", "agent.env.B"]),
    ({"issue": None}, {"issue": "7"}, ["issue"]),
    ({}, {"branch": "b"}, ["branch"]),
    ({"rules": "r"}, {}, ["rules"]),
    ({"agent": {"preset": "codex"}}, {"agent": None}, ["agent"]),
    (None, {"prompt": "x"}, ["(unknown previous spec)"]),
])
def test_changed_fields(old: dict | None, new: dict, fields: list[str]) -> None:
    assert changed_fields(old, new) == fields


@pytest.mark.parametrize("base, override, expected", [
    ({}, None, {"preset": DEFAULT_PRESET, "command": [], "env": {}}),
    ({"env": {"A": "1"}}, {}, {"preset": "claude-code", "command": [], "env": {"A": "1"}}),
    ({"preset": "codex"}, None, {"preset": "codex", "command": [], "env": {}}),
    ({"command": ["my-agent", "-v"]}, None, {"preset": None, "command": ["my-agent", "-v"], "env": {}}),
    # a worker that names a preset replaces the project's preset and command
    ({"preset": "codex", "command": ["x"]}, {"preset": "aider"}, {"preset": "aider", "command": [], "env": {}}),
    # a worker that gives a command replaces the project's preset
    ({"preset": "codex"}, {"command": ["y"]}, {"preset": None, "command": ["y"], "env": {}}),
    # a worker that only sets env keeps the project's agent; env is merged, the worker wins
    ({"preset": "gemini", "env": {"A": "1", "B": "1"}}, {"env": {"B": "2", "C": "3"}},
     {"preset": "gemini", "command": [], "env": {"A": "1", "B": "2", "C": "3"}}),
    ({"preset": "codex", "env": {"A": "1"}}, {"preset": "aider", "env": {"A": "0"}},
     {"preset": "aider", "command": [], "env": {"A": "0"}}),
])
def test_merge_agent(base: dict, override: dict | None, expected: dict) -> None:
    merged = merge_agent(base, override)
    assert merged == expected
    assert list(merged["env"]) == sorted(merged["env"])


def test_desired_projects_defaults_and_overrides() -> None:
    projects = [
        proj("shop", agent={"preset": "codex", "env": {"A": "1"}}, restart="Never",
             orch={"rules": "be nice", "agent": {"command": ["boss"]}}),
        proj("lab", orchestrator=False, agent={}),
        proj("gone", deleted=True),
    ]
    workers = [wk("shop", "a", 0, agent={"env": {"A": "2"}}), wk("shop", "b", 1, restartPolicy="Always"),
               wk("lab", "c", 0, prompt="p", issue="9"), wk("gone", "z")]
    dps = desired(projects, workers)
    assert [p.name for p in dps] == ["shop", "lab"]

    o = find(dps, "shop")
    assert (o.kind, o.worker, o.restart_policy, o.orchestrator_id) == ("orchestrator", None, "Always", "shop-orchestrator")
    assert o.spec["agent"] == {"preset": None, "command": ["boss"], "env": {"A": "1"}}
    assert o.spec["rules"] == "be nice"

    a, b = find(dps, "shop", "a"), find(dps, "shop", "b")
    assert a.spec["agent"] == {"preset": "codex", "command": [], "env": {"A": "2"}}
    assert (a.restart_policy, b.restart_policy) == ("Never", "Always")
    assert a.orchestrator_id == "shop-orchestrator"

    lab = next(p for p in dps if p.name == "lab")
    c = find(dps, "lab", "c")
    assert lab.orchestrator is None and lab.sessions == (c,)
    assert c.spec["agent"]["preset"] == DEFAULT_PRESET
    assert (c.restart_policy, c.orchestrator_id, c.issue) == ("OnFailure", None, "9")
    assert c.spec_hash == spec_hash(c.spec)
