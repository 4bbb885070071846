"""Checks against the machine, run by `ao apply` after validation and before anything is recorded.

A manifest can be valid and still unservable here: its repository is missing, is not a git
repository or has no commit to start worktrees from, or it asks for a runtime that is not
installed. These are the user's mistakes, so they are reported like validation problems (file,
line, column, field; exit 2; nothing applied) rather than discovered by a pass that records the
project and then fails its sessions. A watched manifest that becomes unservable later is still
recorded and reported by the controller, as before.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .loader import LoadedProject, ManifestError, ManifestIssue


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def repo_problem(repo: Path, *, needs_git: bool) -> str | None:
    """Why `repo` cannot host sessions, or None."""
    if not repo.exists():
        return f"repository {repo} does not exist"
    if not repo.is_dir():
        return f"repository {repo} is not a directory"
    if not needs_git:
        return None
    if shutil.which("git") is None:
        return None  # a missing tool is the pass's one-line error, not a problem of this manifest
    if _git(repo, "rev-parse", "--show-toplevel").returncode != 0:
        return f"{repo} is not a git repository; run `git init` there or set `workspace: none`"
    if _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0 \
            and not _git(repo, "for-each-ref", "--count=1", "refs/heads").stdout.strip():
        return f"repository {repo} has no commits; commit something first (worktrees start from a commit)"
    return None


def project_issues(project: LoadedProject) -> list[ManifestIssue]:
    spec = project.manifest.spec
    issues = []
    problem = repo_problem(project.repo_path(), needs_git=spec.workspace == "worktree")
    if problem:
        issues.append(project.issue(("spec", "repo"), problem))
    if spec.runtime == "zellij" and shutil.which("zellij") is None:
        issues.append(project.issue(("spec", "runtime"), "zellij is not installed; install zellij 0.44.2 or newer, "
                                                         "or use `runtime: tmux` (or `auto`)"))
    return issues


def check(projects: Iterable[LoadedProject]) -> None:
    """Raise ManifestError (exit 2, nothing applied) listing every project this machine cannot serve."""
    issues = [issue for project in projects for issue in project_issues(project)]
    if issues:
        raise ManifestError(sorted(issues, key=lambda i: (i.source, i.line, i.column)))
