"""Shared fixtures: a private data dir (with its own tmux server), real git repos, the real `ao`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.paths import DataDir

AO = str(Path(sys.executable).parent / "ao")
TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def retry_until(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, message: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    The deadline only guards against a hang: it is generous because a loaded 2-core machine can be
    several times slower than an idle one, and a condition that holds returns at once anyway.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {message or condition}")
        time.sleep(interval)


def crashes_once_shown(*lines: str, status: int) -> str:
    """A shell line for an agent that prints `lines` and exits with `status` once its own pane shows
    the last of them: tmux 3.3a can drop what a program printed just before it exited
    (docs/tmux-facts.md, fact 10), and these tests assert on that output."""
    shown = lines[-1].split("$")[0].strip()  # the literal part, before any variable
    printed = "; ".join(f"echo {line}" for line in lines)
    return (f"{printed}; until tmux capture-pane -p -J -S -50 -t $TMUX_PANE | grep -qF '{shown}'; "
            f"do sleep 0.05; done; exit {status}")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A test run from inside an ao session (or tmux) must not inherit its identity.
    for key in list(os.environ):
        if key.startswith("AO_") or key in ("TMUX", "TMUX_PANE"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[DataDir]:
    """A fresh data dir; its private tmux server is killed at the end of the test."""
    path = DataDir.resolve(tmp_path / "data").ensure()
    yield path
    if TMUX:
        with contextlib.suppress(Exception):
            subprocess.run([TMUX, "-S", str(path.tmux_socket), "kill-server"], capture_output=True, timeout=10)
        with contextlib.suppress(OSError):
            path.tmux_socket.unlink()


@pytest.fixture
def ao(data_dir: DataDir) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `ao` executable against the test's data dir."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "AO_DATA_DIR": str(data_dir.root), **(env or {})}
        return subprocess.run([AO, *args], input=input, capture_output=True, text=True, env=full_env,
                              timeout=timeout, check=False)

    return run


def ao_sessions(ao: Callable[..., subprocess.CompletedProcess[str]], *extra: str) -> dict[str, dict]:
    """`ao get sessions EXTRA -o json` (EXTRA such as "--all" or "-p NAME"), by session id; the command must succeed."""
    result = ao("get", "sessions", *extra, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {s["id"]: s for s in json.loads(result.stdout)}


# Items of spec.workers, as demo_manifest takes them.
LOGIN_BUG = "    - name: login-bug\n      issue: 123\n      prompt: Fix the login redirect loop\n"
CART = "    - name: cart\n      issue: 124\n      prompt: Speed up the cart page\n"


def demo_manifest(repo: Path | str, workers: str | Iterable[str] = (), *, name: str = "shop",
                  agent: str = "{preset: demo}", policy: str | None = None, orchestrator: str | bool | None = None,
                  rules: str | None = None) -> str:
    """A Project manifest for the demo agent, one key a line.

    `workers` are items of spec.workers as YAML text (each "    - name: ...\n"); none gives `workers: []`.
    Line numbers that tests assert on depend on this layout: metadata.name is line 4, spec.agent line 7.
    """
    lines = ["apiVersion: ao/v1", "kind: Project", "metadata:", f"  name: {name}", "spec:", f"  repo: {repo}",
             f"  agent: {agent}"]
    if policy is not None:
        lines.append(f"  restartPolicy: {policy}")
    if orchestrator is not None:
        lines += ["  orchestrator:", f"    enabled: {str(orchestrator).lower()}"]
        if rules is not None:
            lines.append(f"    rules: {rules}")
    lines.append("  workers:")
    return "\n".join(lines) + "\n" + ("".join(workers) or "    []\n")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit on `main`."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "ao tests")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "project.yaml") -> Path:
        path = tmp_path / "manifests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


def tmux(data_dir: DataDir, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A raw tmux command against the data dir's private server."""
    assert TMUX
    return subprocess.run([TMUX, "-S", str(data_dir.tmux_socket), *args], capture_output=True, text=True,
                          check=check, timeout=10)
