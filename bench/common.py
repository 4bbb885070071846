"""What the benchmarks share: a scratch repository, percentiles, tmux facts and clean-up."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path


def scratch_repo(path: Path) -> Path:
    """A git repository with one commit on main, for worktrees."""
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.email=bench@example.com", "-c", "user.name=ao bench", "commit", "-q",
                    "--allow-empty", "-m", "initial"], cwd=path, check=True, capture_output=True)
    return path


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def tmux_version_or_exit() -> str:
    if not shutil.which("tmux"):
        print("tmux is not installed", file=sys.stderr)
        raise SystemExit(1)
    return subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()


def kill_server(socket: Path) -> None:
    subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, check=False)
