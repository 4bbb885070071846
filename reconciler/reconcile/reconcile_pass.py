"""The reconcile pass: observe, plan, execute, read each agent's activity, deliver queued messages.
Everything that converges runs this.

One pass reads the registry and one `observe()` into a `World`, asks the pure planner for actions,
has the executor carry them out, then marks the projects in scope as observed at their generation.
Callers hold the pass lock (see `Service.lock`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..messaging.queue import deliver_queued
from ..registry.records import ProjectRecord, WorkerRecord
from ..runtime.base import Observed
from . import limits
from .activity_step import observe_step
from .capacity import Capacity
from .desired import desired_projects
from .memory import MeasuredWhenRead
from .plan import NO_OP, Action, Force, World, plan

if TYPE_CHECKING:
    from .execute import Outcome
    from .service import Service


@dataclass
class PassReport:
    """What one pass planned and did."""

    actions: list[Action] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # in-scope session IDs with nothing to do
    dry_run: bool = False
    delivered: list[tuple[str, str]] = field(default_factory=list)  # queued messages: (target, outcome)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(a.verb not in NO_OP for a in self.actions)


def build_world(
    svc: Service,
    projects: Sequence[ProjectRecord],
    workers: Sequence[WorkerRecord],
    scope: frozenset[str] | None,
    observed: Mapping[str, Observed] | None = None,
    forced: Mapping[str, Force] | None = None,
) -> World:
    """Everything the planner needs, read once: desired state, rows, one observation, counters, the clock,
    the limits and the memory of the machine and of each session."""
    observed = svc.runtime.observe() if observed is None else observed
    return World(
        desired=tuple(desired_projects(projects, workers, svc.resolve_runtime)),
        records=tuple(svc.registry.sessions()),
        observed=observed,
        counters={p.prefix: svc.registry.next_number(p.prefix) for p in projects},
        owner=svc.data_dir.owner_id,
        registry_id=svc.registry.identity,
        now=svc.clock(),
        scope=scope,
        deleted=frozenset(p.name for p in projects if p.deleted),
        forced=dict(forced or {}),
        capacity=measure_capacity(svc, observed),
    )


def measure_capacity(svc: Service, observed: Mapping[str, Observed]) -> Capacity:
    """The data dir's limit, the machine's memory and each running session's memory, now."""
    settings = limits.load(svc.data_dir)
    owner = svc.data_dir.owner_id
    ours = [(sid, live.pid) for sid, live in observed.items() if live.alive and live.owned_by(owner)]
    return Capacity(max_running=settings.max_running, memory=limits.machine(settings), rss=MeasuredWhenRead(ours))


def current_world(svc: Service, project: str, forced: Mapping[str, Force] | None = None) -> World:
    """The world of one project as the registry and the runtime show it now."""
    return build_world(svc, svc.registry.projects(include_deleted=True), svc.registry.workers(),
                       frozenset([project]), forced=forced)


def execute(svc: Service, actions: Sequence[Action], world: World) -> list[Outcome]:
    if not actions:
        return []  # a fleet at rest: the executor (launches, workspaces, prompts) is not even loaded
    from .execute import Executor

    return Executor(svc.registry, svc.runtime, svc.data_dir, clock=svc.clock, limiter=svc.limiter).execute(
        actions, world)


def run_pass(
    svc: Service,
    projects: Sequence[ProjectRecord],
    workers: Sequence[WorkerRecord],
    scope: frozenset[str] | None,
    *,
    dry_run: bool,
    observed: Mapping[str, Observed] | None = None,
) -> PassReport:
    """One reconcile pass over `scope` (None: every project), given the desired rows to converge to."""
    world = build_world(svc, projects, workers, scope, observed)
    actions = plan(world)
    touched = {a.session_id for a in actions}
    unchanged = [r.id for r in world.records if r.id not in touched and (scope is None or r.project in scope)]
    report = PassReport(actions=actions, unchanged=unchanged, dry_run=dry_run)
    if dry_run:
        return report
    report.outcomes = execute(svc, actions, world)
    with svc.registry.transaction():
        for project in projects:
            if (scope is None or project.name in scope) and not project.deleted:
                svc.registry.update_project(project.name, observed_generation=project.generation)
    orchestrators = {p.name: p.orchestrator.orchestrator_id if p.orchestrator else None for p in world.desired}
    observe_step(svc.registry, svc.runtime, world.records, world.observed, world.owner, orchestrators, touched,
                 svc.clock())
    if svc.courier is not None:
        svc.courier.hand_over(world.observed)  # typed on the courier's thread: the pass does not wait
    else:
        report.delivered = deliver_queued(svc.registry, svc.runtime, world.observed, world.owner, svc.data_dir)
    return report


def stored_pass(svc: Service, scope: frozenset[str] | None, *, dry_run: bool = False) -> PassReport:
    """A pass converging to what the registry holds now."""
    return run_pass(svc, svc.registry.projects(include_deleted=True), svc.registry.workers(), scope,
                    dry_run=dry_run)
