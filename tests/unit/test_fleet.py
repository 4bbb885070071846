"""The fleet: tmux and zellij behind one runtime, and what `runtime: auto` does to a project.

The two multiplexers are in-memory runtimes named "tmux" and "zellij" (their sessions say which
runtime hosts them, as the real adapters' do); which of them is installed is given explicitly.
The service tests run the real Service (SQLite registry, planner, executor) over such a fleet.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest

import reconciler.messaging.typing
import reconciler.runtime.tmux as tmux_module
from reconciler.errors import AoError, RuntimeMissing
from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile.service import Service
from reconciler.registry.records import Phase
from reconciler.runtime.base import Launch, Stamp
from reconciler.runtime.fleet import Fleet
from reconciler.runtime.memory import MemoryRuntime
from reconciler.runtime.tmux import TmuxRuntime

STAMP = Stamp("ao-0123456789ab", "shop", "worker", "a", "v1-0011223344556677")
START = 1_700_000_000.0


def named(name: str, journal: list[tuple[str, str, str]] | None = None) -> MemoryRuntime:
    """An in-memory runtime called `name` whose sessions report `runtime=name`."""
    runtime = MemoryRuntime()
    runtime.name = name  # type: ignore[misc]
    start = runtime._start
    runtime._start = lambda launch: dataclasses.replace(start(launch), runtime=name)  # type: ignore[method-assign]
    if journal is not None:
        for op in ("create", "respawn", "kill"):
            method = getattr(runtime, op)

            def logged(arg: Any, _op: str = op, _method: Any = method) -> Any:
                journal.append((name, _op, arg.session_id if isinstance(arg, Launch) else arg))
                return _method(arg)

            setattr(runtime, op, logged)
    return runtime


def launch(sid: str, runtime: str) -> Launch:
    return Launch(sid, ("agent",), "/srv/shop", (("AO_SESSION_ID", sid),), STAMP, runtime=runtime)


@pytest.fixture
def journal() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def tmux(journal: list[tuple[str, str, str]]) -> MemoryRuntime:
    return named("tmux", journal)


@pytest.fixture
def zellij(journal: list[tuple[str, str, str]]) -> MemoryRuntime:
    return named("zellij", journal)


def fleet(tmux: Any, zellij: Any, *, zellij_installed: bool = True, tmux_installed: bool = True) -> Fleet:
    return Fleet({"tmux": tmux, "zellij": zellij}, installed={"tmux": tmux_installed, "zellij": zellij_installed})


# ---------------------------------------------------------------- resolve


@pytest.mark.parametrize(("installed", "declared", "resolved"), [
    ({"tmux": True, "zellij": True}, "auto", "zellij"),
    ({"tmux": False, "zellij": True}, "auto", "zellij"),
    ({"tmux": True, "zellij": False}, "auto", "tmux"),
    ({"tmux": False, "zellij": False}, "auto", "tmux"),
    ({"tmux": True}, "auto", "tmux"),
    ({"tmux": True, "zellij": True}, "tmux", "tmux"),
    ({"tmux": True, "zellij": False}, "zellij", "zellij"),
    ({"tmux": False, "zellij": True}, "tmux", "tmux"),
])
def test_resolve(tmux: MemoryRuntime, zellij: MemoryRuntime, installed: dict[str, bool], declared: str,
                 resolved: str) -> None:
    assert Fleet({"tmux": tmux, "zellij": zellij}, installed=installed).resolve(declared) == resolved


def test_auto_is_tmux_when_the_fleet_has_no_zellij_even_if_installed(tmux: MemoryRuntime) -> None:
    assert Fleet({"tmux": tmux}, installed={"tmux": True, "zellij": True}).resolve("auto") == "tmux"


# ---------------------------------------------------------------- observe


def test_observe_merges_both_runtimes_and_remembers_where_each_session_lives(
        tmux: MemoryRuntime, zellij: MemoryRuntime) -> None:
    tmux.create(launch("shop-1", "tmux"))
    tmux.create(launch("shop-2", "tmux"))
    zellij.create(launch("shop-3", "zellij"))
    f = fleet(tmux, zellij)

    seen = f.observe()

    assert {sid: live.runtime for sid, live in seen.items()} == {"shop-1": "tmux", "shop-2": "tmux",
                                                                 "shop-3": "zellij"}
    assert seen["shop-3"] == zellij.sessions["shop-3"].live
    assert tmux.calls.count(("observe", "")) == 1 and zellij.calls.count(("observe", "")) == 1

    def no_probe(session_id: str) -> None:
        raise AssertionError("where() must answer from the observation")

    tmux.probe = zellij.probe = no_probe  # type: ignore[method-assign]
    assert [f.where(s) for s in ("shop-1", "shop-2", "shop-3")] == ["tmux", "tmux", "zellij"]


def test_where_asks_each_installed_runtime_before_any_observation(tmux: MemoryRuntime,
                                                                  zellij: MemoryRuntime) -> None:
    zellij.create(launch("shop-3", "zellij"))
    f = fleet(tmux, zellij)
    assert f.where("shop-3") == "zellij"
    assert f.where("shop-9") is None
    assert f.probe("shop-3") == zellij.sessions["shop-3"].live
    assert f.probe("shop-9") is None


def test_a_runtime_that_is_not_installed_is_not_observed(tmux: MemoryRuntime, zellij: MemoryRuntime) -> None:
    tmux.create(launch("shop-1", "tmux"))
    zellij.create(launch("shop-3", "zellij"))
    f = fleet(tmux, zellij, zellij_installed=False)
    assert set(f.observe()) == {"shop-1"}
    assert ("observe", "") not in zellij.calls
    assert f.where("shop-3") is None  # nor asked about single sessions


def test_zellij_alone_is_enough(tmux: MemoryRuntime, zellij: MemoryRuntime) -> None:
    zellij.create(launch("shop-3", "zellij"))
    f = fleet(tmux, zellij, tmux_installed=False)
    assert set(f.observe()) == {"shop-3"}
    assert ("observe", "") not in tmux.calls


def test_with_nothing_installed_observe_raises_tmuxs_error(tmp_path: Path, zellij: MemoryRuntime,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tmux_module.shutil, "which", lambda name, *a, **k: None)
    real_tmux = TmuxRuntime(tmp_path / "tmux.sock", tmp_path / "tmux.conf")
    f = fleet(real_tmux, zellij, tmux_installed=False, zellij_installed=False)
    with pytest.raises(RuntimeMissing) as caught:
        f.observe()
    assert caught.value.message == "tmux is not installed"
    assert "apt-get install tmux" in (caught.value.hint or "")
    assert ("observe", "") not in zellij.calls


# ---------------------------------------------------------------- lifecycle


def test_create_goes_to_the_launchs_runtime(tmux: MemoryRuntime, zellij: MemoryRuntime,
                                            journal: list[tuple[str, str, str]]) -> None:
    f = fleet(tmux, zellij)
    pid_z = f.create(launch("shop-1", "zellij"))
    pid_t = f.create(launch("shop-2", "tmux"))
    assert journal == [("zellij", "create", "shop-1"), ("tmux", "create", "shop-2")]
    assert pid_z == zellij.sessions["shop-1"].live.pid and pid_t == tmux.sessions["shop-2"].live.pid
    assert set(zellij.sessions) == {"shop-1"} and set(tmux.sessions) == {"shop-2"}
    assert (f.where("shop-1"), f.where("shop-2")) == ("zellij", "tmux")


def test_create_on_an_unknown_runtime_is_refused(tmux: MemoryRuntime, zellij: MemoryRuntime) -> None:
    with pytest.raises(RuntimeMissing, match="unknown runtime 'screen'"):
        fleet(tmux, zellij).create(launch("shop-1", "screen"))


def test_respawn_on_the_same_runtime_is_in_place(tmux: MemoryRuntime, zellij: MemoryRuntime,
                                                 journal: list[tuple[str, str, str]]) -> None:
    zellij.create(launch("shop-1", "zellij"))
    f = fleet(tmux, zellij)
    f.observe()
    journal.clear()
    pid = f.respawn(launch("shop-1", "zellij"))
    assert journal == [("zellij", "respawn", "shop-1")]
    assert zellij.sessions["shop-1"].launches == 2 and pid == zellij.sessions["shop-1"].live.pid


@pytest.mark.parametrize(("old", "new"), [("tmux", "zellij"), ("zellij", "tmux")])
def test_respawn_onto_another_runtime_kills_the_old_session_then_creates_the_new(
        tmux: MemoryRuntime, zellij: MemoryRuntime, journal: list[tuple[str, str, str]], old: str, new: str) -> None:
    runtimes = {"tmux": tmux, "zellij": zellij}
    runtimes[old].create(launch("shop-1", old))
    f = fleet(tmux, zellij)
    f.observe()
    journal.clear()

    pid = f.respawn(launch("shop-1", new))

    assert journal == [(old, "kill", "shop-1"), (new, "create", "shop-1")]
    assert "shop-1" not in runtimes[old].sessions
    assert pid == runtimes[new].sessions["shop-1"].live.pid
    assert f.where("shop-1") == new
    assert f.observe()["shop-1"].runtime == new


def test_a_batch_goes_to_each_launchs_runtime_and_answers_in_launch_order(
        tmux: MemoryRuntime, zellij: MemoryRuntime, journal: list[tuple[str, str, str]]) -> None:
    tmux.create(launch("shop-2", "tmux"))  # taken: its create fails, alone
    f = fleet(tmux, zellij)
    journal.clear()

    started = f.create_many([launch("shop-1", "zellij"), launch("shop-2", "tmux"), launch("shop-3", "tmux")])

    assert [s.session_id for s in started] == ["shop-1", "shop-2", "shop-3"]
    assert [s.ok for s in started] == [True, False, True]
    assert "duplicate session: shop-2" in str(started[1].error)
    assert started[0].pid == zellij.sessions["shop-1"].live.pid and started[2].pid == tmux.sessions["shop-3"].live.pid
    assert sorted(journal) == [("tmux", "create", "shop-2"), ("tmux", "create", "shop-3"),
                               ("zellij", "create", "shop-1")]
    assert (f.where("shop-1"), f.where("shop-3")) == ("zellij", "tmux")


def test_a_batch_respawn_moves_a_session_and_keeps_its_last_words(
        tmux: MemoryRuntime, zellij: MemoryRuntime, journal: list[tuple[str, str, str]]) -> None:
    tmux.create(launch("shop-1", "tmux"))
    tmux.create(launch("shop-2", "tmux"))
    tmux.sessions["shop-1"].output.append("moving out")
    tmux.sessions["shop-2"].output.append("staying")
    f = fleet(tmux, zellij)
    f.observe()
    journal.clear()

    started = f.respawn_many([launch("shop-1", "zellij"), launch("shop-2", "tmux"), launch("shop-9", "tmux")],
                             capture=5)

    assert [(s.session_id, s.ok, s.last_output) for s in started] == [
        ("shop-1", True, "moving out"), ("shop-2", True, "staying"), ("shop-9", False, "")]
    assert journal == [("tmux", "kill", "shop-1"), ("tmux", "respawn", "shop-2"), ("tmux", "respawn", "shop-9"),
                       ("zellij", "create", "shop-1")]
    assert f.where("shop-1") == "zellij" and set(tmux.sessions) == {"shop-2"}


def test_operations_on_a_session_go_to_the_runtime_that_hosts_it(
        tmux: MemoryRuntime, zellij: MemoryRuntime, journal: list[tuple[str, str, str]]) -> None:
    tmux.create(launch("shop-1", "tmux"))
    zellij.create(launch("shop-2", "zellij"))
    f = fleet(tmux, zellij)
    f.observe()

    f.paste("shop-2", "hello zellij")
    f.press_enter("shop-2")
    f.paste("shop-1", "hello tmux")
    assert zellij.sessions["shop-2"].output == ["hello zellij"]
    assert tmux.sessions["shop-1"].output == ["hello tmux"]
    assert ("enter", "shop-2") in zellij.calls and ("enter", "shop-2") not in tmux.calls
    assert f.capture("shop-2", 5) == "hello zellij"
    assert f.capture("shop-1", 5) == "hello tmux"
    assert f.cursor_line("shop-2") == ""
    assert f.attach_argv("shop-2") == ["true", "shop-2"]

    journal.clear()
    f.kill("shop-2")
    assert journal == [("zellij", "kill", "shop-2")]
    assert set(zellij.sessions) == set() and set(tmux.sessions) == {"shop-1"}
    assert f.where("shop-2") is None
    f.kill("shop-2")  # already gone: not an error
    assert journal == [("zellij", "kill", "shop-2")]


def test_operations_on_a_session_that_is_nowhere_fail_clearly(tmux: MemoryRuntime, zellij: MemoryRuntime) -> None:
    f = fleet(tmux, zellij)
    f.observe()
    for call in (lambda: f.capture("shop-9", 5), lambda: f.paste("shop-9", "x"), lambda: f.press_enter("shop-9"),
                 lambda: f.attach_argv("shop-9")):
        with pytest.raises(AoError, match="session shop-9 has no live tmux or zellij session"):
            call()


# ---------------------------------------------------------------- the service over a fleet


MANIFEST = """\
apiVersion: ao/v1
kind: Project
metadata: {{name: shop}}
spec:
  repo: {repo}
  workspace: none
  agent: {{command: ["true"]}}
  workers:
    - {{name: a, prompt: fix the login bug}}
    - {{name: b, prompt: write the tests}}
