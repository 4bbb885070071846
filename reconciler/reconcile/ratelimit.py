"""A global cap on agent launches per second (token bucket), shared by the launch threads.

The cap stops a crash storm from forking without end. A server restart is different: it is one
event, bounded by the number of declared sessions, so its relaunches skip the cap, up to
`RECOVERY_BURST` restarts per `RECOVERY_WINDOW_SECONDS`. A server that dies more often than that is
itself a storm, and its relaunches are paced by the cap again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

RECOVERY_BURST = 3
RECOVERY_WINDOW_SECONDS = 600.0


class LaunchLimiter:
    """At most `rate` launches per second on average, with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))
        self._tokens = float(self.burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()
        self._recoveries: deque[tuple[Hashable, float]] = deque()  # exempt recoveries, oldest first

    def acquire(self, recovery: Hashable | None = None) -> float:
        """Wait for a launch slot; returns the seconds waited. `recovery` names the server restart a
        relaunch recovers from (the same value for every relaunch of that restart)."""
        with self._lock:
            now = self._clock()
            if recovery is not None and self._exempt(recovery, now):
                return 0.0
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait:
            self._sleep(wait)
        return wait

    def _exempt(self, recovery: Hashable, now: float) -> bool:
        """Whether this restart's relaunches skip the cap: yes for a restart already let through, or a
        new one while fewer than RECOVERY_BURST were let through in the window."""
        while self._recoveries and now - self._recoveries[0][1] > RECOVERY_WINDOW_SECONDS:
            self._recoveries.popleft()
        if any(key == recovery for key, _ in self._recoveries):
            return True
        if len(self._recoveries) >= RECOVERY_BURST:
            return False
        self._recoveries.append((recovery, now))
        return True
