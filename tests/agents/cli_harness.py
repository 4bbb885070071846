"""Helpers for the Codex, Gemini CLI, OpenCode and aider tests: a pinned CLI, a manifest, the screen.

The versions are pinned so a test sees the screens and flags it was written against.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.paths import DataDir
from tests.agents.fake_openai import FakeOpenAI
from tests.agents.install import InstallFailed, npm_binary, pip_binary
from tests.conftest import ao_sessions, demo_manifest, retry_until, tmux

# preset -> (registry, package, version, binary)
PINNED = {
    "opencode": ("npm", "opencode-ai", "1.18.33", "opencode"),
    "codex": ("npm", "@openai/codex", "0.171.0", "codex"),
    "gemini": ("npm", "@google/gemini-cli", "0.61.0", "gemini"),
    "aider": ("pip", "aider-chat", "0.86.2", "aider"),
}


def installed(preset: str) -> Path:
    """The folder holding the pinned CLI's binary; skipped when the registry is unreachable, except in CI."""
    registry, package, version, binary = PINNED[preset]
    try:
        path = (npm_binary if registry == "npm" else pip_binary)(package, version, binary)
    except (InstallFailed, OSError) as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{package}@{version} did not install from {registry}: {error}")
        pytest.skip(f"{package}@{version} not installable from {registry} here: {error}")
    return path.parent


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


def agent_manifest(repo: Path, preset: str, env: dict[str, str], workers: str, *, name: str = "shop",
                   policy: str = "OnFailure") -> str:
    """A Project manifest running `preset` with `env` (JSON is valid YAML: no quoting surprises)."""
    agent = json.dumps({"preset": preset, "env": env})
    return demo_manifest(repo, workers, name=name, agent=agent, policy=policy, orchestrator=False)


def agent_path(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


def screen(data_dir: DataDir, sid: str) -> str:
    """What the agent's pane shows now (`tmux capture-pane -p`)."""
    return tmux(data_dir, "capture-pane", "-p", "-t", f"={sid}:", check=False).stdout


def wait_screen(data_dir: DataDir, sid: str, text: str, timeout: float = 90) -> str:
    """The session's screen once it shows `text`; failing with the screen, so a stuck agent explains itself."""
    return until_or_show(data_dir, sid, lambda: text in (s := screen(data_dir, sid)) and s, timeout,
                         f"{text!r} on {sid}'s screen")


def until_or_show(data_dir: DataDir, sid: str, condition: Callable[[], object], timeout: float, what: str) -> object:
    """retry_until, failing with the session's screen so a stuck agent explains itself."""
    try:
        return retry_until(condition, timeout=timeout, interval=0.3)
    except AssertionError:
        raise AssertionError(f"{what} within {timeout}s; {sid}'s screen:\n{screen(data_dir, sid)}") from None


def type_line(data_dir: DataDir, sid: str, text: str) -> None:
    """Type like a person: the text, then Enter once the text shows in the input box (an Enter
    arriving with the text can be taken as part of a paste and not submit)."""
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "-l", text)
    retry_until(lambda: text in screen(data_dir, sid), timeout=20, interval=0.1, message=f"{text!r} typed")
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "Enter")


def session(ao: Callable[..., object], sid: str) -> dict:
    return ao_sessions(ao, "--all")[sid]  # type: ignore[arg-type]


def pids_under(root: int) -> set[int]:
    """`root` and every process descended from it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def processes_with_env(name: str, value: str) -> dict[int, dict[str, str]]:
    """Our own user's processes whose environment holds name=value, each with its whole environment
    as read in that same look (a process may be gone, or a zombie with no environment, a moment later)."""
    needle = f"{name}={value}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in env:
            pairs = (item.decode(errors="replace").partition("=") for item in env if item)
            found[int(entry.name)] = {key: val for key, _, val in pairs}
    return found


def past_quick_failure(ao: Callable[..., object], sid: str) -> None:
    """Wait until the agent has run longer than ao's quick-failure window, so that a kill is a
    crash to resume from, not a failed start (which ao answers with a fresh start)."""
    from datetime import datetime, timezone

    from reconciler.reconcile.backoff import QUICK_FAILURE_SECONDS

    started = datetime.fromisoformat(session(ao, sid)["startedAt"].replace("Z", "+00:00"))
    retry_until(lambda: (datetime.now(timezone.utc) - started).total_seconds() > QUICK_FAILURE_SECONDS + 1,
                timeout=QUICK_FAILURE_SECONDS + 30, interval=0.5, message=f"{sid} past the quick-failure window")
