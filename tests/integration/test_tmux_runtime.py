"""tmux-specific behaviour, beyond the runtime contract (test_runtime_contract.py)."""

from __future__ import annotations

import sys

import pytest

from reconciler.errors import RuntimeFailure
from reconciler.runtime.base import Launch, Stamp
from reconciler.runtime.tmux import TmuxRuntime
from tests.conftest import needs_tmux, retry_until

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
