"""Which sessions need a person, most urgent first, and what that person should do.

Built from session views (reconciler.views.session_view), so it needs no store of its own: an agent
waiting for an answer comes first (it is blocked right now), then crash loops, failed starts and
sessions blocked by a foreign tmux session of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..reconcile.plan import BlockReason
from ..registry.records import Phase

# Lower is more urgent.
WAITING, CRASH_LOOP, FAILED_TO_START, BLOCKED, FAILED = range(5)


@dataclass(frozen=True)
class Attention:
    """A session that needs a person, and how urgently."""

    session: str
    project: str
    urgency: int
    what: str  # what is wrong, in a few words
    todo: str  # what the person should do about it
    since: str | None  # ISO time the state began, for "for how long"


def needs_attention(view: dict[str, Any]) -> Attention | None:
    sid, project = view["id"], view["project"]
    phase, reason, message = view["phase"], view.get("reason") or "", view.get("message") or ""
    if view.get("activity") == "waiting":
        return Attention(sid, project, WAITING, f"waiting: {view.get('activityReason') or 'for its user'}",
                         "answer it in the live terminal", view.get("activitySince"))
    if phase == Phase.CRASH_LOOP:
        return Attention(sid, project, CRASH_LOOP, f"crash-looping: {message}".rstrip(": "),
                         "read its events and output, fix the cause, then Relaunch",
                         view.get("lastTransitionAt"))
    if phase == Phase.FAILED and not view.get("startedAt"):
        return Attention(sid, project, FAILED_TO_START, f"failed to start: {message or reason}",
                         "fix the cause shown, then Start or Relaunch", view.get("lastTransitionAt"))
    if phase == Phase.PENDING and reason == BlockReason.NAME_TAKEN:
        return Attention(sid, project, BLOCKED, f"blocked by a foreign session named {sid}",
                         f"remove or rename the other tmux session `{sid}` on ao's server, then Relaunch",
                         view.get("lastTransitionAt"))
    if phase == Phase.FAILED and reason != "Completed":
        return Attention(sid, project, FAILED, f"failed: {message or reason}",
                         "read its events and output, then Relaunch or Delete", view.get("lastTransitionAt"))
    return None


def attention_list(views: list[dict[str, Any]]) -> list[Attention]:
    """Most urgent first; within one urgency, the longest-standing first."""
    items = [item for view in views if (item := needs_attention(view)) is not None]
    return sorted(items, key=lambda a: (a.urgency, a.since or "", a.session))
