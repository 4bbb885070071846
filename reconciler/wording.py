"""Facts worded once, for every front end and every event: durations and how an agent ended."""

from __future__ import annotations


def duration(seconds: float | None, *, coarse: bool = False) -> str:
    """`95s`, `12m`, `3h07m`; coarse (for AGE columns): `3h`, `2d`."""
    if seconds is None:
        return "an unknown time"
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if not coarse:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def ending(status: int | None, signal: int | None) -> str:
    """How an agent ended: `killed by signal 9`, `exited with status 1`, `exited (status unknown)`."""
    if signal:
        return f"killed by signal {signal}"
    if status is None:
        return "exited (status unknown)"
    return f"exited with status {status}"