---
apiVersion: ao/v1
kind: Project
metadata: {{name: pinned}}
spec:
  repo: {repo}
  runtime: tmux
  workspace: none
  agent: {{command: ["true"]}}
  workers:
    - {{name: c, prompt: stay where you are}}
"""
AUTO = {"shop-orchestrator", "shop-1", "shop-2"}
PINNED = {"pinned-orchestrator", "pinned-1"}


@pytest.fixture(autouse=True)
def _no_typing_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler.messaging.typing, "PAUSE_BEFORE_ENTER", 0.0)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def service(tmp_path: Path, f: Fleet) -> Service:
    """The real service on one data dir; a new one per `ao` run, as the CLI makes."""
    return Service(DataDir.resolve(tmp_path / "data"), runtime=f, clock=lambda: START, on_wait=lambda message: None)


def apply(ao: Service, tmp_path: Path, repo: Path) -> None:
    loaded, issues = load_text(textwrap.dedent(MANIFEST.format(repo=repo)), "<test>", tmp_path)
    assert not issues, issues
    report = ao.apply(loaded)
    assert report.reconcile.ok, [(o.action.session_id, o.detail) for o in report.reconcile.outcomes]


def rows(ao: Service) -> dict[str, tuple[str | None, str]]:
    return {r.id: (r.runtime, r.phase) for r in ao.sessions()}


def test_installing_zellij_moves_auto_projects_to_it_and_leaves_pinned_ones_on_tmux(
        tmp_path: Path, repo: Path) -> None:
    tmux, zellij = named("tmux"), named("zellij")

    before = service(tmp_path, fleet(tmux, zellij, zellij_installed=False))
    apply(before, tmp_path, repo)
    assert set(tmux.sessions) == AUTO | PINNED and set(zellij.sessions) == set()
    assert rows(before) == {sid: ("tmux", Phase.RUNNING) for sid in AUTO | PINNED}
    assert ("observe", "") not in zellij.calls

    # zellij gets installed; the next `ao reconcile` runs with a fleet that sees it.
    after = service(tmp_path, fleet(tmux, zellij, zellij_installed=True))
    report = after.reconcile()

    assert sorted((a.verb.value, a.session_id, a.reason) for a in report.actions) == [
        ("recreate", sid, "spec changed: runtime") for sid in sorted(AUTO)]
    assert report.ok and {o.summary for o in report.outcomes} == {"recreated"}
    assert set(zellij.sessions) == AUTO
    assert set(tmux.sessions) == PINNED
    assert {sid: ("kill", sid) in tmux.calls for sid in AUTO | PINNED} == {
        **{sid: True for sid in AUTO}, **{sid: False for sid in PINNED}}
    assert rows(after) == {**{sid: ("zellij", Phase.RUNNING) for sid in AUTO},
                           **{sid: ("tmux", Phase.RUNNING) for sid in PINNED}}
    for sid in AUTO:
        record = after.registry.session(sid)
        assert record is not None and record.spec["runtime"] == "zellij"
        assert zellij.sessions[sid].live.stamp.spec_hash == record.spec_hash
        assert zellij.sessions[sid].launch.runtime == "zellij"

    # Converged: nothing more to do, and the sessions stay where they are.
    assert service(tmp_path, fleet(tmux, zellij, zellij_installed=True)).reconcile().actions == []
    assert set(zellij.sessions) == AUTO and set(tmux.sessions) == PINNED


def test_a_launch_that_fails_in_a_batch_is_reported_alone(tmp_path: Path, repo: Path) -> None:
    tmux, zellij = named("tmux"), named("zellij")
    create = tmux.create

    def refuse_shop_1(one: Launch) -> int | None:
        if one.session_id == "shop-1":
            raise tmux_module.RuntimeFailure("tmux new-session failed: fork failed: No space left on device")
        return create(one)

    tmux.create = refuse_shop_1  # type: ignore[method-assign]
    ao = service(tmp_path, fleet(tmux, zellij, zellij_installed=False))
    loaded, issues = load_text(textwrap.dedent(MANIFEST.format(repo=repo)), "<test>", tmp_path)
    assert not issues, issues

    report = ao.apply(loaded).reconcile

    outcomes = {o.action.session_id: (o.ok, o.summary) for o in report.outcomes}
    assert outcomes.pop("shop-1") == (False, "failed")
    assert outcomes == {sid: (True, "created") for sid in (AUTO | PINNED) - {"shop-1"}}
    assert set(tmux.sessions) == (AUTO | PINNED) - {"shop-1"}
    record = ao.registry.session("shop-1")
    assert record is not None and record.phase == Phase.FAILED and record.reason == "RuntimeError"
    assert "No space left on device" in (record.message or "")
    assert rows(ao) == {**{sid: ("tmux", Phase.RUNNING) for sid in (AUTO | PINNED) - {"shop-1"}},
                        "shop-1": ("tmux", Phase.FAILED)}


def test_with_zellij_installed_from_the_start_only_pinned_projects_use_tmux(tmp_path: Path, repo: Path) -> None:
    tmux, zellij = named("tmux"), named("zellij")
    ao = service(tmp_path, fleet(tmux, zellij, zellij_installed=True))
    apply(ao, tmp_path, repo)
    assert set(zellij.sessions) == AUTO and set(tmux.sessions) == PINNED
    assert rows(ao) == {**{sid: ("zellij", Phase.RUNNING) for sid in AUTO},
                        **{sid: ("tmux", Phase.RUNNING) for sid in PINNED}}
    assert ao.reconcile().actions == []
