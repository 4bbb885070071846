"""Restart timing: exponential backoff with jitter, reset after a long run, crash-loop detection.

Pure functions; jitter is derived from a seed (session ID and restart count) rather than a
random generator, so the planner that uses them stays deterministic and testable.
"""

from __future__ import annotations

import hashlib

BASE_SECONDS = 1.0
CAP_SECONDS = 300.0
JITTER = 0.2  # up to +20%, so many agents that crashed together do not restart in lockstep
RESET_AFTER_SECONDS = 600.0  # a run this long forgets earlier failures
QUICK_FAILURE_SECONDS = 10.0  # an agent that dies sooner than this "failed quickly"
CRASH_LOOP_AFTER = 3  # consecutive quick failures before the phase says CrashLoopBackOff


def _fraction(seed: str) -> float:
    return int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def delay(step: int, seed: str) -> float:
    """Seconds to wait before restart number `step` (0 = the first restart: immediately)."""
    if step <= 0:
        return 0.0
    raw = min(CAP_SECONDS, BASE_SECONDS * 2 ** (step - 1))
    return min(CAP_SECONDS, raw * (1 + JITTER * _fraction(seed)))


def after_exit(step: int, quick_failures: int, uptime: float | None) -> tuple[int, int]:
    """(backoff step, consecutive quick failures) once an agent has exited after `uptime` seconds."""
    if uptime is not None and uptime >= RESET_AFTER_SECONDS:
        step = 0
    quick = uptime is None or uptime < QUICK_FAILURE_SECONDS
    return step, (quick_failures + 1 if quick else 0)


def crash_looping(quick_failures: int) -> bool:
    return quick_failures >= CRASH_LOOP_AFTER
