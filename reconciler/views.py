"""How ao's objects look to users, for every front end (CLI tables, JSON, YAML, the API, the dashboard).

One dict per object, plus the rows of a pass report. Nothing here knows about a front end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .registry.records import (
    EventRecord,
    MessageRecord,
    Phase,
    ProjectRecord,
    SessionRecord,
)
from .runtime.base import Observed
from .sessions.secrets import redact
from .wording import duration

if TYPE_CHECKING:  # the executor and the pass are loaded by what reports a pass, not by every read
    from .activity.store import ActivityRow
    from .reconcile.reconcile_pass import PassReport

# Results shown without their reason: the reason only repeats what the result says.
QUIET_RESULTS = frozenset({"created", "unchanged", "adopted"})


def age(since: float | None, now: float | None = None) -> str:
    if not since:
        return "-"
    return duration((now or time.time()) - since, coarse=True)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    import datetime  # only JSON and describe print timestamps

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def session_rows(report: PassReport) -> list[dict[str, Any]]:
    """One row per session a pass planned or touched, and one per session it left unchanged."""
    from .reconcile.plan import PAST_TENSE

    rows = []
    if report.dry_run:
        for action in report.actions:
            rows.append({"id": action.session_id, "project": action.project, "action": action.verb.value,
                         "result": PAST_TENSE[action.verb], "ok": True, "reason": action.reason})
    else:
        for outcome in report.outcomes:
            action = outcome.action
            rows.append({"id": action.session_id, "project": action.project, "action": action.verb.value,
                         "result": outcome.summary, "ok": outcome.ok, "reason": outcome.detail or action.reason})
    rows += [{"id": sid, "project": None, "action": "none", "result": "unchanged", "ok": True, "reason": None}
             for sid in report.unchanged]
    return rows


def agent_state(record: SessionRecord, live: Observed | None) -> str:
    """What the runtime says about the agent right now, independent of the registry's phase."""
    if live is None:
        return "none" if record.phase in (Phase.TERMINATED, Phase.SUCCEEDED, Phase.FAILED, Phase.PENDING) else "missing"
    if live.alive:
        return "running"
    if live.exit_signal:
        return f"killed ({live.exit_signal})"
    return "exited" if live.exit_status is None else f"exited ({live.exit_status})"


def activity_fields(record: SessionRecord, live: Observed | None, activity: ActivityRow | None) -> dict[str, Any]:
    """What the agent is doing: the recorded activity, or `exited` when no agent runs any more."""
    if live is None or not live.alive:
        since = live.dead_at if live is not None and live.dead_at else record.terminated_at
        gone = live is not None or record.phase != Phase.PENDING
        return {"activity": "exited" if gone else None, "activityReason": "", "activitySince": iso(since)}
    if activity is None:
        return {"activity": "unknown", "activityReason": "", "activitySince": None}
    return {"activity": activity.current.activity.value, "activityReason": activity.current.reason,
            "activitySince": iso(activity.since)}


def session_view(record: SessionRecord, live: Observed | None, activity: ActivityRow | None = None,
                 rss: int | None = None) -> dict[str, Any]:
    """`rss`: the resident memory of the session's process tree, in bytes (see `Service.memory_usage`)."""
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
        "rssBytes": rss if live is not None and live.alive else None,
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


def project_view(record: ProjectRecord, sessions: list[SessionRecord], observed: Mapping[str, Observed],
                 declared: int | None = None) -> dict[str, Any]:
    """`declared`: how many sessions the project declares (workers, and its orchestrator when enabled)."""
    # Loaded here, not by the session listings.
    from .reconcile.status import CAPACITY, project_status

    running = sum(1 for s in sessions if s.phase == Phase.RUNNING)
    pending = sum(1 for s in sessions if s.phase == Phase.PENDING and s.reason == CAPACITY)
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
        "declared": declared if declared is not None else len(sessions),
        "pending": pending,  # waiting for capacity
        "maxRunningWorkers": (record.spec.get("limits") or {}).get("maxRunningWorkers"),
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
