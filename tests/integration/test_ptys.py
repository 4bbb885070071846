"""Pseudo-terminals with the real `ao` and tmux: `ao doctor` reports the kernel's limit and use, and a
session that finds no pty left fails with reason NoPtyLeft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import AO, CART, LOGIN_BUG, demo_manifest, needs_tmux

pytestmark = needs_tmux
PTY = Path("/proc/sys/kernel/pty")


@pytest.mark.skipif(not (PTY / "max").exists(), reason="the kernel publishes no pty figures here (not Linux)")
def test_doctor_reports_the_pty_limit_and_use(ao):
    result = ao("doctor", "-o", "json")
    pty = next(c for c in json.loads(result.stdout)["checks"] if c["check"] == "ptys")
    limit, reserve = int((PTY / "max").read_text()), int((PTY / "reserve").read_text())
    assert pty["ok"] and pty["detail"].startswith(f"kernel.pty.max={limit}, ")
    assert f"kernel.pty.reserve = {limit - reserve}" in pty["detail"] and "each session holds one" in pty["detail"]
    assert ao("doctor").stdout.count("ptys ") == 1


def private_devpts_works() -> bool:
    """Root may give a command its own devpts with a small `max` in a private mount namespace."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT + " && true"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


MAX_PTYS = 2
MOUNT = (f"mount -t devpts -o newinstance,ptmxmode=0666,max={MAX_PTYS} devpts /dev/pts "
         "&& mount --bind /dev/pts/ptmx /dev/ptmx")


@pytest.mark.skipif(not private_devpts_works(), reason="needs root and unshare to mount a devpts with a small max")
def test_a_session_that_finds_no_pty_left_says_so(ao, data_dir, write_manifest, repo):
    # Three sessions (orchestrator and two workers) on a tmux server whose devpts allows two.
    manifest = write_manifest(demo_manifest(repo, [LOGIN_BUG, CART]))
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT + ' && exec "$@"', "sh",
                    AO, "apply", "-f", str(manifest)], env=env, capture_output=True, text=True, timeout=120,
                   check=False)

    sessions = json.loads(ao("get", "sessions", "-o", "json").stdout)
    failed = [s for s in sessions if s["reason"] == "NoPtyLeft"]
    assert len(failed) == 1 and len([s for s in sessions if s["phase"] == "Running"]) == MAX_PTYS, sessions
    assert failed[0]["phase"] == "Failed"
    assert failed[0]["message"].startswith("no pseudo-terminal left (kernel.pty.max=")
    assert f"this /dev/pts allows {MAX_PTYS}" in failed[0]["message"]
    assert "sysctl kernel.pty.max=" in failed[0]["message"]
    events = ao("events", "-o", "json")
    assert "NoPtyLeft" in events.stdout
