"""A tmux create that finds no pseudo-terminal left becomes reason NoPtyLeft with the figures to act on.

The texts are tmux 3.3a's own, captured from a real server in a devpts instance mounted with `max=3`
(see tests/integration/test_ptys.py, which reproduces them end to end where it may mount one).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import AoError, RuntimeFailure, SessionProblem
from reconciler.runtime import pty

CREATE_FAILED = "create window failed: fork failed: No space left on device"
RESPAWN_FAILED = "respawn pane failed: fork failed: No space left on device"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    for name, value in (("max", "4096"), ("reserve", "1024"), ("nr", "4090")):
        (tmp_path / name).write_text(f"{value}\n")
    return tmp_path


@pytest.mark.parametrize("stderr", [CREATE_FAILED, RESPAWN_FAILED])
def test_tmux_running_out_of_ptys_is_no_pty_left_with_the_limit_and_use(stderr: str, proc: Path) -> None:
    error = pty.no_pty_left(stderr, proc)

    assert isinstance(error, SessionProblem) and error.reason == "NoPtyLeft"
    assert isinstance(error, RuntimeFailure)  # every caller that handles runtime failures still does
    assert str(error).startswith("no pseudo-terminal left (kernel.pty.max=4096, 4090 in use")
    assert "sysctl kernel.pty.max=" in str(error) and "run fewer sessions" in str(error)
    assert error.message == str(error)  # what the pass records as the session's message


@pytest.mark.parametrize("stderr", ["duplicate session: shop-1", "no server running on /tmp/x.sock",
                                    "create window failed: fork failed: Resource temporarily unavailable", ""])
def test_other_tmux_failures_are_left_as_they_are(stderr: str, proc: Path) -> None:
    assert pty.no_pty_left(stderr, proc) is None


def test_usage_reads_the_kernel_figures_and_warns_near_a_containers_limit(proc: Path, tmp_path: Path) -> None:
    figures = pty.usage(proc)
    assert figures == pty.PtyUsage(max=4096, reserve=1024, in_use=4090)
    assert figures.container_limit == 3072 and figures.near
    assert not pty.PtyUsage(max=4096, reserve=1024, in_use=100).near
    assert pty.usage(tmp_path / "missing") is None


def test_the_tmux_runtime_raises_it_from_its_error_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TmuxRuntime.run with a stand-in tmux that fails the way tmux does when no pty is left."""
    from reconciler.runtime.tmux import TmuxRuntime

    fake = tmp_path / "tmux"
    fake.write_text(f"#!/bin/sh\necho '{CREATE_FAILED}' >&2\nexit 1\n")
    fake.chmod(0o755)
    runtime = TmuxRuntime(tmp_path / "sock", tmp_path / "tmux.conf", binary=str(fake))

    with pytest.raises(pty.NoPtyLeft) as caught:
        runtime.run("new-session", "-d", "-s", "shop-1")
    assert isinstance(caught.value, AoError) and caught.value.reason == "NoPtyLeft"


def test_the_devpts_own_max_is_read_from_the_last_mount_on_dev_pts(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
        "29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=666,max=2\n"
        "30 24 0:27 / /dev/shm rw - tmpfs tmpfs rw,max=9\n")
    assert pty.devpts_max(mountinfo) == 2
    mountinfo.write_text("26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n")
    assert pty.devpts_max(mountinfo) is None
    assert pty.devpts_max(tmp_path / "missing") is None
