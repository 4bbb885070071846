"""How registry records look to users: one dict per object, shared by tables, JSON and YAML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..activity.store import ActivityRow
from ..reconcile.status import project_status
from ..registry.records import EventRecord, MessageRecord, ProjectRecord, SessionRecord
from ..runtime.base import Live
from ..sessions.secrets import redact
from .output import iso


def agent_state(record: SessionRecord, live: Live | None) -> str:
    """What the runtime says about the agent right now, independent of the registry's phase."""
    if live is None:
        return "none" if record.phase in ("Terminated", "Succeeded", "Failed", "Pending") else "missing"
    if live.alive:
        return "running"
    if live.exit_signal:
        return f"killed ({live.exit_signal})"
    return "exited" if live.exit_status is None else f"exited ({live.exit_status})"


def activity_fields(record: SessionRecord, live: Live | None, activity: ActivityRow | None) -> dict[str, Any]:
    """What the agent is doing: the recorded activity, or `exited` when no agent runs any more."""
    if live is None or not live.alive:
        since = live.dead_at if live is not None and live.dead_at else record.terminated_at
        gone = live is not None or record.phase != "Pending"
        return {"activity": "exited" if gone else None, "activityReason": "", "activitySince": iso(since)}
    if activity is None:
        return {"activity": "unknown", "activityReason": "", "activitySince": None}
    return {"activity": activity.current.activity.value, "activityReason": activity.current.reason,
            "activitySince": iso(activity.since)}


def session_view(record: SessionRecord, live: Live | None, activity: ActivityRow | None = None) -> dict[str, Any]:
    spec = record.spec or {}
    return {
        "id": record.id,
        "project": record.project,
        "kind": record.kind,
        "name": record.worker or record.kind,
        "issue": spec.get("issue"),
        "phase": record.phase,
        "reason": record.reason,
        "message": record.message,
        "agent": agent_state(record, live),
        **activity_fields(record, live, activity),
        "restarts": record.restarts,
        "runtime": record.runtime,
        "pid": (live.pid if live and live.alive else None),
        "exitCode": record.exit_code,
        "branch": record.branch,
        "workspace": record.workspace,
        "restartPolicy": record.restart_policy,
        "specHash": record.spec_hash,
        "createdAt": iso(record.created_at),
        "startedAt": iso(record.started_at),
        "lastTransitionAt": iso(record.last_transition_at),
        "nextRetryAt": iso(record.next_retry_at),
        "terminatedAt": iso(record.terminated_at),
    }


def project_view(record: ProjectRecord, sessions: list[SessionRecord], observed: Mapping[str, Live]) -> dict[str, Any]:
    running = sum(1 for s in sessions if s.phase == "Running")
    status = project_status(record, sessions, observed)
    return {
        "name": record.name,
        "sync": status.sync,
        "health": status.health,
        "blockers": [str(b) for b in status.blockers],
        "prefix": record.prefix,
        "generation": record.generation,
        "observedGeneration": record.observed_generation,
        "sessions": len(sessions),
        "running": running,
        "source": record.source,
        "suspended": bool(record.suspended),
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "spec": redact(record.spec),
    }


def event_view(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "type": event.type,
        "reason": event.reason,
        "project": event.project,
        "session": event.session,
        "message": event.message,
    }


def message_view(message: MessageRecord) -> dict[str, Any]:
    return {
        "id": message.id,
        "at": iso(message.at),
        "from": message.sender,
        "to": message.target,
        "project": message.project,
        "outcome": message.outcome,
        "detail": message.detail,
        "enterPresses": message.enter_presses,
        "submittedAt": iso(message.submitted_at),
        "body": message.body,
    }
