"""The real Gemini CLI in ao's sessions, against a local stand-in for the Gemini API
(`GOOGLE_GEMINI_BASE_URL`). A relaunch used to re-submit the whole task from scratch (issue 14):
it must resume this session's own conversation, by the id ao chose at first start."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.agents.cli_harness import (
    agent_manifest,
    agent_path,
    fake_openai,  # noqa: F401  (fixture)
    installed,
    past_quick_failure,
    session,
    type_line,
    until_or_show,
    wait_screen,
)
from tests.agents.fake_openai import FakeOpenAI, Request
from tests.conftest import needs_tmux, retry_until

pytestmark = [pytest.mark.agents, needs_tmux, pytest.mark.timeout(300)]  # real CLIs start slowly on a busy machine

WORKERS = ("    - name: alpha\n      prompt: Task ALPHA-7 please\n"
           "    - name: bravo\n      prompt: Task BRAVO-9 please\n")


def gemini_env(tmp_path: Path, fake: FakeOpenAI, bin_dir: Path, trusted: Path) -> dict[str, str]:
    """A private HOME pre-seeded the way a user would: API-key auth chosen, ao's worktrees trusted."""
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(trusted): "TRUST_FOLDER"}))
    # A fixed model: "Auto" routing first asks a classifier model for a JSON verdict.
    return {"PATH": agent_path(bin_dir), "HOME": str(home), "GEMINI_API_KEY": "fake-key",
            "GEMINI_MODEL": "gemini-2.5-flash", "GOOGLE_GEMINI_BASE_URL": fake.base_url.removesuffix("/v1")}


def side_requests(request: Request):
    """Gemini's structured side requests (a JSON schema) get a JSON answer; turns get the default."""
    config = request.body.get("generationConfig") or {}
    if config.get("responseSchema") or config.get("responseJsonSchema"):
        return json.dumps({"complexity_reasoning": "simple", "complexity_score": 1})
    return None


def main_turns(fake: FakeOpenAI, text: str) -> list[str]:
    return [r.transcript() for r in list(fake.requests) if side_requests(r) is None and text in r.transcript()]


def test_a_relaunched_gemini_resumes_its_own_conversation(ao, data_dir, repo, write_manifest, tmp_path,
                                                         fake_openai: FakeOpenAI) -> None:  # noqa: F811
    bin_dir = installed("gemini")
    fake_openai.responder = side_requests
    env = gemini_env(tmp_path, fake_openai, bin_dir, data_dir.root)
    path = write_manifest(agent_manifest(repo, "gemini", env, WORKERS))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    retry_until(lambda: main_turns(fake_openai, "ALPHA-7") and main_turns(fake_openai, "BRAVO-9"), timeout=90,
                interval=0.5, message="both tasks sent to the stand-in")
    wait_screen(data_dir, "shop-1", "ok:", timeout=120)
    wait_screen(data_dir, "shop-2", "ok:", timeout=120)
    type_line(data_dir, "shop-1", "alpha first words")
    until_or_show(data_dir, "shop-1", lambda: main_turns(fake_openai, "alpha first words"), 60, "alpha's 2nd turn")
    type_line(data_dir, "shop-2", "bravo speaks last")
    until_or_show(data_dir, "shop-2", lambda: main_turns(fake_openai, "bravo speaks last"), 60, "bravo's 2nd turn")
    recorded = (data_dir.session_dir("shop-1") / "conversation-id").read_text().strip()
    # Killed only once the second turn is over and shown: what the resume must bring back is then saved.
    wait_screen(data_dir, "shop-1", "ok: alpha first words", timeout=120)
    retry_until(lambda: ao("reconcile") and session(ao, "shop-1")["activity"] == "idle", timeout=60, interval=0.5)

    past_quick_failure(ao, "shop-1")
    os.kill(session(ao, "shop-1")["pid"], signal.SIGKILL)
    retry_until(lambda: session(ao, "shop-1")["agent"] == "killed (9)", timeout=20)
    tasks_sent = len(main_turns(fake_openai, "ALPHA-7"))
    result = ao("reconcile")
    assert "session/shop-1 relaunched" in result.stdout, result.stdout + result.stderr
    cmdline = Path(f"/proc/{session(ao, 'shop-1')['pid']}/cmdline").read_text().split("\0")
    assert cmdline[-3:-1] == ["--resume", recorded]
    wait_screen(data_dir, "shop-1", "ok: alpha first words", timeout=120)  # the old conversation is shown
    wait_screen(data_dir, "shop-1", "Type your message", timeout=120)
    type_line(data_dir, "shop-1", "alpha is back")
    follow = until_or_show(data_dir, "shop-1", lambda: main_turns(fake_openai, "alpha is back"), 60, "follow-up")
    assert "ALPHA-7" in follow[0] and "alpha first words" in follow[0]
    assert "BRAVO-9" not in follow[0] and "bravo speaks last" not in follow[0]
    # The task was not submitted again: the only new request carrying it is the follow-up.
    assert len(main_turns(fake_openai, "ALPHA-7")) == tasks_sent + len(follow)
