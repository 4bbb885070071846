"""Facts worded once, for every front end and every event: durations, sizes, how an agent ended."""

from __future__ import annotations

MIB = 1024 * 1024


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


def size(n: int | None) -> str:
    """1.2 GiB, 340 MiB: memory in words."""
    if n is None:
        return "-"
    for unit, scale in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} B"
