"""Polling until a deadline: the one loop ao uses wherever it waits for something to happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(attempt: Callable[[], T | None], *, timeout: float, interval: float,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> T | None:
    """Call `attempt` until it returns something other than None, or `timeout` seconds have passed.

    Returns that result, or None on timeout. `attempt` is called at least once, and once more after
    the deadline, so a condition that became true during the last sleep is still seen.
    """
    deadline = clock() + timeout
    while True:
        result = attempt()
        if result is not None or clock() > deadline:
            return result
        sleep(interval)
