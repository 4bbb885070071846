"""The runtime contract: every runtime (tmux, zellij) must pass these, against the real multiplexer.

tmux runs them everywhere. zellij runs them where a `zellij` binary of version 0.44.2 or newer is
on PATH, and is skipped with that reason otherwise: zellij is not packaged for Debian bookworm,
so it cannot be installed on the machines this suite usually runs on.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from reconciler.messaging.typing import Agent, type_message
from reconciler.paths import DataDir
from reconciler.registry.migrations import ACTIVITY_TABLE
from reconciler.runtime.base import Launch, Stamp
from reconciler.runtime.tmux import TmuxRuntime
from reconciler.runtime.zellij import MIN_VERSION, ZellijRuntime, zellij_version
from tests.conftest import TMUX, crashes_once_shown, retry_until

STAMP = Stamp("owner-x", "proj", "worker", "w1", "v1-abc")
ZELLIJ = shutil.which("zellij")
ZELLIJ_OK = ZELLIJ is not None and (zellij_version(ZELLIJ) or (0,)) >= MIN_VERSION


def _tmux(data_dir: DataDir):
    return TmuxRuntime(data_dir.tmux_socket, data_dir.tmux_config)


def _zellij(data_dir: DataDir):
    return ZellijRuntime(data_dir.zellij_socket_dir, data_dir.zellij_state_dir)


RUNTIMES = [
    pytest.param(_tmux, id="tmux", marks=pytest.mark.skipif(TMUX is None, reason="tmux is not installed")),
    pytest.param(_zellij, id="zellij", marks=pytest.mark.skipif(
        not ZELLIJ_OK, reason="zellij >= 0.44.2 is not on PATH (not packaged for Debian bookworm); "
                              "the zellij contract runs where it is installed")),
]


@pytest.fixture(params=RUNTIMES)
def runtime(request, data_dir):
    made = []

    def make(dd: DataDir = data_dir):
        rt = request.param(dd)
        made.append((rt, dd))
        return rt

    yield make
    for rt, dd in made:
        try:
            for sid in rt.observe():
                rt.kill(sid)
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
            pass
        if rt.name == "tmux" and dd is not data_dir:  # data_dir's own server is the fixture's to end
            subprocess.run([TMUX, "-S", str(dd.tmux_socket), "kill-server"], capture_output=True, timeout=10,
                           check=False)


def launch(sid: str, argv, cwd: str = "/", env=(), stamp: Stamp = STAMP, runtime: str = "tmux") -> Launch:
    return Launch(sid, tuple(argv), cwd, tuple(env), stamp, runtime)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_create_passes_argv_cwd_and_env_verbatim(runtime, tmp_path):
    rt = runtime()
    out = tmp_path / "out.json"
    tricky = ["it's", 'say "hi"', "$HOME `id` $(id)", "naïve ünïcode ✓", "two  spaces", ""]
    code = ("import os, sys, json; open(sys.argv[1], 'w').write(json.dumps("
            "[sys.argv[2:], os.getcwd(), os.environ['AO_X'], os.environ['AO_Y']]))")
    rt.create(launch("s-1", [*python(code), str(out), *tricky], cwd=str(tmp_path),
                     env=[("AO_X", "a b $c 'q'"), ("AO_Y", "✓")], runtime=rt.name))
    data = retry_until(lambda: out.exists() and out.read_text() and json.loads(out.read_text()))
    assert data == [tricky, str(tmp_path), "a b $c 'q'", "✓"]


def test_observe_reports_every_session_in_one_call(runtime, monkeypatch):
    rt = runtime()
    rt.create(launch("a-1", ["sleep", "100"], runtime=rt.name))
    rt.create(launch("a-2", python("import sys; sys.exit(3)"), runtime=rt.name))
    rt.create(launch("a-3", python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), runtime=rt.name))
    seen = retry_until(lambda: (o := rt.observe()) and len(o) == 3 and not o["a-2"].alive and not o["a-3"].alive and o)
    calls = []
    real_run = rt.run
    monkeypatch.setattr(rt, "run", lambda *a, **k: calls.append(a[0]) or real_run(*a, **k))
    seen = rt.observe()
    assert len(calls) == 1, calls
    assert seen["a-1"].alive and seen["a-1"].pid and seen["a-1"].stamp == STAMP
    assert seen["a-1"].stamp.spec_hash == "v1-abc"
    assert (seen["a-2"].exit_status, seen["a-2"].exit_signal) == (3, None)
    assert seen["a-3"].exit_signal == 9
    assert {live.runtime for live in seen.values()} == {rt.name}


def test_relaunch_in_place_replaces_the_agent(runtime):
    rt = runtime()
    rt.create(launch("r-1", ["sh", "-c", crashes_once_shown("first run", status=2)], runtime=rt.name))
    retry_until(lambda: (o := rt.observe()) and "r-1" in o and not o["r-1"].alive)
    assert "first run" in rt.capture("r-1", 20)  # a dead agent's screen stays readable
    new_stamp = Stamp("owner-x", "proj", "worker", "w1", "v1-new")
    rt.respawn(launch("r-1", ["sleep", "100"], stamp=new_stamp, runtime=rt.name))
    live = retry_until(lambda: (o := rt.observe()) and o.get("r-1") and o["r-1"].alive and o["r-1"].pid and o["r-1"])
    assert live.stamp == new_stamp and set(rt.observe()) == {"r-1"}


def test_messages_are_submitted_once_single_and_multi_line(runtime):
    rt = runtime()
    rt.create(launch("m-1", [sys.executable, "-m", "reconciler.sessions.demo_agent"], runtime=rt.name))
    retry_until(lambda: (o := rt.observe()) and "m-1" in o and rt.capture("m-1", 5).rstrip().endswith(">"))
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(ACTIVITY_TABLE)
    conn.execute("create table messages (id integer primary key, outcome text)")
    demo = Agent("demo", time.time())
    assert type_message(rt, conn, "m-1", 1, "just one line", demo).outcome == "delivered"
    assert type_message(rt, conn, "m-1", 2, "first\nsecond\nthird", demo).outcome == "delivered"
    screen = retry_until(lambda: (s := rt.capture("m-1", 80)) and "| third" in s and s)
    assert screen.count("received (1 line):") == 1 and screen.count("  | just one line") == 1
    assert screen.count("received (3 lines):") == 1
    assert "  | first\n  | second\n  | third" in screen


def test_kill_is_idempotent_and_names_at_the_length_limit_work(runtime):
    rt = runtime()
    longest = "p" * 40 + "-orchestrator"  # the longest ID a manifest can produce
    rt.create(launch(longest, ["sleep", "100"], runtime=rt.name))
    assert retry_until(lambda: longest in rt.observe())
    rt.kill(longest)
    rt.kill(longest)
    assert longest not in rt.observe()


def test_sessions_of_another_data_dir_are_invisible(runtime, tmp_path):
    mine = runtime()
    theirs = runtime(DataDir.resolve(tmp_path / "other").ensure())
    theirs.create(launch("other-1", ["sleep", "100"], runtime=theirs.name))
    mine.create(launch("mine-1", ["sleep", "100"], runtime=mine.name))
    assert retry_until(lambda: set(mine.observe()) == {"mine-1"})
    assert set(theirs.observe()) == {"other-1"}
