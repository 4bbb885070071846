"""The real OpenCode in ao's sessions, against a local OpenAI-compatible stand-in.

Two workers share one repository, so OpenCode files both conversations under the same project;
after a kill -9 the relaunched worker must come back in its OWN conversation (issue 14).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.agents.cli_harness import (
    agent_manifest,
    agent_path,
    fake_openai,  # noqa: F401  (fixture)
    installed,
    past_quick_failure,
    screen,
    session,
    wait_screen,
)
from tests.agents.fake_openai import FakeOpenAI
from tests.conftest import needs_tmux, retry_until

pytestmark = [pytest.mark.agents, needs_tmux, pytest.mark.timeout(600)]  # OpenCode waits on network fetches first

WORKERS = ("    - name: alpha\n      prompt: Task ALPHA-7 please\n"
           "    - name: bravo\n      prompt: Task BRAVO-9 please\n")


def run_once(env: dict[str, str], cwd: Path) -> None:
    """Start OpenCode once, alone, as a user has before ao starts several: its first start creates
    its database, and OpenCodes that make their first start at the same moment can deadlock in it
    (the first-run condition `ao doctor` reports)."""
    done = subprocess.run(["opencode", "session", "list"], env={**os.environ, **env}, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def opencode_env(tmp_path: Path, fake: FakeOpenAI, bin_dir: Path) -> dict[str, str]:
    config = tmp_path / "opencode.json"
    config.write_text(json.dumps({
        "$schema": "https://opencode.ai/config.json", "autoupdate": False, "share": "disabled",
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": fake.base_url, "apiKey": "sk-fake"},
                              "models": {"fake-model": {"name": "Fake model"}}}},
        "model": "fake/fake-model",
    }))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": agent_path(bin_dir), "HOME": str(home), "OPENCODE_CONFIG": str(config),
            "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1"}


def turns_with(fake: FakeOpenAI, text: str) -> list[str]:
    """Transcripts of the main-loop requests (they carry tools) that contain `text`."""
    return [r.transcript() for r in list(fake.requests) if r.body.get("tools") and text in r.transcript()]


def test_a_killed_worker_resumes_its_own_conversation(ao, data_dir, repo, write_manifest, tmp_path,
                                                      fake_openai: FakeOpenAI) -> None:  # noqa: F811
    bin_dir = installed("opencode")
    env = opencode_env(tmp_path, fake_openai, bin_dir)
    run_once(env, repo)
    path = write_manifest(agent_manifest(repo, "opencode", env, WORKERS))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    # Both first turns reach the model, each with its own task.
    try:
        retry_until(lambda: turns_with(fake_openai, "ALPHA-7") and turns_with(fake_openai, "BRAVO-9"),
                    timeout=300, interval=0.5)
    except AssertionError:  # say what each agent shows, so a stuck one explains itself
        raise AssertionError("both tasks sent to the stand-in within 300s; screens:\n"
                             + "\n".join(f"--- {sid}\n{screen(data_dir, sid)}" for sid in ("shop-1", "shop-2"))) from None
    wait_screen(data_dir, "shop-1", "ok:", timeout=120)
    wait_screen(data_dir, "shop-2", "ok:", timeout=120)
    # Bravo's conversation is the most recent one of the repository: a `--continue` would pick it.
    assert ao("send", "shop-1", "alpha first words").returncode == 0
    retry_until(lambda: turns_with(fake_openai, "alpha first words"), timeout=60, message="alpha's second turn")
    assert ao("send", "shop-2", "bravo speaks last").returncode == 0
    retry_until(lambda: turns_with(fake_openai, "bravo speaks last"), timeout=60, message="bravo's second turn")

    before = session(ao, "shop-1")
    past_quick_failure(ao, "shop-1")
    os.kill(before["pid"], signal.SIGKILL)
    retry_until(lambda: session(ao, "shop-1")["agent"] == "killed (9)", timeout=20)
    result = ao("reconcile")
    assert result.returncode == 0, result.stderr
    assert "session/shop-1 relaunched" in result.stdout

    # The relaunch shows alpha's conversation and takes a new message into it.
    wait_screen(data_dir, "shop-1", "ALPHA-7", timeout=120)
    assert ao("send", "shop-1", "alpha is back").returncode == 0
    follow_up = retry_until(lambda: turns_with(fake_openai, "alpha is back"), timeout=60,
                            message="alpha's follow-up reaches the stand-in")
    assert "ALPHA-7" in follow_up[0] and "alpha first words" in follow_up[0]  # its earlier turns: resumed
    assert "BRAVO-9" not in follow_up[0] and "bravo speaks last" not in follow_up[0]
    assert "BRAVO-9" not in screen(data_dir, "shop-1")
    # The id it resumed is recorded for the next relaunch.
    recorded = (data_dir.session_dir("shop-1") / "conversation-id").read_text().strip()
    assert recorded.startswith("ses_")
    assert f"--session {recorded}" in " ".join(
        Path(f"/proc/{session(ao, 'shop-1')['pid']}/cmdline").read_text().split("\0"))
