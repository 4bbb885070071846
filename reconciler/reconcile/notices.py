"""Lifecycle routing: what the orchestrator is told when one of its workers changes state.

Pure: from an executed action to the text of one `[from ao]` message, or None. The executor
queues it in the same transaction as the transition itself, so each transition is announced at
most once, even across crashes.
"""

from __future__ import annotations

from ..registry.records import Kind, Phase
from .backoff import CRASH_LOOP_AFTER
from .plan import Action, Verb

SENDER = "ao"


def _who(action: Action) -> str:
    issue = action.desired.issue if action.desired else (
        (action.record.spec or {}).get("issue") if action.record else None)
    return f"{action.session_id} (issue {issue})" if issue else action.session_id


def _since(action: Action, now: float) -> str:
    record = action.record
    if record is None or record.started_at is None:
        return ""
    ended = action.live.dead_at if action.live and action.live.dead_at else now
    minutes = max(0, int(ended - record.started_at)) // 60
    return f" after {minutes}m" if minutes else f" after {max(0, int(ended - record.started_at))}s"


def _branch(action: Action) -> str:
    branch = action.record.branch if action.record else None
    return f"; branch {branch}" if branch else ""


def notice(action: Action, outcome: str, detail: str, now: float) -> str | None:
    """The message for the orchestrator about this worker transition, if it is one worth telling."""
    if action.kind != Kind.WORKER:
        return None
    if outcome == "failed" and action.verb in (Verb.CREATE, Verb.RELAUNCH, Verb.RECREATE):
        # Only the first failure: retries of a launch that keeps failing are not news.
        first = action.record is None or action.record.phase != Phase.FAILED
        return f"{_who(action)} failed to start: {detail}" if first else None
    who, branch = _who(action), _branch(action)
    waited = action.record is not None and action.record.reason == "Capacity"
    if waited and outcome in ("created", "relaunched"):
        return f"{who} started: there was room for it at last (it waited for capacity)"
    live = action.live
    status = (f"killed by signal {live.exit_signal}" if live and live.exit_signal
              else f"exited {live.exit_status}" if live and live.exit_status is not None else "stopped")
    if action.verb == Verb.EXITED:
        if action.phase == Phase.SUCCEEDED:
            return f"{who} {status}{_since(action, now)}{branch}"
        return f"{who} failed: {status}{_since(action, now)}{branch}; see `ao logs {action.session_id}`"
    crash_looping = action.quick_failures >= CRASH_LOOP_AFTER
    if action.verb == Verb.BACKOFF and action.phase == Phase.CRASH_LOOP:
        # Told once, when the loop starts; each further cycle is in the events, not the inbox.
        if action.quick_failures != CRASH_LOOP_AFTER:
            return None
        return f"{who} is crash-looping ({action.reason}); see `ao logs {action.session_id}`"
    if action.verb == Verb.RELAUNCH and outcome == "relaunched" and not crash_looping:
        restarts = (action.record.restarts if action.record else 0) + 1
        return f"{who} was relaunched (restart {restarts}): {action.reason}{branch}"
    if action.verb == Verb.REAP and outcome == "reaped" and action.record is not None:
        return f"{who} was stopped and removed: {action.reason}{branch}"
    return None
