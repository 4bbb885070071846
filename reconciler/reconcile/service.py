"""ao's operations (apply, delete, reconcile), shared by the CLI and any other front end.

Every operation that changes desired state or sessions runs under the data dir's pass lock, so
two `ao apply` runs, a controller and a CLI call never interleave their passes.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from ..activity import store as activity_store
from ..activity.store import ActivityRow
from ..errors import AoError, NotFound, UsageError
from ..manifest.loader import (
    LoadedProject,
    ManifestError,
    ManifestIssue,
    prefix_collision,
)
from ..messaging.queue import deliver_queued
from ..paths import DataDir
from ..registry.records import Kind, Phase, ProjectRecord, SessionRecord, WorkerRecord
from ..registry.store import Registry
from ..runtime.base import Live, Runtime
from ..runtime.fleet import fleet_for
from ..sessions.naming import orchestrator_id
from .activity_step import observe_step
from .desired import default_runtime, desired_projects, spec_hash
from .execute import PAST_TENSE, Executor, Outcome
from .lock import pass_lock
from .plan import Action, Verb, World, plan
from .ratelimit import LaunchLimiter

MANIFEST_OWNER = "manifest"
SPAWN_OWNER = "spawn"


@dataclass(frozen=True)
class SpawnResult:
    project: str
    worker: str
    session_id: str | None
    orchestrator_id: str | None
    report: PassReport


def _worker_name(issue: str | None, taken: set[str]) -> str:
    """A readable, unique worker name: issue-123, issue-123-2, task, task-2, ..."""
    base = re.sub(r"[^a-z0-9._-]+", "-", f"issue-{issue}".lower()).strip("-.")[:56] if issue else "task"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


@dataclass(frozen=True)
class ProjectChange:
    name: str
    status: str  # created | configured | unchanged | deleted


@dataclass
class PassReport:
    actions: list[Action] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # in-scope session IDs with nothing to do
    dry_run: bool = False
    delivered: list[tuple[str, str]] = field(default_factory=list)  # queued messages: (target, outcome)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


@dataclass
class ApplyReport:
    projects: list[ProjectChange]
    reconcile: PassReport

    @property
    def changed(self) -> bool:
        return any(p.status != "unchanged" for p in self.projects) or any(
            a.verb != "wait" for a in self.reconcile.actions
        )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Ao:
    def __init__(self, data_dir: DataDir, *, runtime: Runtime | None = None,
                 clock: Callable[[], float] = time.time, on_wait: Callable[[str], None] = _stderr,
                 limiter: LaunchLimiter | None = None) -> None:
        self.data_dir = data_dir
        self._runtime = runtime
        self.clock = clock
        self.on_wait = on_wait
        self.limiter = limiter

    @cached_property
    def registry(self) -> Registry:
        return Registry.open(self.data_dir.ensure().db_path)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = fleet_for(self.data_dir)
        return self._runtime

    def resolve_runtime(self, declared: str) -> str:
        resolve = getattr(self.runtime, "resolve", None)
        return resolve(declared) if resolve else default_runtime(declared)

    def lock(self):  # type: ignore[no-untyped-def]
        return pass_lock(self.data_dir.ensure().lock_path, on_wait=self.on_wait)

    def observe(self) -> dict[str, Live]:
        return self.runtime.observe()

    def activity(self) -> dict[str, ActivityRow]:
        """What each agent was last seen doing (see reconciler/activity)."""
        return activity_store.load_all(self.registry.db.conn)

    # ------------------------------------------------------------ reconcile

    def _world(
        self,
        projects: Sequence[ProjectRecord],
        workers: Sequence[WorkerRecord],
        scope: frozenset[str] | None,
        observed: dict[str, Live] | None = None,
    ) -> World:
        return World(
            desired=tuple(desired_projects(projects, workers, self.resolve_runtime)),
            records=tuple(self.registry.sessions()),
            observed=self.runtime.observe() if observed is None else observed,
            counters={p.prefix: self.registry.next_number(p.prefix) for p in projects},
            owner=self.data_dir.owner_id,
            now=self.clock(),
            scope=scope,
            deleted=frozenset(p.name for p in projects if p.deleted),
        )

    def _execute(self, actions: Sequence[Action], world: World) -> list[Outcome]:
        return Executor(self.registry, self.runtime, self.data_dir, clock=self.clock,
                        limiter=self.limiter).execute(actions, world)

    def _pass(
        self,
        projects: Sequence[ProjectRecord],
        workers: Sequence[WorkerRecord],
        scope: frozenset[str] | None,
        *,
        dry_run: bool,
        observed: dict[str, Live] | None = None,
    ) -> PassReport:
        world = self._world(projects, workers, scope, observed)
        actions = plan(world)
        touched = {a.session_id for a in actions}
        unchanged = [r.id for r in world.records if r.id not in touched and (scope is None or r.project in scope)]
        report = PassReport(actions=actions, unchanged=unchanged, dry_run=dry_run)
        if not dry_run:
            report.outcomes = self._execute(actions, world)
            with self.registry.transaction():
                for project in projects:
                    if (scope is None or project.name in scope) and not project.deleted:
                        self.registry.update_project(project.name, observed_generation=project.generation)
            orchestrators = {p.name: p.orchestrator.orchestrator_id if p.orchestrator else None for p in world.desired}
            observe_step(self.registry, self.runtime, world.observed, world.owner, orchestrators, touched, self.clock())
            report.delivered = deliver_queued(self.registry, self.runtime, world.observed, world.owner, self.data_dir,
                                              self.clock())
        return report

    def _project_pass(self, name: str) -> PassReport:
        return self._pass(self.registry.projects(include_deleted=True), self.registry.workers(), frozenset([name]),
                          dry_run=False)

    def reconcile(self, scope: Iterable[str] | None = None, *, dry_run: bool = False) -> PassReport:
        with self.lock():
            names = frozenset(scope) if scope is not None else None
            return self._pass(self.registry.projects(include_deleted=True), self.registry.workers(), names,
                              dry_run=dry_run)

    # ------------------------------------------------------------ apply

    def _check_prefixes(self, loaded: Sequence[LoadedProject]) -> None:
        issues: list[ManifestIssue] = []
        applying = {p.name for p in loaded}
        taken = {p.prefix: p for p in self.registry.projects() if p.name not in applying}
        for project in loaded:
            other = taken.get(project.manifest.prefix)
            if other is not None:
                issues.append(prefix_collision(project, other.name, f"applied from {other.source or 'the registry'}"))
        if issues:
            raise ManifestError(issues)

    def _merge(
        self, loaded: Sequence[LoadedProject], existing: dict[str, ProjectRecord], workers: list[WorkerRecord]
    ) -> tuple[list[ProjectChange], list[ProjectRecord], list[WorkerRecord]]:
        """New project and worker rows after applying `loaded` (pure; nothing is written)."""
        now = self.clock()
        changes: list[ProjectChange] = []
        new_projects = {name: record for name, record in existing.items()}
        kept = [w for w in workers if w.project not in {p.name for p in loaded} or w.owner != MANIFEST_OWNER]
        new_workers = list(kept)
        for project in loaded:
            spec = project.manifest.spec.model_dump(mode="json")
            spec["repo"] = str(project.repo_path())
            declared = spec.pop("workers")
            digest = spec_hash({**spec, "workers": declared})
            old = existing.get(project.name)
            if old is None or old.deleted:
                status = "created"
            else:
                status = "configured" if old.spec_hash != digest else "unchanged"
            generation = (old.generation if old else 0) + (status != "unchanged")
            new_projects[project.name] = ProjectRecord(
                name=project.name,
                prefix=project.manifest.prefix,
                spec=spec,
                spec_hash=digest,
                generation=generation,
                observed_generation=old.observed_generation if old else 0,
                source=project.source if project.source.startswith("<") else str(Path(project.source).resolve()),
                suspended=old.suspended if old and not old.deleted else 0,
                deleted=0,
                created_at=old.created_at if old and not old.deleted else now,
                updated_at=now,
            )
            names = {w["name"] for w in declared}
            # A manifest takes over a worker of the same name that `ao spawn` added (DESIGN §5).
            new_workers = [w for w in new_workers if not (w.project == project.name and w.name in names)]
            previous = {w.name: w for w in workers if w.project == project.name}
            for position, worker in enumerate(declared):
                before = previous.get(worker["name"])
                new_workers.append(
                    WorkerRecord(project=project.name, name=worker["name"], owner=MANIFEST_OWNER, spec=worker,
                                 position=position, created_at=before.created_at if before else now)
                )
            changes.append(ProjectChange(project.name, status))
        return changes, list(new_projects.values()), new_workers

    def apply(self, loaded: Sequence[LoadedProject], *, dry_run: bool = False) -> ApplyReport:
        with self.lock():
            self._check_prefixes(loaded)
            existing = {p.name: p for p in self.registry.projects(include_deleted=True)}
            workers = self.registry.workers()
            changes, projects, new_workers = self._merge(loaded, existing, workers)
            observed = self.runtime.observe()  # fails before anything is written if tmux is missing
            if not dry_run:
                self._write_desired(loaded, projects, workers, new_workers, changes)
            scope = frozenset(p.name for p in loaded)
            report = self._pass(projects, new_workers, scope, dry_run=dry_run, observed=observed)
            return ApplyReport(changes, report)

    def _write_desired(self, loaded: Sequence[LoadedProject], projects: list[ProjectRecord],
                       before: list[WorkerRecord], after: list[WorkerRecord], changes: list[ProjectChange]) -> None:
        names = {p.name for p in loaded}
        status = {c.name: c.status for c in changes}
        with self.registry.transaction():
            for record in projects:
                if record.name in names:
                    self.registry.save_project(record)
                    if status[record.name] != "unchanged":
                        self.registry.add_event(
                            "Applied", f"project {record.name} {status[record.name]} (generation {record.generation}) "
                            f"from {record.source}", project=record.name,
                        )
            keep = {(w.project, w.name) for w in after}
            for worker in before:
                if worker.project in names and (worker.project, worker.name) not in keep:
                    self.registry.delete_worker(worker.project, worker.name)
            for worker in after:
                if worker.project in names:
                    self.registry.save_worker(worker)

    # ------------------------------------------------------------ delete

    def delete_projects(self, names: Sequence[str], *, dry_run: bool = False) -> ApplyReport:
        with self.lock():
            existing = {p.name: p for p in self.registry.projects(include_deleted=True)}
            missing = [n for n in names if n not in existing or existing[n].deleted]
            if missing:
                raise NotFound(f"no project named {', '.join(missing)}", hint="see `ao get projects`")
            projects = [replace(p, deleted=1) if p.name in names else p for p in existing.values()]
            workers = [w for w in self.registry.workers() if w.project not in names]
            if not dry_run:
                with self.registry.transaction():
                    for name in names:
                        self.registry.update_project(name, deleted=1)
                        for worker in self.registry.workers(name):
                            self.registry.delete_worker(name, worker.name)
                        self.registry.add_event("Deleted", f"project {name} deleted; reaping its sessions",
                                                project=name)
            report = self._pass(projects, workers, frozenset(names), dry_run=dry_run)
            return ApplyReport([ProjectChange(n, "deleted") for n in names], report)

    # ------------------------------------------------------------ imperative adds (DESIGN §5)

    def _active_project(self, name: str) -> ProjectRecord:
        project = self.registry.project(name)
        if project is None or project.deleted:
            raise NotFound(f"no project named {name!r}", hint="see `ao get projects`")
        return project

    def spawn(
        self,
        project: str,
        *,
        issue: str | None = None,
        prompt: str | None = None,
        name: str | None = None,
        agent: str | None = None,
        owner: str = SPAWN_OWNER,
    ) -> SpawnResult:
        """Add a worker that belongs to `owner` (re-applying the manifest keeps it), then converge."""
        from ..manifest.models import WorkerSpec

        with self.lock():
            record = self._active_project(project)
            workers = self.registry.workers(project)
            taken = {w.name for w in workers}
            if name is not None and name in taken:
                raise UsageError(f"worker {name!r} already exists in project {project}",
                                 hint="choose another --name")
            name = name or _worker_name(issue, taken)
            try:
                spec = WorkerSpec.model_validate(
                    {"name": name, "issue": issue, "prompt": prompt, "agent": {"preset": agent} if agent else None}
                ).model_dump(mode="json")
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise UsageError(f"invalid worker: {problems}") from None
            position = max((w.position for w in workers), default=-1) + 1
            with self.registry.transaction():
                self.registry.save_worker(WorkerRecord(project=project, name=name, owner=owner, spec=spec,
                                                       position=position, created_at=self.clock()))
                self.registry.add_event("Spawned", f"worker {name} added by {owner}", project=project)
            report = self._project_pass(project)
            session = next((s for s in self.registry.sessions(project=project) if s.worker == name), None)
            enabled = (record.spec.get("orchestrator") or {}).get("enabled", True)
            return SpawnResult(
                project=project,
                worker=name,
                session_id=session.id if session else None,
                orchestrator_id=orchestrator_id(record.prefix) if enabled else None,
                report=report,
            )

    def delete_session(self, session_id: str) -> PassReport:
        """Remove a worker that `ao spawn` or the API added, and reap its session."""
        with self.lock():
            record = self.registry.session(session_id)
            if record is None:
                raise NotFound(f"no session {session_id!r}", hint="see `ao get sessions`")
            if record.kind == Kind.ORCHESTRATOR:
                raise UsageError(
                    f"{session_id} is the orchestrator of project {record.project}",
                    hint="set spec.orchestrator.enabled: false in its manifest and re-apply",
                )
            owners = {w.name: w for w in self.registry.workers(record.project)}
            worker = owners.get(record.worker or "")
            if worker is not None and worker.owner == MANIFEST_OWNER:
                source = (self.registry.project(record.project) or record).source  # type: ignore[union-attr]
                raise UsageError(
                    f"{session_id} (worker {worker.name!r}) is declared by the manifest {source}",
                    hint="remove the worker there and re-apply",
                )
            if worker is not None:
                with self.registry.transaction():
                    self.registry.delete_worker(record.project, worker.name)
                    self.registry.add_event("Deleted", f"worker {worker.name} ({session_id}) deleted",
                                            project=record.project, session=session_id)
            return self._project_pass(record.project)

    def ensure_orchestrator(self, project: str) -> tuple[str, str]:
        """The one canonical orchestrator: reuse it, relaunch it in place, or create it.

        Returns (session ID, what happened: reused | relaunched | created | adopted).
        """
        with self.lock():
            record = self._active_project(project)
            sid = orchestrator_id(record.prefix)
            if not (record.spec.get("orchestrator") or {}).get("enabled", True):
                raise UsageError(f"the orchestrator of project {project} is disabled in its manifest",
                                 hint="set spec.orchestrator.enabled: true and re-apply")
            held = self.registry.session(sid)
            if held is not None and held.phase == Phase.STOPPED:
                self._release(held, due=True)  # an explicit request starts a stopped orchestrator
            elif held is not None and held.phase == Phase.SUSPENDED:
                live = self.runtime.probe(sid)
                if live is not None and live.alive:
                    return sid, "reused"
                raise UsageError(f"{sid} is suspended and its agent is not running",
                                 hint=f"`ao resume session {sid}` first")
            world = self._world(self.registry.projects(include_deleted=True), self.registry.workers(),
                                frozenset([project]))
            action = next((a for a in plan(world) if a.session_id == sid), None)
            if action is None:
                return sid, "reused"
            if action.verb in (Verb.BLOCKED, Verb.WAIT) and action.reason and "ao did not create it" in action.reason:
                raise AoError(action.reason)
            if action.verb in (Verb.BACKOFF, Verb.WAIT, Verb.EXITED):
                # An explicit request: relaunch now, whatever the backoff or restart policy says.
                action = replace(action, verb=Verb.RELAUNCH, reason="requested by `ao orchestrator ensure`",
                                 backoff_step=action.record.backoff_step if action.record else 0, quick_failures=0)
            outcome = self._execute([action], world)[0]
            if not outcome.ok:
                raise AoError(f"cannot start {sid}: {outcome.detail}")
            return sid, {Verb.CREATE: "created", Verb.ADOPT: "adopted"}.get(action.verb, "relaunched")

    def relaunch_session(self, session_id: str) -> str:
        """Relaunch a session's agent now, in place (same ID, worktree and branch), resuming where it can."""
        with self.lock():
            record = self._session(session_id)
            if record.phase in (Phase.SUSPENDED, Phase.STOPPED):
                raise UsageError(f"{session_id} is {record.phase}", hint="resume or start it first")
            world = self._world(self.registry.projects(include_deleted=True), self.registry.workers(),
                                frozenset([record.project]))
            desired = next((d for p in world.desired if p.name == record.project for d in p.sessions
                            if d.kind == record.kind and d.worker == record.worker), None)
            if desired is None:
                raise UsageError(f"{session_id} is no longer declared", hint="`ao reconcile` reaps it")
            action = Action(Verb.RELAUNCH, session_id, record.project, "requested by a user", kind=record.kind,
                            worker=record.worker, desired=desired, record=record,
                            live=world.observed.get(session_id), backoff_step=0, quick_failures=0)
            outcome = self._execute([action], world)[0]
            if not outcome.ok:
                raise AoError(f"cannot relaunch {session_id}: {outcome.detail}")
            return f"session/{session_id} relaunched"

    # ------------------------------------------------------------ holding sessions on purpose

    def set_suspended(self, kind: str, name: str, suspended: bool) -> str:
        """Suspend or resume a project or a session; returns what happened, for one output line."""
        verb = "suspended" if suspended else "resumed"
        with self.lock():
            if kind == "project":
                project = self._active_project(name)
                if bool(project.suspended) == suspended:
                    return f"project/{name} already {verb}"
                with self.registry.transaction():
                    self.registry.update_project(name, suspended=int(suspended))
                    self.registry.add_event(verb.capitalize(), f"project {name} {verb}", project=name)
            else:
                record = self._session(name)
                if suspended:
                    self._hold(record, Phase.SUSPENDED, "SuspendedByUser", "`ao suspend` stops reconciling it; "
                               "the agent keeps running")
                elif record.phase == Phase.SUSPENDED:
                    self._release(record, due=False)
                else:
                    return f"session/{name} is not suspended ({record.phase})"
        if not suspended:
            self.reconcile([name] if kind == "project" else [self._session(name).project])
        return f"{kind}/{name} {verb}"

    def stop_session(self, session_id: str) -> str:
        """Stop a session's agent on purpose: unlike a crash, it is not restarted until started again."""
        with self.lock():
            record = self._session(session_id)
            live = self.runtime.probe(session_id)
            if live is not None and live.owned_by(self.data_dir.owner_id):
                self.runtime.kill(session_id)
            self._hold(record, Phase.STOPPED, "StoppedByUser", "stopped with `ao stop`; `ao start` starts it again")
        return f"session/{session_id} stopped"

    def start_session(self, session_id: str) -> str:
        with self.lock():
            record = self._session(session_id)
            if record.phase != Phase.STOPPED:
                return f"session/{session_id} is not stopped ({record.phase})"
            self._release(record, due=True)
        self.reconcile([record.project])
        return f"session/{session_id} started"

    def _session(self, session_id: str) -> SessionRecord:
        record = self.registry.session(session_id)
        if record is None:
            raise NotFound(f"no session {session_id!r}", hint="see `ao get sessions`")
        if record.phase == Phase.TERMINATED:
            raise UsageError(f"session {session_id} is terminated")
        return record

    def _hold(self, record: SessionRecord, phase: Phase, reason: str, message: str) -> None:
        with self.registry.transaction():
            self.registry.update_session(record.id, phase=phase, reason=reason, message=message,
                                         last_transition_at=self.clock())
            self.registry.add_event(reason, f"{record.id}: {message}", project=record.project, session=record.id)

    def _release(self, record: SessionRecord, *, due: bool) -> None:
        """Hand a held session back to the reconciler (due: restart its agent on the next pass)."""
        with self.registry.transaction():
            self.registry.update_session(record.id, phase=Phase.PENDING if due else Phase.RUNNING,
                                         reason="Released", message="released by a user",
                                         next_retry_at=self.clock() if due else None, backoff_step=0,
                                         quick_failures=0, last_transition_at=self.clock())
            self.registry.add_event("Released", f"{record.id} handed back to ao", project=record.project,
                                    session=record.id)

    # ------------------------------------------------------------ reads

    def sessions(self, project: str | None = None, *, include_terminated: bool = False) -> list[SessionRecord]:
        return self.registry.sessions(project=project, include_terminated=include_terminated)


def describe_action(action: Action, *, dry_run: bool) -> str:
    verb = PAST_TENSE[action.verb]
    return f"{verb} (dry run)" if dry_run else verb
