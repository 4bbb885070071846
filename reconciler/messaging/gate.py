"""When a message may be typed into an agent: the send rules, as one pure function.

- waiting: a dialog only a person should answer is on screen; type nothing.
- starting: the agent is still drawing; hold until it is ready.
- working: type ahead only into agents that queue typed input safely; else hold until idle.
- idle, unknown: type (unknown: an agent ao knows no screens of, past its first moments).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..activity.model import Activity, Reading


class Verdict(StrEnum):
    TYPE = "type"
    HOLD = "hold"  # not now; the agent will be free by itself
    REFUSE = "refuse"  # a person must act first


@dataclass(frozen=True)
class Gate:
    """Whether a message may be typed now, and why."""

    verdict: Verdict
    why: str = ""


def gate(reading: Reading, *, typeahead_safe: bool, draft: str = "") -> Gate:
    activity = reading.activity
    if activity == Activity.WAITING:
        return Gate(Verdict.REFUSE, f"agent is waiting for its user: {reading.reason or 'a dialog is open'}")
    if activity == Activity.EXITED:
        return Gate(Verdict.HOLD, "the agent is not running")
    if activity == Activity.STARTING:
        return Gate(Verdict.HOLD, "the agent is still starting")
    if activity == Activity.WORKING and not typeahead_safe:
        return Gate(Verdict.HOLD, "the agent is working and does not queue typed input")
    if draft:
        return Gate(Verdict.HOLD, "someone's draft is on the agent's input line")
    return Gate(Verdict.TYPE)
