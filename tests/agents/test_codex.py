"""The real Codex CLI in ao's sessions, against a local stand-in for the responses API.

Codex's background daemon (on by default) would run every session's turns in one detached
process carrying the environment of the first session, and would outlive the reap (issue 14).
"""

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
    processes_with_env,
    session,
    wait_screen,
)
from tests.agents.fake_openai import FakeOpenAI, Request, ToolCall
from tests.conftest import needs_tmux, retry_until

pytestmark = [pytest.mark.agents, needs_tmux, pytest.mark.timeout(300)]  # real CLIs start slowly on a busy machine

WORKERS = ("    - name: alpha\n      prompt: WRITE-ID alpha\n"
           "    - name: bravo\n      prompt: WRITE-ID bravo\n")


def codex_env(tmp_path: Path, fake: FakeOpenAI, bin_dir: Path, worktrees: list[Path]) -> dict[str, str]:
    """A private CODEX_HOME: the stand-in as provider, the worktrees trusted, commands unsandboxed."""
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    trusted = "".join(f'[projects."{w}"]\ntrust_level = "trusted"\n' for w in worktrees)
    (home / "config.toml").write_text(
        'model = "fake-model"\nmodel_provider = "fake"\napproval_policy = "never"\n'
        'sandbox_mode = "danger-full-access"\n'
        f'[model_providers.fake]\nname = "Fake"\nbase_url = "{fake.base_url}"\nenv_key = "FAKE_OPENAI_KEY"\n'
        f'wire_api = "responses"\n{trusted}')
    return {"PATH": agent_path(bin_dir), "CODEX_HOME": str(home), "FAKE_OPENAI_KEY": "sk-fake"}


def write_id_tool(out_dir: Path):
    """On `WRITE-ID <name>`, run a command that writes the AO_SESSION_ID it sees to out_dir/<name>."""

    def respond(request: Request):
        items = request.body.get("input") or []
        if items and isinstance(items[-1], dict) and items[-1].get("type") == "function_call_output":
            return "done"
        texts = request.texts()
        last = texts[-1] if texts else ""
        if "WRITE-ID" in last:
            name = last.split("WRITE-ID", 1)[1].split()[0]
            cmd = f'printf %s "$AO_SESSION_ID" > {out_dir / name}'
            return ToolCall("exec_command", {"cmd": cmd}, call_id=f"call_{name}")
        return None

    return respond


def test_each_session_runs_its_own_codex_and_reaping_leaves_none(ao, data_dir, repo, write_manifest, tmp_path,
                                                                 fake_openai: FakeOpenAI) -> None:  # noqa: F811
    bin_dir = installed("codex")
    out = tmp_path / "ids"
    out.mkdir()
    fake_openai.responder = write_id_tool(out)
    worktrees = [data_dir.worktree_dir("shop", f"shop-{n}") for n in (1, 2)]
    env = codex_env(tmp_path, fake_openai, bin_dir, worktrees)
    path = write_manifest(agent_manifest(repo, "codex", env, WORKERS))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr

    # Each session's command saw its own identity.
    retry_until(lambda: (out / "alpha").exists() and (out / "bravo").exists(), timeout=90, interval=0.3,
                message="both commands ran")
    assert (out / "alpha").read_text() == "shop-1"
    assert (out / "bravo").read_text() == "shop-2"
    # No detached Codex: every process of ours with this CODEX_HOME lives inside a session's pane.
    codex_home = env["CODEX_HOME"]
    found = processes_with_env("CODEX_HOME", codex_home)
    assert found
    for pid, environ in found.items():
        assert environ.get("AO_SESSION_ID") in ("shop-1", "shop-2"), f"pid {pid} runs outside every session"

    result = ao("delete", "project", "shop")
    assert result.returncode == 0, result.stderr
    retry_until(lambda: not processes_with_env("CODEX_HOME", codex_home), timeout=20,
                message="no Codex process left after the reap")


def test_a_killed_codex_resumes_its_own_session(ao, data_dir, repo, write_manifest, tmp_path,
                                               fake_openai: FakeOpenAI) -> None:  # noqa: F811
    bin_dir = installed("codex")
    workers = ("    - name: alpha\n      prompt: Task ALPHA-7\n"
               "    - name: bravo\n      prompt: Task BRAVO-9\n")
    worktrees = [data_dir.worktree_dir("shop", f"shop-{n}") for n in (1, 2)]
    env = codex_env(tmp_path, fake_openai, bin_dir, worktrees)
    path = write_manifest(agent_manifest(repo, "codex", env, workers))
    assert ao("apply", "-f", str(path)).returncode == 0
    wait_screen(data_dir, "shop-1", "ok:", timeout=120)
    wait_screen(data_dir, "shop-2", "ok:", timeout=120)
    assert ao("send", "shop-1", "alpha first words").returncode == 0
    retry_until(lambda: any("alpha first words" in t for t in fake_openai.transcripts()), timeout=120)
    assert ao("send", "shop-2", "bravo speaks last").returncode == 0
    retry_until(lambda: any("bravo speaks last" in t for t in fake_openai.transcripts()), timeout=120)

    past_quick_failure(ao, "shop-1")
    os.kill(session(ao, "shop-1")["pid"], signal.SIGKILL)
    retry_until(lambda: session(ao, "shop-1")["agent"] == "killed (9)", timeout=20)
    result = ao("reconcile")
    assert "session/shop-1 relaunched" in result.stdout, result.stdout + result.stderr
    wait_screen(data_dir, "shop-1", "ALPHA-7", timeout=120)
    assert ao("send", "shop-1", "alpha is back").returncode == 0
    follow = retry_until(lambda: [t for t in fake_openai.transcripts() if "alpha is back" in t], timeout=120)
    assert "ALPHA-7" in follow[0] and "alpha first words" in follow[0]  # its earlier turns: resumed
    assert "BRAVO-9" not in follow[0] and "bravo speaks last" not in follow[0]
    recorded = (data_dir.session_dir("shop-1") / "conversation-id").read_text().strip()
    rollouts = list((Path(env["CODEX_HOME"]) / "sessions").rglob(f"rollout-*{recorded}.jsonl"))
    assert len(rollouts) == 1
    assert json.loads(rollouts[0].open().readline())["payload"]["cwd"] == str(worktrees[0])
