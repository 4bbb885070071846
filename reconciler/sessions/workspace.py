"""Git worktrees: each session works in its own checkout under the data dir, on its own branch.

Nothing here ever deletes work: a worktree with uncommitted changes (tracked or untracked) is
snapshotted to `refs/ao/preserved/<session-id>` and left on disk; branches are never deleted.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import SessionProblem

PRESERVED_REF = "refs/ao/preserved/{session_id}"
# git takes file locks in the repository; ao serialises its own git calls per repository.
_repo_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


class WorkspaceError(SessionProblem):
    """The session's workspace (repository, worktree, branch) cannot be prepared."""


@dataclass(frozen=True)
class Removal:
    outcome: str  # removed | preserved | missing
    detail: str


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                                env={**os.environ, **(env or {})}, check=False, timeout=60)
    except FileNotFoundError as exc:
        raise WorkspaceError("GitMissing", "git is not installed; install it (apt-get install git)") from exc
    if check and result.returncode != 0:
        raise WorkspaceError("GitError", f"git {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result


def _branch_exists(repo: Path, branch: str) -> bool:
    return _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0


def _checked_out_at(repo: Path, branch: str) -> Path | None:
    """Where `branch` is checked out (main checkout or any worktree), if anywhere."""
    listing = _git(repo, "worktree", "list", "--porcelain").stdout
    path: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return path
    return None


def require_dir(repo: Path) -> None:
    if not repo.is_dir():
        raise WorkspaceError("RepoMissing", f"repository {repo} does not exist; fix spec.repo")


def check_repo(repo: Path) -> Path:
    """The top of the git repository at `repo`."""
    require_dir(repo)
    result = _git(repo, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise WorkspaceError(
            "NotAGitRepo", f"{repo} is not a git repository; run `git init` there or set `workspace: none`"
        )
    return Path(result.stdout.strip())


def ensure_worktree(repo: Path, path: Path, branch: str, base: str) -> Path:
    """A worktree of `repo` at `path` on `branch` (created from `base` if new); reused if present."""
    top = check_repo(repo)
    with _repo_locks[str(top)]:
        if (path / ".git").exists():
            current = _git(path, "rev-parse", "--abbrev-ref", "HEAD", check=False).stdout.strip()
            if current == branch:
                return path
            if _git(path, "status", "--porcelain").stdout.strip():
                raise WorkspaceError(
                    "BranchChangeBlocked",
                    f"worktree {path} is on {current} with uncommitted changes; commit them before changing the branch",
                )
            _switch(path, top, branch, base)
            return path
        _git(top, "worktree", "prune")
        if _branch_exists(top, branch):
            elsewhere = _checked_out_at(top, branch)
            if elsewhere is not None:
                raise WorkspaceError(
                    "BranchInUse", f"branch {branch} is already checked out at {elsewhere}; choose another branch"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(top, "worktree", "add", "--quiet", str(path), branch)
        else:
            _require_base(top, base)
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(top, "worktree", "add", "--quiet", "-b", branch, str(path), base)
    return path


def _require_base(top: Path, base: str) -> None:
    if _git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False).returncode != 0:
        if not _git(top, "for-each-ref", "--count=1", "refs/heads").stdout.strip():
            # A fresh `git init`: no branch exists at all, so naming the default branch would mislead.
            raise WorkspaceError("RepoEmpty", f"repository {top} has no commits; commit something first")
        raise WorkspaceError(
            "BaseBranchMissing", f"default branch {base!r} does not exist in {top}; fix spec.defaultBranch"
        )


def _switch(path: Path, top: Path, branch: str, base: str) -> None:
    if _branch_exists(top, branch):
        elsewhere = _checked_out_at(top, branch)
        if elsewhere is not None:
            raise WorkspaceError("BranchInUse", f"branch {branch} is already checked out at {elsewhere}")
        _git(path, "switch", "--quiet", branch)
    else:
        _require_base(top, base)
        _git(path, "switch", "--quiet", "-c", branch, base)


def preserve(path: Path, session_id: str) -> str:
    """Snapshot every uncommitted change (untracked files too) to a ref, without touching the worktree."""
    ref = PRESERVED_REF.format(session_id=session_id)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(path, "add", "--all", env=env)
        tree = _git(path, "write-tree", env=env).stdout.strip()
    head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    parents = ["-p", head] if head else []
    message = f"ao: uncommitted work of {session_id}, preserved when the session was reaped"
    commit = _git(path, "-c", "user.name=ao", "-c", "user.email=ao@localhost", "commit-tree", tree, *parents,
                  "-m", message).stdout.strip()
    _git(path, "update-ref", ref, commit)
    return ref


def remove_worktree(repo: Path, path: Path, session_id: str) -> Removal:
    """Remove a clean worktree; keep a dirty one on disk with its work preserved under a ref."""
    if not (path / ".git").exists():
        if repo.is_dir():
            _git(repo, "worktree", "prune", check=False)
        return Removal("missing", f"worktree {path} was already gone")
    dirty = _git(path, "status", "--porcelain").stdout.strip()
    if dirty:
        ref = preserve(path, session_id)
        return Removal(
            "preserved",
            f"worktree {path} has uncommitted changes: kept on disk, snapshot at {ref}",
        )
    top = check_repo(repo)
    with _repo_locks[str(top)]:
        _git(top, "worktree", "remove", str(path))
    return Removal("removed", f"removed clean worktree {path}")
