"""A server restart is one event, not one crash per session: the planner rule, the launch limit's
exemption, the one `RuntimeRestarted` event and the one folded notice per orchestrator."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile import backoff
from reconciler.reconcile.notices import Notice, compact_ids, fold
from reconciler.reconcile.plan import Phase, Recovery, Verb, plan
from reconciler.reconcile.ratelimit import (
    RECOVERY_BURST,
    RECOVERY_WINDOW_SECONDS,
    LaunchLimiter,
)
from reconciler.reconcile.service import Service
from reconciler.registry import messages
from reconciler.runtime.memory import MemoryRuntime
from tests.unit.test_plan import NOW, dead, desired, find, live, proj, record, wk, world
from tests.unit.test_ratelimit import FakeTime


def _shop(n: int = 3):
    dps = desired([proj("shop")], [wk("shop", f"w{i}", i) for i in range(n)])
    sessions = [(find(dps, "shop"), "shop-orchestrator")] + [(find(dps, "shop", f"w{i}"), f"shop-{i + 1}")
                                                             for i in range(n)]
    return dps, sessions


# ---------------------------------------------------------------- the planner rule


def test_every_session_gone_at_once_is_a_server_restart_not_crashes() -> None:
    dps, sessions = _shop()
    # Each had already failed quickly twice: one more counted failure would make it crash-loop.
    records = [record(ds, sid, runtime="tmux", backoff_step=2, quick_failures=2, started_at=NOW - 1)
               for ds, sid in sessions]
    actions = plan(world(dps, records, [], {"shop": 4}))
    assert [(a.verb, a.session_id) for a in actions] == [(Verb.RELAUNCH, sid) for _, sid in sessions]
    assert {a.recovery for a in actions} == {Recovery("tmux", NOW)}  # one restart, shared by all
    assert all((a.backoff_step, a.quick_failures) == (2, 2) for a in actions)  # nothing counted
    assert all("tmux server was restarted" in a.reason for a in actions)
    assert not backoff.crash_looping(max(a.quick_failures for a in actions))


def test_one_session_gone_while_others_run_is_still_counted() -> None:
    dps, sessions = _shop()
    records = [record(ds, sid, runtime="tmux", backoff_step=2, quick_failures=2, started_at=NOW - 1)
               for ds, sid in sessions]
    lives = [live(ds, sid) for ds, sid in sessions[1:]]
    action = plan(world(dps, records, lives, {"shop": 4}))[0]
    assert action.session_id == "shop-orchestrator" and action.recovery is None
    assert (action.verb, action.phase, action.quick_failures) == (Verb.BACKOFF, Phase.CRASH_LOOP, 3)


def test_sessions_gone_from_a_server_that_started_after_them_went_with_the_old_server() -> None:
    # `ao reconcile -p other` already started its sessions on the new server: this project's
    # sessions are still missing, not crashed.
    dps, sessions = _shop()
    records = [record(ds, sid, runtime="tmux", backoff_step=2, quick_failures=2, started_at=NOW - 60)
               for ds, sid in sessions[1:]]
    orch, orch_id = sessions[0]
    records.append(record(orch, orch_id, runtime="tmux", started_at=NOW - 5))
    lives = [live(orch, orch_id, runtime="tmux", server_started=float(int(NOW - 10)))]  # relaunched since
    actions = plan(world(dps, records, lives, {"shop": 4}))
    assert [(a.verb, a.session_id) for a in actions] == [(Verb.RELAUNCH, sid) for _, sid in sessions[1:]]
    assert {a.recovery for a in actions} == {Recovery("tmux", NOW)}
    assert all((a.backoff_step, a.quick_failures) == (2, 2) for a in actions)


def test_a_session_gone_from_the_server_it_started_on_is_counted() -> None:
    dps, sessions = _shop()
    records = [record(ds, sid, runtime="tmux", backoff_step=2, quick_failures=2, started_at=NOW - 1)
               for ds, sid in sessions]
    lives = [live(ds, sid, runtime="tmux", server_started=float(int(NOW - 60))) for ds, sid in sessions[1:]]
    action = plan(world(dps, records, lives, {"shop": 4}))[0]
    assert action.session_id == "shop-orchestrator" and action.recovery is None
    assert (action.verb, action.phase, action.quick_failures) == (Verb.BACKOFF, Phase.CRASH_LOOP, 3)


def test_an_agent_that_exits_leaves_a_dead_pane_and_is_a_crash_whatever_else_runs() -> None:
    dps = desired([proj("shop", orchestrator=False)], [wk("shop", "a")])
    a = find(dps, "shop", "a")
    rec = record(a, "shop-1", runtime="tmux", backoff_step=2, quick_failures=2, started_at=NOW - 1)
    action = plan(world(dps, [rec], [dead(a, "shop-1", 7, dead_at=NOW)], {"shop": 2}))[0]
    assert action.recovery is None and action.phase == Phase.CRASH_LOOP


def test_sessions_on_another_runtime_do_not_hide_a_restart() -> None:
    dps, sessions = _shop(1)
    (orch, orch_id), (worker, worker_id) = sessions
    records = [record(orch, orch_id, runtime="zellij"), record(worker, worker_id, runtime="tmux")]
    lives = [live(orch, orch_id, runtime="zellij")]
    action = plan(world(dps, records, lives, {"shop": 2}))[0]
    assert (action.session_id, action.recovery) == (worker_id, Recovery("tmux", NOW))


def test_a_sessions_that_was_not_running_is_not_part_of_a_restart() -> None:
    dps, sessions = _shop(1)
    (orch, orch_id), (worker, worker_id) = sessions
    records = [record(orch, orch_id, runtime="tmux"),
               record(worker, worker_id, runtime="tmux", phase=Phase.PENDING, next_retry_at=NOW + 50)]
    actions = plan(world(dps, records, [], {"shop": 2}))
    assert [(a.session_id, a.verb, a.recovery is not None) for a in actions] == [
        (orch_id, Verb.RELAUNCH, True), (worker_id, Verb.WAIT, False)]


# ---------------------------------------------------------------- the launch limit


def test_a_restarts_relaunches_skip_the_launch_limit_a_crash_storms_do_not() -> None:
    t = FakeTime()
    limiter = LaunchLimiter(1.0, burst=1, clock=t.clock, sleep=t.sleep)
    restart = Recovery("tmux", 1.0)
    assert sum(limiter.acquire(restart) for _ in range(100)) == 0.0
    assert t.now == 100.0
    assert sum(limiter.acquire() for _ in range(5)) == pytest.approx(4.0)  # a storm is paced


def test_a_server_that_keeps_dying_is_paced_like_a_storm() -> None:
    t = FakeTime()
    limiter = LaunchLimiter(1.0, burst=1, clock=t.clock, sleep=t.sleep)
    for i in range(RECOVERY_BURST):
        assert [limiter.acquire(Recovery("tmux", float(i))) for _ in range(3)] == [0.0] * 3
    storm = Recovery("tmux", 99.0)
    assert sum(limiter.acquire(storm) for _ in range(3)) > 0
    t.now += RECOVERY_WINDOW_SECONDS + 10
    assert [limiter.acquire(Recovery("tmux", 200.0)) for _ in range(3)] == [0.0] * 3


# ---------------------------------------------------------------- notices


def _notice(sid: str, *, kind: str = "relaunched", recovery: Recovery | None = None, text: str = "") -> Notice:
    return Notice("shop-orchestrator", "shop", sid, text or f"{sid} was relaunched (restart 1): x", kind, recovery)


def test_ids_are_listed_compactly() -> None:
    ids = [f"shop-{n}" for n in (*range(1, 41), 42, 44, 45)] + ["web-3", "shop-orchestrator"]
    assert compact_ids(ids) == "shop-orchestrator, shop-1…shop-40, shop-42, shop-44, shop-45, web-3"
    many = compact_ids(f"shop-{n}" for n in range(1, 60, 2))
    assert many.endswith(" and 18 more") and many.startswith("shop-1, shop-3")


def test_a_restart_burst_is_one_message_per_orchestrator() -> None:
    restart = Recovery("tmux", NOW)
    burst = [_notice(f"shop-{n}", recovery=restart) for n in range(1, 101)]
    assert fold(burst) == [("shop-orchestrator", "shop",
                            "[from ao] relaunched shop-1…shop-100 after the tmux server restarted")]


def test_a_few_notices_keep_their_words_and_a_burst_of_one_kind_is_listed() -> None:
    assert fold([_notice("shop-1", text="shop-1 failed: exited 1")]) == [
        ("shop-orchestrator", "shop", "[from ao] shop-1 failed: exited 1")]
    few = fold([_notice("shop-1", text="a"), _notice("shop-2", kind="failed", text="b")])
    assert few == [("shop-orchestrator", "shop", "[from ao] a\n[from ao] b")]
    storm = fold([_notice(f"shop-{n}") for n in range(1, 8)])
    assert storm == [("shop-orchestrator", "shop", "[from ao] relaunched: shop-1…shop-7 (see `ao events`)")]


# ---------------------------------------------------------------- one pass, for real


def test_a_pass_after_a_server_restart_records_one_event_and_queues_one_notice(monkeypatch) -> None:
    root = Path(tempfile.mkdtemp(prefix="ao-recovery-"))
    runtime = MemoryRuntime()
    clock = FakeTime()
    svc = Service(DataDir.resolve(root / "d").ensure(), runtime=runtime, clock=lambda: 1_700_000_000.0 + clock.now)
    text = ("apiVersion: ao/v1\nkind: Project\nmetadata: {name: shop}\nspec:\n  repo: " + str(root) +
            "\n  agent: {command: [sleep, '100']}\n  workspace: none\n  workers:\n" +
            "".join(f"    - name: w{i}\n" for i in range(12)))
    loaded, issues = load_text(text, str(root / "shop.yaml"), root)
    assert not issues
    assert svc.apply(loaded).reconcile.ok
    before = {s.id: (s.backoff_step, s.quick_failures) for s in svc.sessions()}
    queued_before = len(messages.queued(svc.registry.conn))
    runtime.sessions.clear()  # the server and every session on it are gone
    clock.now += 1
    report = svc.reconcile()
    assert {o.summary for o in report.outcomes} == {"relaunched"} and len(report.outcomes) == 13
    assert len(runtime.sessions) == 13
    assert {s.id: (s.backoff_step, s.quick_failures) for s in svc.sessions()} == before
    assert [e.reason for e in svc.events() if e.reason == "RuntimeRestarted"] == ["RuntimeRestarted"]
    new = messages.queued(svc.registry.conn)[queued_before:]
    assert [(m["target"], m["body"]) for m in new] == [
        ("shop-orchestrator", "[from ao] relaunched shop-1…shop-12 after the tmux server restarted")]
    svc.close()


# ---------------------------------------------------------------- the server watch


class _FakeTmux:
    name = "tmux"

    def __init__(self, pid: int) -> None:
        self.pid, self.calls = pid, 0

    def run(self, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
        from reconciler.runtime.base import CommandResult

        self.calls += 1
        return CommandResult(0, f"{self.pid}\n", "")


@pytest.mark.skipif(not hasattr(__import__("os"), "pidfd_open"), reason="pidfds are Linux-only")
def test_the_server_watch_wakes_the_controller_when_the_server_exits() -> None:
    import subprocess
    import threading

    from reconciler.reconcile.server_watch import ServerWatch
    from tests.conftest import retry_until

    server = subprocess.Popen(["sleep", "1000"])
    woken = threading.Event()
    watch = ServerWatch(_FakeTmux(server.pid), woken.set)
    watch.refresh()
    watch.refresh()  # already watched: not asked again
    assert watch.runtime.calls == 1 and not woken.is_set()
    server.kill()
    server.wait()
    retry_until(woken.is_set, message="woken when the server exited")
