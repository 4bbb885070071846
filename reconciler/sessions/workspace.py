"""Git worktrees: each session works in its own checkout under the data dir, on its own branch.

Nothing here ever deletes work: a worktree with uncommitted changes (tracked or untracked) is
snapshotted to `refs/ao/preserved/<session-id>` and left on disk; one that holds git-ignored
files (`.env`, `build/`) is left on disk too, since a snapshot does not hold them; branches are
never deleted. What a killed `git worktree add` leaves behind (a stale branch lock, a
half-created worktree with no work) is repaired before the worktree is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import SessionProblem
from .presets import AGENT_BOOKKEEPING

PRESERVED_REF = "refs/ao/preserved/{session_id}"
# git holds a ref lock for milliseconds; one this old was left by a killed git.
STALE_LOCK_SECONDS = 10
# git takes file locks in the repository; ao serialises its own git calls per repository.
_repo_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


class WorkspaceError(SessionProblem):
    """The session's workspace (repository, worktree, branch) cannot be prepared."""


@dataclass(frozen=True)
class Removal:
    """What became of a worktree ao was asked to remove."""

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


def _worktrees(repo: Path) -> dict[Path, str | None]:
    """Every worktree git knows for `repo` (`git worktree list`), with its branch (None: detached)."""
    listing = _git(repo, "worktree", "list", "--porcelain", check=False).stdout
    found: dict[Path, str | None] = {}
    path: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree ")).resolve()
            found[path] = None
        elif line.startswith("branch refs/heads/") and path is not None:
            found[path] = line.removeprefix("branch refs/heads/")
    return found


def find_worktree(repo: Path, path: Path) -> tuple[Path, str | None] | None:
    """The worktree of `repo` at `path` and its branch, if git has one there: how a session adopted
    after a crash gets back the workspace and branch its lost row held."""
    if not repo.is_dir() or not path.is_dir():
        return None
    worktrees = _worktrees(repo)
    resolved = path.resolve()
    return (path, worktrees[resolved]) if resolved in worktrees else None


def require_dir(repo: Path) -> None:
    if not repo.is_dir():
        raise WorkspaceError("RepoMissing", f"repository {repo} does not exist; fix spec.repo")


def check_repo(repo: Path) -> Path:
    """The top of the git repository at `repo`."""
    return _repository_dirs(repo)[0]


def _repository_dirs(repo: Path) -> tuple[Path, Path]:
    """The top of the git repository at `repo` and its common git dir (shared by its worktrees), in one call."""
    require_dir(repo)
    result = _git(repo, "rev-parse", "--show-toplevel", "--git-common-dir", check=False)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2:
        raise WorkspaceError(
            "NotAGitRepo", f"{repo} is not a git repository; run `git init` there or set `workspace: none`"
        )
    top, common = Path(lines[0]), Path(lines[1])
    return top, common if common.is_absolute() else repo / common


class Repository:
    """What a pass asks git about one repository once, not once per session: where it is, its common
    git dir, its branches, whether a base exists. Stale worktree entries are pruned once, up front."""

    def __init__(self, repo: Path) -> None:
        self.top, self.common = _repository_dirs(repo)
        with _repo_locks[str(self.top)]:
            _git(self.top, "worktree", "prune", check=False)
            refs = _git(self.top, "for-each-ref", "--format=%(refname)", "refs/heads").stdout.splitlines()
        self.branches = {ref.removeprefix("refs/heads/") for ref in refs}
        self._bases: dict[str, WorkspaceError | None] = {}

    def require_base(self, base: str) -> None:
        if base not in self._bases:
            try:
                _require_base(self.top, base)
                self._bases[base] = None
            except WorkspaceError as exc:
                self._bases[base] = exc
        if self._bases[base] is not None:
            raise self._bases[base]


class Repositories:
    """The `Repository` of each repository a pass uses, looked up once (the launches of a pass share it)."""

    def __init__(self) -> None:
        self._known: dict[Path, Repository | WorkspaceError] = {}
        self._lock = threading.Lock()

    def get(self, repo: Path) -> Repository:
        with self._lock:
            if repo not in self._known:
                try:
                    self._known[repo] = Repository(repo)
                except WorkspaceError as exc:
                    self._known[repo] = exc
            known = self._known[repo]
        if isinstance(known, WorkspaceError):
            raise known
        return known


