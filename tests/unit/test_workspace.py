"""Worktrees never lose work and recover from a killed `git worktree add` (real git)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile.service import Service
from reconciler.runtime.memory import MemoryRuntime
from reconciler.sessions.workspace import (
    STALE_LOCK_SECONDS,
    Repositories,
    ensure_worktree,
    remove_worktree,
)
from tests.conftest import git


def test_ignored_files_keep_the_worktree_on_disk(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text(".env\nbuild/\n*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")
    (path / ".env").write_text("TOKEN=1\n")
    (path / "build").mkdir()
    (path / "build" / "out.bin").write_text("x")
    (path / "run.log").write_text("log")

    removal = remove_worktree(repo, path, "s-1")

    assert removal.outcome == "preserved"
    assert f"worktree {path} kept on disk" in removal.detail and ".env" in removal.detail
    assert (path / ".env").read_text() == "TOKEN=1\n" and (path / "build" / "out.bin").exists()


def test_a_clean_worktree_is_still_removed(repo: Path, tmp_path: Path) -> None:
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")

    assert remove_worktree(repo, path, "s-1").outcome == "removed"
    assert not path.exists()


def test_a_nested_repository_without_commits_does_not_block_the_reap(repo: Path, tmp_path: Path) -> None:
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")
    (path / "sub").mkdir()
    git(path / "sub", "init", "-q")
    (path / "sub" / "f.txt").write_text("nested")
    (path / "notes.txt").write_text("mine")

    removal = remove_worktree(repo, path, "s-1")

    assert removal.outcome == "preserved"
    assert "refs/ao/preserved/s-1" in removal.detail and "sub/" in removal.detail
    assert git(repo, "show", "refs/ao/preserved/s-1:notes.txt") == "mine"
    assert (path / "sub" / "f.txt").read_text() == "nested"


def test_a_stale_branch_lock_is_repaired(repo: Path, tmp_path: Path) -> None:
    lock = repo / ".git" / "refs" / "heads" / "ao" / "s-1.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    old = time.time() - STALE_LOCK_SECONDS - 5
    os.utime(lock, (old, old))

    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")

    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == "ao/s-1"
    assert not lock.exists()


def test_a_half_created_worktree_is_replaced(repo: Path, tmp_path: Path) -> None:
    # What `git worktree add` leaves when killed before checkout: a locked entry, HEAD still the null id.
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")
    admin = repo / ".git" / "worktrees" / "s-1"
    (admin / "HEAD").write_text("0" * 40 + "\n")
    (admin / "locked").write_text("initializing\n")
    (path / "README.md").unlink()

    again = ensure_worktree(repo, path, "ao/s-1", "main")

    assert git(again, "rev-parse", "--abbrev-ref", "HEAD") == "ao/s-1"
    assert (again / "README.md").read_text() == "hello\n"


def test_reaping_a_half_created_worktree_finishes(repo: Path, tmp_path: Path) -> None:
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main")
    (repo / ".git" / "worktrees" / "s-1" / "HEAD").write_text("0" * 40 + "\n")
    (path / "README.md").unlink()

    assert remove_worktree(repo, path, "s-1").outcome == "removed"
    assert not path.exists()
    assert "s-1" not in git(repo, "worktree", "list")


# ---------------------------------------------------------------- git once per pass

PASS_MANIFEST = """\
apiVersion: ao/v1
kind: Project
metadata: {{name: shop}}
spec:
  repo: {repo}
  agent: {{command: ["true"]}}
  restartPolicy: Always
  orchestrator: {{enabled: false}}
  workers:
{workers}
"""


@pytest.fixture
def git_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every git command run from now on, one line each: a `git` on PATH that logs, then runs the real one."""
    real = shutil.which("git")
    assert real
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    log = tmp_path / "git.log"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def _count(log: Path, command: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith(command)) if log.exists() else 0


def test_a_pass_asks_git_about_its_repository_once_not_once_per_worktree(repo: Path, tmp_path: Path,
                                                                         git_log: Path) -> None:
    runtime = MemoryRuntime()
    ao = Service(DataDir.resolve(tmp_path / "data"), runtime=runtime, on_wait=lambda message: None)
    workers = "\n".join(f"    - name: w{i}" for i in range(5))
    loaded, issues = load_text(PASS_MANIFEST.format(repo=repo, workers=workers), "<test>", tmp_path)
    assert not issues, issues

    report = ao.apply(loaded).reconcile

    assert report.ok and len(runtime.sessions) == 5
    assert _count(git_log, "worktree add") == 5
    assert _count(git_log, "worktree prune") == 1
    assert _count(git_log, "rev-parse --show-toplevel") == 1
    for sid in runtime.sessions:
        assert git(Path(runtime.sessions[sid].launch.cwd), "rev-parse", "--abbrev-ref", "HEAD") == f"ao/{sid}"

    # Every agent dies: the pass that relaunches them all (in their worktrees) prunes once too.
    for sid in list(runtime.sessions):
        runtime.exit(sid, 1)
    git_log.unlink()
    report = ao.reconcile()

    assert report.ok and {o.summary for o in report.outcomes} == {"relaunched"}
    assert _count(git_log, "worktree prune") == 1 and _count(git_log, "worktree add") == 0
    assert _count(git_log, "rev-parse --show-toplevel") == 1


def test_a_worktree_deleted_by_hand_is_made_again_in_the_next_pass(repo: Path, tmp_path: Path) -> None:
    repositories = Repositories()
    path = ensure_worktree(repo, tmp_path / "wt" / "s-1", "ao/s-1", "main", repositories)
    shutil.rmtree(path)  # git still lists it, with ao/s-1 checked out there, until pruned

    again = ensure_worktree(repo, path, "ao/s-1", "main", Repositories())

    assert git(again, "rev-parse", "--abbrev-ref", "HEAD") == "ao/s-1"
