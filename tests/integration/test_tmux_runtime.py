"""tmux-specific behaviour, beyond the runtime contract (test_runtime_contract.py)."""

from __future__ import annotations

import sys

import pytest

from reconciler.errors import RuntimeFailure
from reconciler.runtime.base import CommandResult, Launch, Stamp
from reconciler.runtime.tmux import TmuxRuntime
from tests.conftest import crashes_once_shown, needs_tmux, retry_until

pytestmark = needs_tmux

STAMP = Stamp("owner-x", "proj", "worker", "w1", "v1-abc")


@pytest.fixture
def runtime(data_dir):
    return TmuxRuntime(data_dir.tmux_socket, data_dir.tmux_config)


def launch(sid: str, argv, cwd: str = "/", env=(), stamp: Stamp = STAMP) -> Launch:
    return Launch(sid, tuple(argv), cwd, tuple(env), stamp)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_single_word_command_is_executed_not_interpreted(runtime, tmp_path):
    marker = tmp_path / "ran"
    runtime.create(launch("s-1", [f"touch {marker}; sleep 100"]))  # one argument: a program name, not a shell line
    retry_until(lambda: not runtime.observe()["s-1"].alive)
    assert not marker.exists()


def test_exit_statuses_survive_concurrent_clients(runtime):
    """tmux 3.3a can miss SIGCHLD while a client command runs; observe() must recover the status."""
    for i in range(40):
        runtime.create(launch(f"x-{i}", python(f"import sys, time; time.sleep(0.2); sys.exit({i % 5 + 1})")))
    for _ in range(100):
        runtime.observe()
    seen = retry_until(lambda: (o := runtime.observe()) and all(not s.alive for s in o.values()) and o)
    assert {sid: s.exit_status for sid, s in seen.items()} == {f"x-{i}": i % 5 + 1 for i in range(40)}


def test_targets_match_exactly(runtime):
    runtime.create(launch("demo-10", ["sleep", "100"]))
    assert runtime.probe("demo-1") is None
    with pytest.raises(RuntimeFailure):
        runtime.capture("demo-1", 5)
    runtime.kill("demo-1")  # no such session: nothing happens, and demo-10 survives
    assert set(runtime.observe()) == {"demo-10"}


def test_no_server_means_no_sessions(runtime):
    assert runtime.observe() == {}
    assert runtime.probe("anything") is None


def test_paste_is_one_message_and_cursor_line_joins_wrapped_rows(runtime, tmp_path):
    demo = [sys.executable, "-m", "reconciler.sessions.demo_agent"]
    runtime.create(launch("p-1", demo))
    retry_until(lambda: runtime.capture("p-1", 5).rstrip().endswith(">"))
    runtime.run("resize-window", "-t", "=p-1:", "-x", "40", "-y", "20")
    long_text = "first line\n" + "word " * 20 + "the very end"
    runtime.paste("p-1", long_text)
    # Not submitted yet: the whole input line, wrapped over several rows, is under the cursor.
    line = retry_until(lambda: (c := runtime.cursor_line("p-1")) and "the very end" in c and c)
    assert line.startswith("> first line")
    runtime.press_enter("p-1")
    screen = retry_until(lambda: (c := runtime.capture("p-1", 60)) and "received" in c and c)
    assert screen.count("received (2 lines):") == 1
    assert "the very end" not in runtime.cursor_line("p-1")


# ---------------------------------------------------------------- batches

# What tmux would read as the end of a command (`;` at the end), or as an escaped one (`\;`).
SEPARATORS = ["a;", "b\\;", ";", "\\;", "c ; d", "\\\\;"]
REPORT = ("import json, os, sys; open(os.environ['OUT'], 'w').write(json.dumps("
          "[sys.argv[1:], os.getcwd(), os.environ['MINE']])); input()")


def counted(runtime, monkeypatch) -> list[str]:
    """The tmux calls `runtime` makes from now on (their first command)."""
    calls: list[str] = []
    real_run = runtime.run
    monkeypatch.setattr(runtime, "run", lambda *a, **k: calls.append(a[0]) or real_run(*a, **k))
    return calls