def ensure_worktree(repo: Path, path: Path, branch: str, base: str, repositories: Repositories | None = None) -> Path:
    """A worktree of `repo` at `path` on `branch` (created from `base` if new); reused if present.
    Launches of one pass share `repositories`, so git is asked about the repository once."""
    known = (repositories or Repositories()).get(repo)
    top = known.top
    with _repo_locks[str(top)]:
        _remove_stale_lock(known.common, branch)
        _remove_half_created(top, path)
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
            known.branches.add(branch)
            return path
        if branch in known.branches:
            elsewhere = _checked_out_at(top, branch)
            if elsewhere is not None:
                raise WorkspaceError(
                    "BranchInUse", f"branch {branch} is already checked out at {elsewhere}; choose another branch"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(top, "worktree", "add", "--quiet", str(path), branch)
        else:
            known.require_base(base)
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(top, "worktree", "add", "--quiet", "-b", branch, str(path), base)
            known.branches.add(branch)
    return path


def _remove_stale_lock(common: Path, branch: str) -> str | None:
    lock = common / "refs" / "heads" / f"{branch}.lock"
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
            return f"removed stale lock {lock}"
    except FileNotFoundError:
        pass
    return None


def _remove_half_created(top: Path, path: Path) -> bool:
    """Remove a worktree whose HEAD never got written, if it holds nothing but its `.git` file."""
    if not (path / ".git").is_file() or not _git(
            path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).returncode:
        return False
    leftovers = [p.name for p in path.iterdir() if p.name != ".git"]
    if leftovers:
        raise WorkspaceError(
            "WorktreeBroken",
            f"worktree {path} has no valid HEAD but holds files ({', '.join(sorted(leftovers)[:5])}); "
            "move them away, then remove the directory",
        )
    _git(top, "worktree", "unlock", str(path), check=False)  # `git worktree add` locks while initializing
    shutil.rmtree(path)
    _git(top, "worktree", "prune", check=False)
    return True


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


def _nested_repositories(path: Path, status: str) -> list[str]:
    """Untracked directories that are repositories of their own (git cannot add one with no commit)."""
    found = []
    for line in status.splitlines():
        entry = line[3:]
        if line.startswith("?? ") and entry.endswith("/") and (path / entry / ".git").exists():
            found.append(entry)
    return found


def preserve(path: Path, session_id: str, status: str = "") -> tuple[str, list[str]]:
    """Snapshot every uncommitted change (untracked files too) to a ref, without touching the worktree.
    Returns the ref and the nested repositories left out of the snapshot (they stay on disk)."""
    ref = PRESERVED_REF.format(session_id=session_id)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        skipped: list[str] = []
        if _git(path, "add", "--all", env=env, check=False).returncode != 0:
            skipped = _nested_repositories(path, status or _git(path, "status", "--porcelain").stdout)
            _git(path, "add", "--all", "--", ".", *(f":(exclude){entry}" for entry in skipped), env=env)
        tree = _git(path, "write-tree", env=env).stdout.strip()
    head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    parents = ["-p", head] if head else []
    message = f"ao: uncommitted work of {session_id}, preserved when the session was reaped"
    commit = _git(path, "-c", "user.name=ao", "-c", "user.email=ao@localhost", "commit-tree", tree, *parents,
                  "-m", message).stdout.strip()
    _git(path, "update-ref", ref, commit)
    return ref, skipped


def remove_worktree(repo: Path, path: Path, session_id: str) -> Removal:
    """Remove a clean worktree; keep one that holds any work on disk (changes preserved under a ref).

    Work means tracked changes, untracked files, ignored files (`.env`, `build/`) and nested
    repositories: all of it stays where it is, and the detail says where."""
    if repo.is_dir() and (path / ".git").is_file():
        top = check_repo(repo)
        with _repo_locks[str(top)]:
            if _remove_half_created(top, path):
                return Removal("removed", f"removed half-created worktree {path} (it held no work)")
    if not (path / ".git").exists():
        if repo.is_dir():
            _git(repo, "worktree", "prune", check=False)
        return Removal("missing", f"worktree {path} was already gone")
    # What agents keep there for themselves (untracked caches, histories) is not work.
    _git(path, "clean", "-f", "-d", "-x", "-q", "--", *AGENT_BOOKKEEPING, check=False)
    status = _git(path, "status", "--porcelain", "--ignored", "--untracked-files=normal").stdout
    changes = "\n".join(line for line in status.splitlines() if not line.startswith("!! "))
    ignored = [line[3:] for line in status.splitlines() if line.startswith("!! ")]
    if changes or ignored:
        kept = [f"worktree {path} kept on disk"]
        if changes:
            try:
                ref, skipped = preserve(path, session_id, changes)
                kept.append(f"uncommitted changes snapshot at {ref}")
                if skipped:
                    kept.append(f"nested repositories not in the snapshot: {', '.join(skipped)}")
            except WorkspaceError as exc:  # the directory stays: the work is still there
                kept.append(f"no snapshot ({exc.message})")
        if ignored:
            shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
            kept.append(f"it holds git-ignored files ({shown})")
        return Removal("preserved", "; ".join(kept))
    top = check_repo(repo)
    with _repo_locks[str(top)]:
        _git(top, "worktree", "remove", str(path))
    return Removal("removed", f"removed clean worktree {path}")
