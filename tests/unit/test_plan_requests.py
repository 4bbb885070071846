"""Decisions the planner makes for callers: a user's explicit start or relaunch, why a name is
blocked, and the back-off after a launch that fails. Builders come from test_plan."""

from __future__ import annotations

import dataclasses

from reconciler.reconcile import backoff
from reconciler.reconcile.plan import BlockReason, Force, LaunchRetry, Verb, World, plan
from reconciler.registry.records import Phase
from reconciler.runtime.base import Stamp
from tests.unit.test_plan import (
    NOW,
    OTHER_OWNER,
    _one_worker,
    dead,
    desired,
    find,
    foreign,
    live,
    only,
    proj,
    record,
    shop,
    steady,
    wk,
    world,
)


def forced(w: World, **requests: Force) -> World:
    return dataclasses.replace(w, forced={sid.replace("_", "-"): f for sid, f in requests.items()})


def test_an_explicit_start_relaunches_a_backing_off_agent_now() -> None:
    dps, a, rec = _one_worker(started_at=NOW - 2, restarts=1, backoff_step=3, quick_failures=1)
    w = world(dps, [rec], [dead(a, "shop-1")], {"shop": 2})
    assert only(plan(w)).verb == Verb.BACKOFF
    action = only(plan(forced(w, shop_1=Force.START)))
    assert (action.verb, action.backoff_step, action.quick_failures) == (Verb.RELAUNCH, 3, 0)
    assert action.reason == "requested by `ao orchestrator ensure`"


def test_an_explicit_start_relaunches_an_agent_its_policy_leaves_exited() -> None:
    dps = desired([proj("shop", orchestrator=False, restart="Never")], [wk("shop", "a")])
    a = find(dps, "shop", "a")
    w = world(dps, [record(a, "shop-1")], [dead(a, "shop-1", status=0)], {"shop": 2})
    assert only(plan(w)).verb == Verb.EXITED
    assert only(plan(forced(w, shop_1=Force.START))).verb == Verb.RELAUNCH


def test_an_explicit_start_leaves_a_running_agent_alone() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    assert plan(forced(world(dps, records, lives, counters), shop_orchestrator=Force.START)) == []


def test_an_explicit_relaunch_restarts_a_running_agent_from_a_clean_slate() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    records = [dataclasses.replace(r, backoff_step=4, quick_failures=2) if r.id == "shop-1" else r for r in records]
    action = only(plan(forced(world(dps, records, lives, counters), shop_1=Force.RELAUNCH)))
    assert (action.verb, action.session_id, action.backoff_step, action.quick_failures) == (
        Verb.RELAUNCH, "shop-1", 0, 0)
    assert action.live is not None and action.live.alive


def test_an_explicit_relaunch_reaches_a_session_of_a_suspended_project() -> None:
    dps = shop(suspended=True)
    records, lives, counters = steady(dps)
    w = world(dps, records, lives, counters)
    assert plan(w) == []
    assert only(plan(forced(w, shop_2=Force.RELAUNCH))).session_id == "shop-2"


def test_a_name_taken_by_a_stranger_is_blocked_with_a_reason_code() -> None:
    dps = desired([proj("shop")])
    o = find(dps, "shop")
    squatter = foreign("shop-orchestrator", stamp=Stamp(OTHER_OWNER, "shop", "orchestrator", "", "x"))
    first = only(plan(world(dps, [], [squatter])))
    assert (first.verb, first.block) == (Verb.BLOCKED, BlockReason.NAME_TAKEN)
    blocked = record(o, "shop-orchestrator", phase=Phase.PENDING, reason=str(BlockReason.NAME_TAKEN))
    later = only(plan(world(dps, [blocked], [squatter])))
    assert (later.verb, later.block) == (Verb.WAIT, BlockReason.NAME_TAKEN)
    # even an explicit start does not touch it
    assert only(plan(forced(world(dps, [blocked], [squatter]), shop_orchestrator=Force.START))).verb == Verb.WAIT


def test_every_launch_carries_the_back_off_to_record_if_it_fails() -> None:
    dps = shop()
    actions = plan(world(dps))
    assert {a.verb for a in actions} == {Verb.CREATE}
    for action in actions:
        assert action.launch_retry is not None and action.launch_retry.step == 1
        assert action.launch_retry.at >= NOW + backoff.BASE_SECONDS
    dps, a, rec = _one_worker(backoff_step=2)
    relaunch = only(plan(world(dps, [rec], [dead(a, "shop-1")], {"shop": 2})))
    assert relaunch.verb == Verb.RELAUNCH and relaunch.launch_retry is not None
    assert relaunch.launch_retry.step == 3
    assert isinstance(relaunch.launch_retry, LaunchRetry)


def test_actions_that_start_nothing_carry_no_launch_retry() -> None:
    dps = shop()
    records, lives, counters = steady(dps)
    lives = [live(find(dps, "shop", "a"), "shop-1", alive=True)] + [x for x in lives if x.session_id != "shop-1"]
    records = [r for r in records if r.id != "shop-1"]  # row lost: adopt
    action = only(plan(world(dps, records, lives, counters)))
    assert action.verb == Verb.ADOPT and action.launch_retry is None
