"""Imperative commands on top of the declared state: spawn a worker, delete one, ensure the orchestrator,
relaunch a session. Each converges through the planner, so a command decides nothing the pass would not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..errors import AoError, NotFound, UsageError
from ..registry.records import (
    MANIFEST_OWNER,
    SPAWN_OWNER,
    Kind,
    Phase,
    ProjectRecord,
    WorkerRecord,
)
from ..sessions.naming import orchestrator_id
from .holds import active_project, release, session_to_act_on
from .plan import BlockReason, Force, Verb, plan
from .reconcile_pass import PassReport, current_world, execute, stored_pass

if TYPE_CHECKING:
    from .service import Service


@dataclass(frozen=True)
class SpawnResult:
    """What `ao spawn` added and started."""

    project: str
    worker: str
    session_id: str | None
    orchestrator_id: str | None
    report: PassReport


def worker_name(issue: str | None, taken: set[str]) -> str:
    """A readable, unique worker name: issue-123, issue-123-2, task, task-2, ..."""
    base = re.sub(r"[^a-z0-9._-]+", "-", f"issue-{issue}".lower()).strip("-.")[:56] if issue else "task"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _orchestrator_enabled(project: ProjectRecord) -> bool:
    return bool((project.spec.get("orchestrator") or {}).get("enabled", True))


def _worker_spec(name: str, issue: str | None, prompt: str | None, agent: str | None) -> dict:
    from ..manifest.models import WorkerSpec

    try:
        return WorkerSpec.model_validate(
            {"name": name, "issue": issue, "prompt": prompt, "agent": {"preset": agent} if agent else None}
        ).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"invalid worker: {problems}") from None


def spawn(svc: Service, project: str, *, issue: str | None = None, prompt: str | None = None,
          name: str | None = None, agent: str | None = None, owner: str = SPAWN_OWNER) -> SpawnResult:
    """Add a worker that belongs to `owner` (re-applying the manifest keeps it), then converge."""
    registry = svc.registry
    with svc.lock():
        record = active_project(svc, project)
        workers = registry.workers(project)
        taken = {w.name for w in workers}
        if name is not None and name in taken:
            raise UsageError(f"worker {name!r} already exists in project {project}", hint="choose another --name")
        name = name or worker_name(issue, taken)
        spec = _worker_spec(name, issue, prompt, agent)
        position = max((w.position for w in workers), default=-1) + 1
        with registry.transaction():
            registry.save_worker(WorkerRecord(project=project, name=name, owner=owner, spec=spec,
                                              position=position, created_at=svc.clock()))
            registry.add_event("Spawned", f"worker {name} added by {owner}", project=project)
        report = stored_pass(svc, frozenset([project]))
        session = next((s for s in registry.sessions(project=project) if s.worker == name), None)
        return SpawnResult(project=project, worker=name, session_id=session.id if session else None,
                           orchestrator_id=orchestrator_id(record.prefix) if _orchestrator_enabled(record) else None,
                           report=report)


def delete_session(svc: Service, session_id: str) -> PassReport:
    """Remove a worker that `ao spawn` or the API added, and reap its session."""
    registry = svc.registry
    with svc.lock():
        record = registry.session(session_id)
        if record is None:
            raise NotFound(f"no session {session_id!r}", hint="see `ao get sessions`")
        if record.kind == Kind.ORCHESTRATOR:
            raise UsageError(f"{session_id} is the orchestrator of project {record.project}",
                             hint="set spec.orchestrator.enabled: false in its manifest and re-apply")
        worker = {w.name: w for w in registry.workers(record.project)}.get(record.worker or "")
        if worker is not None and worker.owner == MANIFEST_OWNER:
            source = (registry.project(record.project) or record).source  # type: ignore[union-attr]
            raise UsageError(f"{session_id} (worker {worker.name!r}) is declared by the manifest {source}",
                             hint="remove the worker there and re-apply")
        if worker is not None:
            with registry.transaction():
                registry.delete_worker(record.project, worker.name)
                registry.add_event("Deleted", f"worker {worker.name} ({session_id}) deleted",
                                   project=record.project, session=session_id)
        return stored_pass(svc, frozenset([record.project]))


def _held_orchestrator(svc: Service, sid: str) -> str | None:
    """Handle a suspended or stopped orchestrator; returns "reused" when it must be left as it is."""
    held = svc.registry.session(sid)
    if held is not None and held.phase == Phase.STOPPED:
        release(svc, held, due=True)  # an explicit request starts a stopped orchestrator
    elif held is not None and held.phase == Phase.SUSPENDED:
        observed = svc.runtime.probe(sid)
        if observed is not None and observed.alive:
            return "reused"
        raise UsageError(f"{sid} is suspended and its agent is not running", hint=f"`ao resume session {sid}` first")
    return None


def ensure_orchestrator(svc: Service, project: str) -> tuple[str, str]:
    """The one canonical orchestrator: reuse it, relaunch it in place, or create it.

    Returns (session ID, what happened: reused | relaunched | created | adopted).
    """
    with svc.lock():
        record = active_project(svc, project)
        sid = orchestrator_id(record.prefix)
        if not _orchestrator_enabled(record):
            raise UsageError(f"the orchestrator of project {project} is disabled in its manifest",
                             hint="set spec.orchestrator.enabled: true and re-apply")
        if _held_orchestrator(svc, sid) == "reused":
            return sid, "reused"
        world = current_world(svc, project, forced={sid: Force.START})
        action = next((a for a in plan(world) if a.session_id == sid), None)
        if action is None:
            return sid, "reused"
        if action.block == BlockReason.NAME_TAKEN:
            raise AoError(action.reason)
        outcome = execute(svc, [action], world)[0]
        if not outcome.ok:
            raise AoError(f"cannot start {sid}: {outcome.detail}")
        return sid, {Verb.CREATE: "created", Verb.ADOPT: "adopted"}.get(action.verb, "relaunched")


def relaunch_session(svc: Service, session_id: str) -> str:
    """Relaunch a session's agent now, in place (same ID, worktree and branch), resuming where it can."""
    with svc.lock():
        record = session_to_act_on(svc, session_id)
        if record.phase in (Phase.SUSPENDED, Phase.STOPPED):
            raise UsageError(f"{session_id} is {record.phase}", hint="resume or start it first")
        world = current_world(svc, record.project, forced={session_id: Force.RELAUNCH})
        action = next((a for a in plan(world) if a.session_id == session_id), None)
        if action is not None and action.block is not None:
            raise AoError(action.reason)
        if action is None or action.verb != Verb.RELAUNCH:
            raise UsageError(f"{session_id} is no longer declared", hint="`ao reconcile` reaps it")
        outcome = execute(svc, [action], world)[0]
        if not outcome.ok:
            raise AoError(f"cannot relaunch {session_id}: {outcome.detail}")
        return f"session/{session_id} relaunched"
