"""The real aider in ao's sessions, against a local OpenAI-compatible stand-in.

aider used to get its task only as a read-only file and then idle (issue 14): it must start
working on the task by itself, stay interactive with that history, and its own files must not
make a clean worktree look dirty when the session is reaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agents.cli_harness import (
    agent_manifest,
    agent_path,
    fake_openai,  # noqa: F401  (fixture)
    installed,
    screen,
    wait_screen,
)
from tests.agents.fake_openai import FakeOpenAI
from tests.conftest import needs_tmux, retry_until

pytestmark = [pytest.mark.agents, needs_tmux, pytest.mark.timeout(300)]  # real CLIs start slowly on a busy machine

WORKERS = "    - name: alpha\n      prompt: Task ALPHA-7 please\n"


def aider_env(tmp_path: Path, fake: FakeOpenAI, bin_dir: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": agent_path(bin_dir), "HOME": str(home), "OPENAI_API_BASE": fake.base_url,
            "OPENAI_API_KEY": "sk-fake", "AIDER_MODEL": "openai/fake-model", "AIDER_SHOW_MODEL_WARNINGS": "false"}


def test_aider_works_on_its_task_at_once_and_leaves_a_clean_worktree(ao, data_dir, repo, write_manifest, tmp_path,
                                                                     fake_openai: FakeOpenAI) -> None:  # noqa: F811
    bin_dir = installed("aider")
    fake_openai.responder = lambda request: "Noted, no file changes needed."
    path = write_manifest(agent_manifest(repo, "aider", aider_env(tmp_path, fake_openai, bin_dir), WORKERS))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr

    # The task reaches the model with no keypress from anyone.
    retry_until(lambda: any("ALPHA-7" in t for t in fake_openai.transcripts()), timeout=120, interval=0.5,
                message="aider sent its task to the model")
    # Then the interactive aider, with that chat restored, takes the next message into the same chat.
    wait_screen(data_dir, "shop-1", "Restored previous conversation history", timeout=120)
    retry_until(lambda: screen(data_dir, "shop-1").rstrip().endswith(">"), timeout=60, interval=0.3,
                message="aider's input prompt")
    sent = ao("send", "shop-1", "alpha follow-up", "-o", "json")
    assert sent.returncode == 0 and json.loads(sent.stdout)["outcome"] == "delivered", sent.stdout
    follow = retry_until(lambda: [t for t in fake_openai.transcripts() if "alpha follow-up" in t], timeout=120)
    assert "ALPHA-7" in follow[0]

    worktree = data_dir.worktree_dir("shop", "shop-1")
    assert any(p.name.startswith(".aider") for p in worktree.iterdir())  # aider's own cache is there
    result = ao("delete", "project", "shop")
    assert result.returncode == 0, result.stderr
    assert "preserved" not in result.stdout
    assert not worktree.exists()
