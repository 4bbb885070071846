"""The activity of an agent, and one reading of it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Activity(StrEnum):
    STARTING = "starting"  # launched, not yet ready for input
    WORKING = "working"  # in a turn
    IDLE = "idle"  # ready for input
    WAITING = "waiting"  # a dialog only a person should answer is on screen
    EXITED = "exited"  # the agent process is gone
    UNKNOWN = "unknown"  # nothing recognisable: neither a signal nor a known screen


@dataclass(frozen=True)
class Reading:
    """What one source (a signal or the screen) says the agent is doing, and why."""

    activity: Activity
    reason: str = ""
    source: str = "screen"  # screen | signal | process

    def same_state(self, other: Reading | None) -> bool:
        return other is not None and other.activity == self.activity and other.reason == self.reason
