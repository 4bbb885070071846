"""The registry (ao.db) lost or replaced while agents run: ao adopts or leaves them, never kills them."""

from __future__ import annotations

import json

from tests.conftest import ao_sessions, demo_manifest, git, needs_tmux, tmux

pytestmark = needs_tmux

WORKERS = "    - name: one\n      prompt: first task\n    - name: two\n      prompt: second task\n"


def lose_registry(data_dir) -> None:
    """What a deleted or truncated ao.db amounts to: the next command starts an empty registry."""
    for suffix in ("", "-wal", "-shm"):
        path = data_dir.db_path.with_name(data_dir.db_path.name + suffix)
        if path.exists():
            path.rename(path.with_name(path.name + ".lost"))


def live_sessions(data_dir) -> dict[str, int]:
    lines = tmux(data_dir, "list-panes", "-a", "-F", "#{session_name} #{pane_pid} #{pane_dead}").stdout.split("\n")
    return {name: int(pid) for name, pid, dead in (line.split() for line in lines if line) if dead == "0"}


def test_a_lost_registry_leaves_running_agents_alone_then_adopts_them(ao, data_dir, repo, write_manifest):
    path = write_manifest(demo_manifest(repo, WORKERS, name="app", orchestrator="true"))
    assert ao("apply", "-f", str(path)).returncode == 0
    before = live_sessions(data_dir)
    assert sorted(before) == ["app-1", "app-2", "app-orchestrator"]
    lose_registry(data_dir)

    # A pass over everything, with nothing declared: not one agent is reaped as an "orphan".
    result = ao("reconcile")
    assert result.returncode == 0, result.stderr
    assert "session/app-1 left alone: created by another registry (ao.db was lost or replaced)" in result.stdout
    assert all(" left alone: " in line for line in result.stdout.splitlines())
    assert live_sessions(data_dir) == before
    assert ao("reconcile").returncode == 0
    said = [e for e in json.loads(ao("events", "-o", "json").stdout) if e["reason"] == "LeftAlone"]
    assert sorted(e["session"] for e in said) == ["app-1", "app-2", "app-orchestrator"]  # once each
    assert all(e["type"] == "Warning" for e in said)

    # The same manifest again: the running agents are adopted, not restarted.
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert sorted(line for line in result.stdout.splitlines() if line.startswith("session/")) == [
        "session/app-1 adopted", "session/app-2 adopted", "session/app-orchestrator adopted"]
    assert live_sessions(data_dir) == before
    sessions = ao_sessions(ao)
    assert {sid: s["pid"] for sid, s in sessions.items()} == before
    assert all(s["phase"] == "Running" for s in sessions.values())


def test_an_adopted_session_gets_its_worktree_and_branch_back_and_reaping_keeps_its_work(
        ao, data_dir, repo, write_manifest):
    path = write_manifest(demo_manifest(repo, WORKERS, name="app"))
    assert ao("apply", "-f", str(path)).returncode == 0
    worktrees = {sid: data_dir.worktree_dir("app", sid) for sid in ("app-1", "app-2")}
    lose_registry(data_dir)
    assert ao("apply", "-f", str(path)).returncode == 0  # adopted

    sessions = ao_sessions(ao)
    for sid, worktree in worktrees.items():
        assert (sessions[sid]["workspace"], sessions[sid]["branch"]) == (str(worktree), f"ao/{sid}")

    # app-1 has work in progress; app-2 has none.
    (worktrees["app-1"] / "notes.txt").write_text("half done\n")
    (worktrees["app-1"] / "README.md").write_text("changed\n")
    emptied = write_manifest(demo_manifest(repo, name="app"), name="empty.yaml")
    result = ao("apply", "-f", str(emptied))
    assert result.returncode == 0, result.stderr
    assert "session/app-1 reaped" in result.stdout and "session/app-2 reaped" in result.stdout

    preserved = git(repo, "show", "--name-only", "--format=", "refs/ao/preserved/app-1").split()
    assert sorted(preserved) == ["README.md", "notes.txt"]
    assert (worktrees["app-1"] / "notes.txt").exists()  # kept on disk, and the event says where
    events = json.loads(ao("events", "-s", "app-1", "-o", "json").stdout)
    assert any(e["reason"] == "Reaped" and str(worktrees["app-1"]) in e["message"] for e in events)
    assert not worktrees["app-2"].exists()  # clean: removed, its branch kept
    assert git(repo, "branch", "--list", "ao/app-2") != ""
