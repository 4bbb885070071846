"""Fixtures for tests that drive a real Claude Code offline (marker `agents`).

`claude_bin` installs the pinned CLI from npm once per machine (xdist workers share the cache and
wait on its lock). Without a reachable registry the tests skip, except under `CI=true`, where a
missing agent must fail the run. `fake_api` is the scripted stand-in for the Messages API;
`claude_env` writes a private config dir and returns the environment; `claude_pane` is a 200x50
pane of a private tmux server, killed at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agents.fake_anthropic import FakeAnthropic
from tests.agents.harness import CLAUDE_CODE_VERSION, Pane, claude_config
from tests.agents.install import InstallFailed, npm_binary


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the real agent must be tested)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned Claude Code CLI, installed from npm into the shared cache."""
    if shutil.which("tmux") is None:
        _unavailable("tmux is not installed")
    try:
        return npm_binary("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION, "claude")
    except InstallFailed as error:
        _unavailable(f"cannot install @anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}: {error}")
    raise AssertionError("unreachable")


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as api:
        yield api


@pytest.fixture
def claude_env(tmp_path: Path, fake_api: FakeAnthropic) -> Callable[..., dict[str, str]]:
    """`claude_env(trusted=[repo], approve_key=True)`: a fresh private config dir and its environment."""
    counter = iter(range(1000))

    def build(*, trusted: list[Path] | tuple[Path, ...] = (), approve_key: bool = True) -> dict[str, str]:
        folder = tmp_path / f"claude-config-{next(counter)}"
        return claude_config(folder, trusted=trusted, approve_key=approve_key, api_url=fake_api.url)

    return build


@pytest.fixture
def claude_pane(tmp_path: Path) -> Iterator[Pane]:
    # A short socket path: tmux sockets must fit in sun_path (about 100 bytes).
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    socket = folder / f"ao-cc-{os.getpid()}-{abs(hash(tmp_path)) % 10**8}.sock"
    pane = Pane(socket)
    yield pane
    pane.kill_server()
    for leftover in (socket, pane.config):
        leftover.unlink(missing_ok=True)
