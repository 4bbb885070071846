"""One activity from what the screen shows, the agent's last signal and what was known before."""

from __future__ import annotations

from .model import Activity, Reading

# A signal newer than this wins over a screen that has not caught up yet (a hook fires a moment
# before the agent redraws).
SIGNAL_LEAD_SECONDS = 3.0
# An agent with known screens is "starting" until one is recognised, for at most this long;
# then "unknown". An agent ao knows no screens of is given a short moment to start.
STARTING_LIMIT_SECONDS = 120.0
UNRECOGNISED_SETTLE_SECONDS = 2.0


def decide(*, alive: bool, screen: Reading | None, signal: Reading | None, signal_at: float | None,
           previous: Reading | None, started_at: float | None, now: float, known_screens: bool = True,
           expects_signal: bool = False) -> Reading:
    """`expects_signal`: the agent reports when it is ready (hooks); until it has, it is starting,
    whatever its screen shows (its input box is drawn a moment before it takes input)."""
    if not alive:
        return Reading(Activity.EXITED, source="process")
    if screen is not None and screen.activity == Activity.WAITING:
        if signal is not None and signal.activity == Activity.WAITING and signal.reason.startswith("permission: "):
            return signal  # the hook names the tool call; the screen only shows a dialog
        return screen
    if signal is not None and signal_at is not None and now - signal_at < SIGNAL_LEAD_SECONDS:
        return signal
    starting = started_at is not None and now - started_at < STARTING_LIMIT_SECONDS
    if expects_signal and signal is None and starting:
        return Reading(Activity.STARTING, "not ready yet", source="process")
    if screen is not None:
        return screen
    if signal is not None:
        return signal
    if previous is not None and previous.activity in (Activity.IDLE, Activity.WORKING):
        return previous  # a redraw in between: keep what was last recognised
    limit = STARTING_LIMIT_SECONDS if known_screens else UNRECOGNISED_SETTLE_SECONDS
    if started_at is not None and now - started_at < limit:
        return Reading(Activity.STARTING, source="process")
    return Reading(Activity.UNKNOWN, source="process")
