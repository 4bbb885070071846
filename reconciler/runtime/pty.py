"""Pseudo-terminals: every session holds one, and the kernel allows only so many.

Linux counts ptys machine-wide (`kernel.pty.nr`) against `kernel.pty.max` (4096 by default); a devpts
other than the host's first one (a container's) may use only `max - kernel.pty.reserve` of them. When
none is left, tmux cannot open a pane and says "create window failed: fork failed: No space left on
device" (`respawn pane failed: ...` for a relaunch): `no_pty_left` turns that into a reason a user
can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import RuntimeFailure, SessionProblem

PTY_SYSCTL = Path("/proc/sys/kernel/pty")
REASON = "NoPtyLeft"
NEAR = 0.9  # share of the limit in use from which `ao doctor` warns
# What tmux 3.x prints when forkpty() finds no pty left (ENOSPC from /dev/ptmx).
_TMUX_NO_PTY = re.compile(r"fork failed: No space left on device")


@dataclass(frozen=True)
class PtyUsage:
    """The machine's pseudo-terminals: its limit and how many are taken."""

    max: int  # kernel.pty.max
    reserve: int  # kernel.pty.reserve: kept for the host's first devpts
    in_use: int  # kernel.pty.nr, every devpts of the machine together
    devpts_max: int | None = None  # the `max=` option of the /dev/pts this process sees, when it has one

    @property
    def container_limit(self) -> int:
        return max(self.max - self.reserve, 0)

    @property
    def near(self) -> bool:
        """Close to the limit that a container meets first (the smaller one)."""
        return self.in_use >= NEAR * self.container_limit


def devpts_max(mountinfo: Path = Path("/proc/self/mountinfo")) -> int | None:
    """The `max=` of the devpts mounted on /dev/pts (the last mount there is the one in use)."""
    try:
        lines = [line.split() for line in mountinfo.read_text().splitlines()]
    except OSError:
        return None
    options = [fields[-1] for fields in lines if len(fields) > 4 and fields[4] == "/dev/pts" and "devpts" in fields]
    found = re.search(r"(?:^|,)max=(\d+)", options[-1]) if options else None
    return int(found.group(1)) if found else None


def usage(root: Path = PTY_SYSCTL) -> PtyUsage | None:
    """The pty figures now; None where the platform does not publish them (not Linux)."""
    try:
        figures = {name: int((root / name).read_text().strip()) for name in ("max", "reserve", "nr")}
    except (OSError, ValueError):
        return None
    return PtyUsage(max=figures["max"], reserve=figures["reserve"], in_use=figures["nr"],
                    devpts_max=devpts_max() if root == PTY_SYSCTL else None)


def describe(figures: PtyUsage | None) -> str:
    if figures is None:
        return "kernel.pty.max unknown on this platform"
    own = f"; this /dev/pts allows {figures.devpts_max}" if figures.devpts_max is not None else ""
    return (f"kernel.pty.max={figures.max}, {figures.in_use} in use; a container gets max - kernel.pty.reserve = "
            f"{figures.container_limit}{own}")


class NoPtyLeft(RuntimeFailure, SessionProblem):
    """Both a runtime failure (every caller that handles those still does) and a session problem, so
    the pass marks the session Failed with reason NoPtyLeft and retries it after its back-off."""

    def __init__(self, message: str) -> None:
        SessionProblem.__init__(self, REASON, message)  # sets reason and message
        self.hint = None  # what AoError's str() reads


def no_pty_left(stderr: str, root: Path = PTY_SYSCTL) -> NoPtyLeft | None:
    """The error to raise for a tmux failure that was the machine running out of ptys; None for any other."""
    if not _TMUX_NO_PTY.search(stderr or ""):
        return None
    return NoPtyLeft(f"no pseudo-terminal left ({describe(usage(root))}): raise it with "
                     f"`sysctl kernel.pty.max=<more>` or run fewer sessions (tmux: {stderr.strip()})")