def test_a_batch_gives_each_session_its_own_env_cwd_and_command(runtime, tmp_path, monkeypatch):
    import json

    n = 45  # more than one call's worth
    launches = []
    for i in range(n):
        cwd = tmp_path / f"cwd-{i}"
        cwd.mkdir()
        out = tmp_path / f"out-{i}.json"
        launches.append(launch(f"b-{i}", [*python(REPORT), f"arg-{i}", *SEPARATORS], cwd=str(cwd),
                               env=[("OUT", str(out)), ("MINE", f"value-{i};"), ("SEMI", "\\;")],
                               stamp=Stamp("owner-x", "proj", "worker", f"w{i};", "v1-abc")))
    calls = counted(runtime, monkeypatch)

    started = runtime.create_many(launches)

    assert [s.session_id for s in started] == [f"b-{i}" for i in range(n)] and all(s.ok for s in started)
    assert len(calls) < n / 5, calls  # several sessions per tmux call
    for i in range(n):
        out = tmp_path / f"out-{i}.json"
        report = retry_until(lambda out=out: out.exists() and out.read_text() and json.loads(out.read_text()))
        assert report == [[f"arg-{i}", *SEPARATORS], str(tmp_path / f"cwd-{i}"), f"value-{i};"]
    seen = runtime.observe()
    assert {sid: (live.pid, live.stamp.worker) for sid, live in seen.items()} == {
        s.session_id: (s.pid, f"w{i};") for i, s in enumerate(started)}

    for out in tmp_path.glob("out-*.json"):
        out.unlink()
    again = runtime.respawn_many(launches[:3])
    assert all(s.ok for s in again)
    for i in range(3):
        out = tmp_path / f"out-{i}.json"
        report = retry_until(lambda out=out: out.exists() and out.read_text() and json.loads(out.read_text()))
        assert report == [[f"arg-{i}", *SEPARATORS], str(tmp_path / f"cwd-{i}"), f"value-{i};"]


def test_one_bad_launch_fails_alone_and_says_why(runtime, tmp_path):
    runtime.create(launch("c-3", ["sleep", "100"]))
    original = runtime.observe()["c-3"].pid

    started = runtime.create_many([launch(f"c-{i}", ["sleep", "100"]) for i in range(7)])

    assert [s.ok for s in started] == [i != 3 for i in range(7)]
    assert "duplicate session: c-3" in str(started[3].error)
    seen = runtime.observe()
    assert set(seen) == {f"c-{i}" for i in range(7)} and seen["c-3"].pid == original
    assert all(seen[s.session_id].pid == s.pid for s in started if s.ok)

    again = runtime.respawn_many([launch("c-0", ["sleep", "100"]), launch("gone-1", ["sleep", "100"]),
                                  launch("c-1", ["sleep", "100"])], capture=5)
    assert [s.ok for s in again] == [True, False, True]
    assert "gone-1" in str(again[1].error)
    assert set(runtime.observe()) == {f"c-{i}" for i in range(7)}


def test_a_relaunch_reads_each_dead_agents_last_lines_in_the_call_that_restarts_it(runtime, monkeypatch):
    n = 8
    for i in range(n):
        runtime.create(launch(f"d-{i}", ["sh", "-c", crashes_once_shown(f"early {i}", f"last words of {i}", status=3)]))
    retry_until(lambda: (o := runtime.observe()) and len(o) == n and not any(s.alive for s in o.values()))
    calls = counted(runtime, monkeypatch)

    started = runtime.respawn_many([launch(f"d-{i}", ["sleep", "100"]) for i in range(n)], capture=1)

    assert [s.last_output for s in started] == [f"last words of {i}" for i in range(n)]
    assert len(calls) == 1, calls
    seen = runtime.observe()
    assert all(seen[s.session_id].alive and seen[s.session_id].pid == s.pid for s in started)


def test_a_relaunch_keeps_the_stamp_and_a_new_spec_writes_it(runtime, monkeypatch):
    runtime.create(launch("e-1", ["sleep", "100"]))
    runtime.create(launch("e-2", ["sleep", "100"]))
    runtime.observe()
    newer = Stamp("owner-x", "proj", "worker", "w1", "v2-def")
    calls: list[tuple[str, ...]] = []
    real_run = runtime.run
    monkeypatch.setattr(runtime, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))

    started = runtime.respawn_many([launch("e-1", ["sleep", "100"]), launch("e-2", ["sleep", "100"], stamp=newer)])

    assert all(s.ok for s in started)
    written = [call[call.index("set-option") + 2] for call in calls if "set-option" in call]
    assert written == ["=e-2:"]  # e-1's stamp is unchanged: not written again
    seen = runtime.observe()
    assert (seen["e-1"].stamp, seen["e-2"].stamp) == (STAMP, newer)
    assert all(seen[s.session_id].pid == s.pid for s in started)


@pytest.mark.parametrize("stderr", ["no server running on /tmp/x.sock", "server exited unexpectedly"])
def test_a_server_that_is_gone_or_exiting_has_no_sessions(runtime, monkeypatch, stderr):
    # tmux ends its server with the last session; a listing made as it exits gets the second message
    # (docs/tmux-facts.md, fact 11).
    monkeypatch.setattr(runtime, "run", lambda *a, **k: CommandResult(1, "", stderr))
    assert runtime.observe() == {}
