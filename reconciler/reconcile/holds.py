"""Holding sessions on purpose: suspend and resume (projects or sessions), stop and start (sessions).

A held session is left alone by the planner (see `HELD`) until a user releases it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotFound, UsageError
from ..registry.records import Phase, ProjectRecord, SessionRecord

if TYPE_CHECKING:
    from .service import Service


def active_project(svc: Service, name: str) -> ProjectRecord:
    project = svc.registry.project(name)
    if project is None or project.deleted:
        raise NotFound(f"no project named {name!r}", hint="see `ao get projects`")
    return project


def session_to_act_on(svc: Service, session_id: str) -> SessionRecord:
    record = svc.registry.session(session_id)
    if record is None:
        raise NotFound(f"no session {session_id!r}", hint="see `ao get sessions`")
    if record.phase == Phase.TERMINATED:
        raise UsageError(f"session {session_id} is terminated")
    return record


def set_suspended(svc: Service, kind: str, name: str, suspended: bool) -> str:
    """Suspend or resume a project or a session; returns what happened, for one output line."""
    verb = "suspended" if suspended else "resumed"
    registry = svc.registry
    with svc.lock():
        if kind == "project":
            project = active_project(svc, name)
            if bool(project.suspended) == suspended:
                return f"project/{name} already {verb}"
            with registry.transaction():
                registry.update_project(name, suspended=int(suspended))
                registry.add_event(verb.capitalize(), f"project {name} {verb}", project=name)
        else:
            record = session_to_act_on(svc, name)
            if suspended:
                hold(svc, record, Phase.SUSPENDED, "SuspendedByUser",
                     "`ao suspend` stops reconciling it; the agent keeps running")
            elif record.phase == Phase.SUSPENDED:
                release(svc, record, due=False)
            else:
                return f"session/{name} is not suspended ({record.phase})"
    if not suspended:
        svc.reconcile([name] if kind == "project" else [session_to_act_on(svc, name).project])
    return f"{kind}/{name} {verb}"


def stop_session(svc: Service, session_id: str) -> str:
    """Stop a session's agent on purpose: unlike a crash, it is not restarted until started again."""
    with svc.lock():
        record = session_to_act_on(svc, session_id)
        observed = svc.runtime.probe(session_id)
        if observed is not None and observed.owned_by(svc.data_dir.owner_id):
            svc.runtime.kill(session_id)
        hold(svc, record, Phase.STOPPED, "StoppedByUser", "stopped with `ao stop`; `ao start` starts it again")
    svc.reconcile([record.project])  # its room goes to the next worker waiting for capacity, now
    return f"session/{session_id} stopped"


def start_session(svc: Service, session_id: str) -> str:
    with svc.lock():
        record = session_to_act_on(svc, session_id)
        if record.phase != Phase.STOPPED:
            return f"session/{session_id} is not stopped ({record.phase})"
        release(svc, record, due=True)
    svc.reconcile([record.project])
    after = svc.registry.session(session_id)
    if after is not None and after.phase == Phase.PENDING and after.reason == "Capacity":
        return f"session/{session_id} released; it is {after.message}"
    return f"session/{session_id} started"


def hold(svc: Service, record: SessionRecord, phase: Phase, reason: str, message: str) -> None:
    with svc.registry.transaction():
        svc.registry.update_session(record.id, phase=phase, reason=reason, message=message,
                                    last_transition_at=svc.clock())
        svc.registry.add_event(reason, f"{record.id}: {message}", project=record.project, session=record.id)


def release(svc: Service, record: SessionRecord, *, due: bool) -> None:
    """Hand a held session back to the reconciler (due: restart its agent on the next pass)."""
    now = svc.clock()
    with svc.registry.transaction():
        svc.registry.update_session(record.id, phase=Phase.PENDING if due else Phase.RUNNING,
                                    reason="Released", message="released by a user",
                                    next_retry_at=now if due else None, backoff_step=0,
                                    quick_failures=0, last_transition_at=now)
        svc.registry.add_event("Released", f"{record.id} handed back to ao", project=record.project,
                               session=record.id)
