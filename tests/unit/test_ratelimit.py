"""The global launch limiter (token bucket)."""

from __future__ import annotations

import threading

import pytest

from reconciler.reconcile.ratelimit import LaunchLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_a_burst_passes_then_launches_are_spaced_at_the_rate():
    t = FakeTime()
    limiter = LaunchLimiter(2.0, burst=2, clock=t.clock, sleep=t.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert all(w > 0 for w in waits[2:])
    assert t.now - 100.0 == pytest.approx(2.0)  # 4 launches beyond the burst at 2 per second


def test_idle_time_refills_the_bucket_up_to_the_burst_only():
    t = FakeTime()
    limiter = LaunchLimiter(1.0, burst=3, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        limiter.acquire()
    t.now += 1000  # a long quiet period does not bank more than `burst` launches
    assert [limiter.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_the_default_burst_is_the_rate_and_rate_must_be_positive():
    assert LaunchLimiter(10).burst == 10 and LaunchLimiter(0.5).burst == 1
    with pytest.raises(ValueError):
        LaunchLimiter(0)
