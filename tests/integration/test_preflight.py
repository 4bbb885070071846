"""Mistakes in a manifest's machine-facing fields are caught before anything is recorded."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ao_sessions, demo_manifest, needs_tmux

ONE = "    - name: one\n      prompt: first task\n"


def projects(ao) -> str:
    return ao("get", "projects", "-o", "json").stdout.strip()


@pytest.mark.parametrize("problem", ["missing", "plain", "empty"])
def test_apply_rejects_an_unusable_repo_with_its_position_and_records_nothing(ao, write_manifest, tmp_path, problem):
    repo = tmp_path / problem
    if problem != "missing":
        repo.mkdir()
    if problem == "empty":
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    path = write_manifest(demo_manifest(repo, [ONE], name="app"))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    expected = {"missing": f"repository {repo} does not exist",
                "plain": f"{repo} is not a git repository",
                "empty": f"repository {repo} has no commits"}[problem]
    # demo_manifest puts spec.repo on line 6, its value at column 9.
    assert result.stderr.splitlines()[0].startswith(f"{path}:6:9: spec.repo: {expected}"), result.stderr
    assert "nothing was applied" in result.stderr
    assert "default branch" not in result.stderr
    assert projects(ao) == "[]"


@pytest.mark.skipif(shutil.which("zellij") is not None, reason="zellij is installed here")
def test_apply_rejects_runtime_zellij_when_zellij_is_not_installed(ao, repo, write_manifest):
    text = demo_manifest(repo, [ONE], name="app").replace("  agent:", "  runtime: zellij\n  agent:")
    path = write_manifest(text)
    result = ao("apply", "-f", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:7:12: spec.runtime: zellij is not installed"), result.stderr
    assert projects(ao) == "[]"


@needs_tmux
def test_apply_wait_fails_fast_on_a_failure_no_pass_can_clear(ao, repo, write_manifest):
    broken = "    - name: broken\n      prompt: x\n      agent: {command: [no-such-binary-here]}\n"
    path = write_manifest(demo_manifest(repo, [broken], name="app"))
    # A timeout far beyond the subprocess's own 60 s: only failing fast can pass.
    result = ao("apply", "-f", str(path), "--wait", "--timeout", "600")
    assert result.returncode == 1
    assert "timed out" not in result.stderr
    assert "app-1 failed (AgentNotFound)" in result.stderr and "does not clear by itself" in result.stderr


@needs_tmux
def test_wait_session_fails_fast_when_the_repo_is_no_longer_git(ao, repo, write_manifest):
    path = write_manifest(demo_manifest(repo, [ONE], name="app"))
    assert ao("apply", "-f", str(path)).returncode == 0
    shutil.rmtree(repo / ".git")
    ao("spawn", "-p", "app", "--prompt", "second task")
    spawned = next(sid for sid in ao_sessions(ao) if sid not in ("app-1", "app-orchestrator"))
    result = ao("wait", "session", spawned, "--timeout", "600")
    assert result.returncode == 1
    assert "timed out" not in result.stderr
    assert f"session {spawned} failed (NotAGitRepo)" in result.stderr, result.stderr


def test_a_worktree_from_a_repository_without_commits_says_so(tmp_path):
    from reconciler.sessions.workspace import WorkspaceError, ensure_worktree

    repo = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    with pytest.raises(WorkspaceError) as raised:
        ensure_worktree(repo, tmp_path / "wt", "ao/app-1", "main")
    assert "has no commits" in str(raised.value) and "default branch" not in str(raised.value)
