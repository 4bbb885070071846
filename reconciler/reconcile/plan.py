"""The planner: a pure function from (desired, registry, observed, now) to actions with reasons.

No I/O happens here. Each rule is an ordered early return, so the table of cases reads top to
bottom. Running the plan twice against the world it produced yields no actions the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property

from ..registry.records import HELD, Kind, Phase, SessionRecord
from ..runtime.base import Observed
from ..sessions.naming import orchestrator_id, split_id, worker_id
from ..wording import ending, size
from . import backoff
from .capacity import Capacity
from .desired import DesiredProject, DesiredSession, changed_fields


class Verb(StrEnum):
    CREATE = "create"  # declared, no session yet (or its session vanished before it ever ran)
    ADOPT = "adopt"  # a live session of ours that the registry lost (or never recorded as running)
    RELAUNCH = "relaunch"  # the agent died; the restart policy allows it; backoff has elapsed
    RECREATE = "recreate"  # the spec changed: start the agent again with the new spec
    BACKOFF = "backoff"  # the agent died; record it and schedule the restart for later
    EXITED = "exited"  # the agent finished and the restart policy says to leave it
    REAP = "reap"  # no longer declared, or an orphan with our stamp
    BLOCKED = "blocked"  # cannot proceed until a user acts (the name is taken by a foreign session)
    QUEUE = "queue"  # would start, but there is no room: Pending (reason Capacity) until there is
    WAIT = "wait"  # nothing to do yet (backoff not elapsed)
    LEAVE = "leave"  # a session of ours from another registry that nothing declares: not ours to reap


# Verbs that change nothing, so a plan made only of them means "converged".
NO_OP = frozenset({Verb.WAIT, Verb.LEAVE})
# Verbs that start an agent, and so can fail to.
LAUNCHES = frozenset({Verb.CREATE, Verb.RECREATE, Verb.RELAUNCH})
# How a pass reports each verb once carried out.
PAST_TENSE = {
    Verb.CREATE: "created",
    Verb.ADOPT: "adopted",
    Verb.RELAUNCH: "relaunched",
    Verb.RECREATE: "recreated",
    Verb.BACKOFF: "backing off",
    Verb.EXITED: "exited",
    Verb.REAP: "reaped",
    Verb.BLOCKED: "blocked",
    Verb.QUEUE: "pending",
    Verb.WAIT: "waiting",
    Verb.LEAVE: "left alone",
}


class BlockReason(StrEnum):
    """Why a session cannot proceed until a user acts; the value is the reason written on its row."""

    NAME_TAKEN = "NameTaken"  # a session of that name exists on ao's server but ao did not create it
    CAPACITY = "Capacity"  # a limit or the memory reserve holds the start back until there is room


class Force(StrEnum):
    """An explicit request from a user, given to the planner in the `World`."""

    START = "start"  # start the agent now if it is not running, whatever back-off or restart policy say
    RELAUNCH = "relaunch"  # restart the agent now, in place, even if it is running


@dataclass(frozen=True)
class LaunchRetry:
    """Back-off bookkeeping to write down if the launch fails."""

    step: int
    at: float


@dataclass(frozen=True)
class Recovery:
    """A runtime's server was restarted (or killed): every session on it vanished at once. One
    event, not one crash per session; all sessions of one pass share the same value."""

    runtime: str
    seen_at: float


@dataclass(frozen=True)
class Action:
    """One thing the planner decided for one session."""

    verb: Verb
    session_id: str
    project: str
    reason: str
    kind: Kind = Kind.WORKER
    worker: str | None = None
    number: int | None = None
    desired: DesiredSession | None = None
    record: SessionRecord | None = None
    live: Observed | None = None
    # restart bookkeeping, decided here so that the executor only writes it down
    backoff_step: int = 0
    quick_failures: int = 0
    retry_at: float | None = None
    phase: Phase | None = None
    block: BlockReason | None = None  # set on BLOCKED and QUEUE (and on the WAIT that follows them)
    quiet: bool = False  # QUEUE: already waiting, only its words change (no new event)
    launch_retry: LaunchRetry | None = None  # set on launching verbs
    recovery: Recovery | None = None  # set on a RELAUNCH after the session's server was restarted


@dataclass(frozen=True)
class World:
    """Everything the planner looks at; built by the caller from the registry and one observe()."""

    desired: tuple[DesiredProject, ...]
    records: tuple[SessionRecord, ...]  # active (not Terminated) sessions
    observed: Mapping[str, Observed]
    counters: Mapping[str, int]  # prefix -> next worker number
    owner: str
    now: float
    scope: frozenset[str] | None = None  # project names this pass may touch; None = all
    deleted: frozenset[str] = frozenset()  # names of deleted projects (their sessions are reaped)
    forced: Mapping[str, Force] = field(default_factory=dict)  # session ID -> a user's explicit request
    capacity: Capacity = field(default_factory=Capacity)  # the data dir's limit, memory, each session's RSS
    registry_id: str = ""  # the registry's identity, stamped on the sessions it creates

    @cached_property
    def runtimes_showing_sessions(self) -> frozenset[str]:
        """Runtimes whose server shows at least one session now (ours or not)."""
        return frozenset(live.runtime for live in self.observed.values())

    @cached_property
    def servers_started(self) -> dict[str, float]:
        """When the server of each runtime that says so started (tmux: whole seconds)."""
        return {live.runtime: live.server_started for live in self.observed.values() if live.server_started}


def _exit_text(live: Observed | None) -> str:
    if live is None:
        return "the agent's session disappeared"
    text = ending(live.exit_status, live.exit_signal)
    return f"agent was {text}" if live.exit_signal else f"agent {text}"


def _retry_reason(record: SessionRecord) -> str:
    """Why a scheduled restart happens now, in words."""
    if record.reason == "Released":
        return "started again by a user"
    if record.reason in ("BackOff", "CrashLoopBackOff") or record.reason is None:
        if record.exit_signal:
            return f"back-off elapsed after the agent was {ending(record.exit_code, record.exit_signal)}"
        if record.exit_code is not None:
            return f"back-off elapsed after the agent {ending(record.exit_code, None)}"
        return "back-off elapsed"
    return f"retrying after {record.reason}" + (f": {record.message}" if record.message else "")


def _succeeded(live: Observed | None) -> bool:
    return live is not None and live.exit_status == 0 and not live.exit_signal


def _should_restart(policy: str, live: Observed | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and not _succeeded(live))


def lost_with_its_server(record: SessionRecord, live: Observed | None, world: World) -> bool:
    """Rule: a session whose agent was running and that vanished went with its server (restarted,
    killed, the machine rebooted), not a crash of its agent, when its runtime shows no session at all,
    or when the server there now started after the agent did (a pass over another project may already
    have started sessions on the new server).

    An agent that exits leaves a dead pane (remain-on-exit), so a crash never looks like this; a
    session removed by hand does only when it was the last one, and then the server exits with it."""
    if live is not None or record.phase != Phase.RUNNING:
        return False
    runtime = record.runtime or "tmux"
    if runtime not in world.runtimes_showing_sessions:
        return True
    started = world.servers_started.get(runtime)
    # Whole seconds: a server started in the agent's own second is not taken for a new one.
    return started is not None and record.started_at is not None and record.started_at < started


def _dead_agent(desired: DesiredSession, record: SessionRecord, live: Observed | None, world: World) -> Action | None:
    """The session's agent is not running (dead pane, or no session at all)."""
    sid, common = record.id, {"project": desired.project, "kind": desired.kind, "worker": desired.worker,
                              "desired": desired, "record": record, "live": live}
    if record.reason == BlockReason.CAPACITY and record.phase == Phase.PENDING:
        # It waited for room; the capacity rule decides whether there is room now.
        verb = Verb.CREATE if live is None else Verb.RELAUNCH
        return Action(verb, sid, reason="started once there was room for it", number=record.number,
                      backoff_step=record.backoff_step, quick_failures=record.quick_failures, **common)
    due = record.next_retry_at is not None and world.now >= record.next_retry_at
    if record.next_retry_at is not None:
        # The death (or a failed launch) is already recorded; a restart is scheduled.
        if not due:
            return Action(Verb.WAIT, sid, reason=f"back-off until {record.next_retry_at - world.now:.0f}s from now",
                          backoff_step=record.backoff_step, quick_failures=record.quick_failures, **common)
        return Action(Verb.RELAUNCH, sid, reason=_retry_reason(record),
                      backoff_step=record.backoff_step + 1, quick_failures=record.quick_failures, **common)
    if record.phase in (Phase.SUCCEEDED, Phase.FAILED):
        # Finished and recorded. The policy is read again: a worker that ended is brought back
        # once its restartPolicy is changed to one that restarts it.
        succeeded = record.phase == Phase.SUCCEEDED
        if desired.restart_policy == "Always" or (desired.restart_policy == "OnFailure" and not succeeded):
            return Action(Verb.RELAUNCH, sid, reason=f"restartPolicy is now {desired.restart_policy}",
                          backoff_step=record.backoff_step, quick_failures=0, **common)
        return None
    if record.phase == Phase.PENDING and live is None:
        return Action(Verb.CREATE, sid, reason="declared; its session was never started", number=record.number, **common)
    what = _exit_text(live)
    if _should_restart(desired.restart_policy, live) and lost_with_its_server(record, live, world):
        # Relaunched at once; its back-off and quick-failure count stay as they were.
        runtime = record.runtime or "tmux"
        return Action(Verb.RELAUNCH, sid, reason=f"its {runtime} server was restarted (none of its sessions was left)",
                      backoff_step=record.backoff_step, quick_failures=record.quick_failures,
                      recovery=Recovery(runtime, world.now), **common)
    if not _should_restart(desired.restart_policy, live):
        phase = Phase.SUCCEEDED if _succeeded(live) else Phase.FAILED
        return Action(Verb.EXITED, sid, reason=f"{what}; restartPolicy {desired.restart_policy}",
                      phase=phase, **common)
    ended = (live.dead_at if live and live.dead_at else world.now)
    uptime = ended - record.started_at if record.started_at else None
    step, quick = backoff.after_exit(record.backoff_step, record.quick_failures, uptime)
    wait = backoff.delay(step, f"{sid}/{record.restarts}")
    if wait <= 0:
        return Action(Verb.RELAUNCH, sid, reason=f"{what}; restartPolicy {desired.restart_policy}",
                      backoff_step=step + 1, quick_failures=quick, **common)
    phase = Phase.CRASH_LOOP if backoff.crash_looping(quick) else Phase.PENDING
    return Action(Verb.BACKOFF, sid, reason=f"{what}; restarting in {wait:.0f}s",
                  backoff_step=step, quick_failures=quick, retry_at=world.now + wait, phase=phase, **common)


def _name_taken(desired: DesiredSession, sid: str, record: SessionRecord | None, live: Observed,
                number: int | None) -> Action:
    reason = (f"a session named {sid} exists on ao's tmux server but ao did not create it; "
              "ao will not touch it: remove it or choose another sessionPrefix")
    common = {"project": desired.project, "kind": desired.kind, "worker": desired.worker, "desired": desired,
              "record": record, "live": live, "block": BlockReason.NAME_TAKEN}
    if record is not None and record.reason == BlockReason.NAME_TAKEN:
        return Action(Verb.WAIT, sid, reason=reason, **common)
    return Action(Verb.BLOCKED, sid, reason=reason, number=number, **common)


def _converge_one(desired: DesiredSession, sid: str, record: SessionRecord | None, world: World,
                  number: int | None) -> Action | None:
    live = world.observed.get(sid)
    common = {"project": desired.project, "kind": desired.kind, "worker": desired.worker, "desired": desired}
    if live is not None and not live.owned_by(world.owner):
        return _name_taken(desired, sid, record, live, number)
    if record is None:
        if live is not None:
            return Action(Verb.ADOPT, sid, reason="found a live session with ao's stamp that the registry lost",
                          live=live, number=number, **common)
        return Action(Verb.CREATE, sid, reason="declared; no session", number=number, **common)
    if world.forced.get(sid) == Force.RELAUNCH:
        return Action(Verb.RELAUNCH, sid, reason="requested by a user", record=record, live=live,
                      backoff_step=0, quick_failures=0, **common)
    running_hash = live.stamp.spec_hash if live is not None and live.stamp else record.spec_hash
    if running_hash != desired.spec_hash and (live is not None or record.phase not in (Phase.PENDING,)):
        fields = changed_fields(record.spec, desired.spec) if record.spec_hash != desired.spec_hash else ["(stamp)"]
        return Action(Verb.RECREATE, sid, reason=f"spec changed: {', '.join(fields)}",
                      record=record, live=live, number=record.number, **common)
    if live is not None and live.alive:
        if record.phase != Phase.RUNNING or record.spec_hash != desired.spec_hash:
            return Action(Verb.ADOPT, sid, reason=f"agent is running; the registry said {record.phase}",
                          record=record, live=live, number=record.number, **common)
        return None
    return _dead_agent(desired, record, live, world)


def _number(session_id: str) -> int:
    suffix = split_id(session_id)[1]
    return int(suffix) if suffix.isdigit() else -1


def _ours(world: World, sid: str) -> Observed | None:
    """The observed session `sid` if ao created it; a stranger's session of that name is never touched."""
    observed = world.observed.get(sid)
    return observed if observed is not None and observed.owned_by(world.owner) else None


def _reap(record: SessionRecord | None, sid: str, project: str, reason: str, live: Observed | None) -> Action:
    kind = record.kind if record else (live.stamp.kind if live and live.stamp else Kind.WORKER)
    return Action(Verb.REAP, sid, project=project, reason=reason, kind=kind,
                  worker=record.worker if record else None, record=record, live=live)


@dataclass
class _Plan:
    """What the rules accumulate during one plan()."""

    world: World
    records: dict[str, SessionRecord]
    actions: list[Action] = field(default_factory=list)
    reaps: list[Action] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # session IDs that stay (are desired)

    def in_scope(self, project: str) -> bool:
        return self.world.scope is None or project in self.world.scope

    def converge(self, desired: DesiredSession, sid: str, record: SessionRecord | None, number: int | None) -> None:
        action = _converge_one(desired, sid, record, self.world, number)
        if action:
            self.actions.append(_forced_start(action, self.world))


def _forced_start(action: Action, world: World) -> Action:
    """An explicit request to start a session: relaunch now, whatever the backoff or restart policy says."""
    if world.forced.get(action.session_id) != Force.START or action.block is not None:
        return action
    if action.verb not in (Verb.BACKOFF, Verb.WAIT, Verb.EXITED):
        return action
    return replace(action, verb=Verb.RELAUNCH, reason="requested by `ao orchestrator ensure`",
                   backoff_step=action.record.backoff_step if action.record else 0, quick_failures=0,
                   retry_at=None, phase=None)


def _leave_alone(p: _Plan, project: DesiredProject) -> None:
    """Rule: a project out of scope or suspended keeps every session it has, untouched."""
    p.claimed.update(r.id for r in p.world.records if r.project == project.name)
    p.claimed.update(sid for sid, live in p.world.observed.items()
                     if live.stamp and live.stamp.project == project.name)


def _forced_relaunches(p: _Plan, project: DesiredProject) -> None:
    """Rule: in a project left alone, a session a user asked to relaunch is relaunched all the same."""
    for record in p.world.records:
        if record.project == project.name and p.world.forced.get(record.id) == Force.RELAUNCH:
            desired = next((d for d in project.sessions if d.kind == record.kind and d.worker == record.worker), None)
            if desired is not None:
                p.converge(desired, record.id, record, record.number)


def _orchestrator(p: _Plan, project: DesiredProject) -> None:
    """Rule: the project's one orchestrator, replaced when another project held its ID, left alone when held."""
    if project.orchestrator is None:
        return
    sid = orchestrator_id(project.prefix)
    record = p.records.get(sid)
    p.claimed.add(sid)
    if record is not None and (record.project != project.name or record.phase == Phase.TERMINATING):
        p.reaps.append(_reap(record, sid, record.project, "being replaced", _ours(p.world, sid)))  # recreated later
    elif record is None or record.phase not in HELD:
        p.converge(project.orchestrator, sid, record, None)


def _workers_by_name(p: _Plan, project: DesiredProject, mine: list[SessionRecord]) -> dict[str, SessionRecord]:
    by_worker: dict[str, SessionRecord] = {}
    for r in sorted(mine, key=lambda r: r.number or 0):
        if r.kind == Kind.WORKER and r.worker and r.phase != Phase.TERMINATING and split_id(r.id)[0] == project.prefix:
            by_worker.setdefault(r.worker, r)
    return by_worker


def _lost_sessions(p: _Plan, project: DesiredProject) -> dict[str, str]:
    """Observed sessions that lost their registry row, matched to their worker by stamp (lowest number wins)."""
    lost: dict[str, str] = {}
    for sid, live in sorted(p.world.observed.items(), key=lambda item: _number(item[0])):
        if (live.owned_by(p.world.owner) and sid not in p.records and live.stamp
                and live.stamp.project == project.name and live.stamp.kind == Kind.WORKER
                and split_id(sid)[0] == project.prefix and split_id(sid)[1].isdigit()):
            lost.setdefault(live.stamp.worker, sid)
    return lost


class _Numbering:
    """Rule: a new worker takes the project's next number that neither a session nor a row uses."""

    def __init__(self, p: _Plan, project: DesiredProject) -> None:
        self.p, self.prefix = p, project.prefix
        self.next = max(p.world.counters.get(project.prefix, 1), 1)

    def take(self) -> tuple[str, int]:
        while worker_id(self.prefix, self.next) in self.p.world.observed or \
                worker_id(self.prefix, self.next) in self.p.records:
            self.next += 1
        number = self.next
        self.next += 1
        return worker_id(self.prefix, number), number


def _workers(p: _Plan, project: DesiredProject) -> None:
    """Rule: each declared worker keeps its session (by row, else by stamp) or gets a new number.

    Sessions a person suspended or stopped are left as they are while declared; a suspended one is
    kept even when no longer declared (ao does not touch it), a stopped one is reaped.
    """
    mine = [r for r in p.world.records if r.project == project.name]
    held = {r.id for r in mine if r.phase in HELD}
    p.claimed.update(r.id for r in mine if r.phase == Phase.SUSPENDED)
    by_worker, lost, numbering = _workers_by_name(p, project, mine), _lost_sessions(p, project), _Numbering(p, project)
    for desired in project.workers:
        assert desired.worker is not None
        record = by_worker.get(desired.worker)
        if record is not None:
            sid, number = record.id, record.number
        elif desired.worker in lost:
            sid = lost[desired.worker]
            number = int(split_id(sid)[1])
        else:
            sid, number = numbering.take()
        p.claimed.add(sid)
        if sid not in held:
            p.converge(desired, sid, record, number)


def _reap_undeclared(p: _Plan) -> None:
    """Rule: active sessions that nothing declares any more are reaped."""
    declared = {d.name for d in p.world.desired}
    for record in p.world.records:
        if record.id in p.claimed or not p.in_scope(record.project):
            continue
        if record.project in p.world.deleted or record.project not in declared:
            gone = "its project was deleted"
        elif record.kind == Kind.ORCHESTRATOR:
            gone = "the orchestrator is no longer enabled"
        else:
            gone = f"worker {record.worker!r} is no longer declared"
        p.claimed.add(record.id)
        p.reaps.append(_reap(record, record.id, record.project, gone, _ours(p.world, record.id)))


LEFT_ALONE = ("created by another registry (ao.db was lost or replaced), so not reaped; declare it again "
              "to adopt it, or end its agent yourself")


def _reap_orphans(p: _Plan) -> None:
    """Rule: observed sessions with our stamp that no record or declaration explains are reaped, if
    this registry created them; another registry's (ao.db lost or replaced) are left running."""
    for sid, live in p.world.observed.items():
        if sid in p.claimed or not live.owned_by(p.world.owner):
            continue
        project = live.stamp.project if live.stamp else ""
        if not p.in_scope(project):
            continue
        if live.stamp is not None and live.stamp.registry != p.world.registry_id:
            p.actions.append(Action(Verb.LEAVE, sid, project=project, reason=LEFT_ALONE, kind=live.stamp.kind,
                                    worker=live.stamp.worker or None, live=live))
        else:
            p.reaps.append(_reap(None, sid, project, "orphaned session with ao's stamp; nothing declares it", live))


def _launch_retry(action: Action, now: float) -> Action:
    """When a launch fails, the session is retried after a back-off: decided here, written by the executor."""
    if action.verb not in LAUNCHES:
        return action
    step = (action.record.backoff_step if action.record else 0) + 1
    wait = max(backoff.delay(step, f"{action.session_id}/launch/{step}"), backoff.BASE_SECONDS)
    return replace(action, launch_retry=LaunchRetry(step, now + wait))


def _holds_place(record: SessionRecord | None, live: Observed | None, owner: str) -> bool:
    """A session that takes room: its agent runs, or it is being restarted after a run (a crash, a
    back-off, a spec change). Its relaunches keep their place; finished, stopped, released and
    never-started sessions hold none."""
    if live is not None and live.alive and live.owned_by(owner):
        return True
    if record is None or record.phase in HELD or record.reason == "Released":
        return False
    return record.phase == Phase.RUNNING or (record.next_retry_at is not None and record.started_at is not None)


class _Room:
    """Rule: new agents start only while every limit leaves room (see `reconcile/capacity.py`).

    Orchestrators are never counted and go first; workers are taken in declaration order, then
    spawn order; a session that already holds a place is never held back. The others wait as
    Pending with reason Capacity, told which limit and how many are ahead of them.
    """

    def __init__(self, p: _Plan) -> None:
        self.world, cap = p.world, p.world.capacity
        freed = {a.session_id for a in p.reaps + p.actions if a.verb in (Verb.REAP, Verb.EXITED)}
        kinds = {r.id: (r.kind, r.project) for r in p.world.records}
        for sid, live in p.world.observed.items():
            if live.owned_by(p.world.owner) and live.stamp and sid not in kinds:
                kinds[sid] = (live.stamp.kind, live.stamp.project)
        self.holders = {sid for sid, (kind, _) in kinds.items() if sid not in freed
                        and _holds_place(p.records.get(sid), p.world.observed.get(sid), p.world.owner)}
        self.workers: dict[str, int] = {}
        for sid in self.holders:
            kind, project = kinds[sid]
            if kind == Kind.WORKER:
                self.workers[project] = self.workers.get(project, 0) + 1
        self.total = sum(self.workers.values())
        self.limits = {d.name: d.max_running_workers for d in p.world.desired}
        # A reserve of 0 turns the memory check off (--memory-reserve 0): no estimate holds a start back.
        self.free = cap.memory.available - cap.memory.reserve if cap.memory and cap.memory.reserve else None
        self.waiting: dict[str, int] = {}  # which limit -> how many wait for it so far

    @cached_property
    def estimate(self) -> int:
        """What one more agent takes; worked out only when something wants to start (it measures memory)."""
        world = self.world
        alive = [sid for sid, live in world.observed.items() if live.alive and live.owned_by(world.owner)]
        return world.capacity.agent_estimate(alive)

    def needs_room(self, action: Action) -> bool:
        return action.verb in LAUNCHES and action.session_id not in self.holders

    def full(self, action: Action) -> tuple[str, str] | None:
        """(which limit, why) when `action` may not start now; None when there is room."""
        cap = self.world.capacity
        if action.kind == Kind.WORKER:
            limit, running = self.limits.get(action.project), self.workers.get(action.project, 0)
            if limit is not None and running >= limit:
                return (f"project/{action.project}",
                        f"project {action.project} runs {running} of at most {limit} workers "
                        "(spec.limits.maxRunningWorkers)")
            if cap.max_running is not None and self.total >= cap.max_running:
                return ("data-dir", f"{self.total} of at most {cap.max_running} workers run in this data dir "
                                    "(--max-running)")
        if self.free is not None and cap.memory is not None and self.free - self.estimate < 0:
            return ("memory", f"memory: {size(cap.memory.available)} available, a new agent takes about "
                              f"{size(self.estimate)} and {size(cap.memory.reserve)} stay in reserve")
        return None

    def take(self, action: Action) -> None:
        if action.kind == Kind.WORKER:
            self.workers[action.project] = self.workers.get(action.project, 0) + 1
            self.total += 1
        if self.free is not None:
            self.free -= self.estimate

    def hold(self, action: Action, limit: str, why: str) -> Action:
        ahead = self.waiting.get(limit, 0)
        self.waiting[limit] = ahead + 1
        reason = f"waiting for capacity: {why}; {ahead} ahead of it"
        record = action.record
        if record is not None and record.reason == BlockReason.CAPACITY and record.message == reason \
                and record.phase == Phase.PENDING:
            return replace(action, verb=Verb.WAIT, reason=reason, block=BlockReason.CAPACITY)
        quiet = record is not None and record.reason == BlockReason.CAPACITY
        return replace(action, verb=Verb.QUEUE, reason=reason, block=BlockReason.CAPACITY, quiet=quiet)


def _start_order(world: World) -> dict[tuple[str, str | None], tuple[int, int, int]]:
    """Orchestrators first, then workers project by project in declaration order, then spawn order."""
    order: dict[tuple[str, str | None], tuple[int, int, int]] = {}
    for i, project in enumerate(world.desired):
        order[(project.name, None)] = (0, i, 0)
        for j, worker in enumerate(project.workers):
            order[(project.name, worker.worker)] = (1, i, j)
    return order


def _capacity(p: _Plan) -> list[Action]:
    room, order = _Room(p), _start_order(p.world)
    candidates = sorted((a for a in p.actions if room.needs_room(a)),
                        key=lambda a: order.get((a.project, a.worker if a.kind == Kind.WORKER else None), (2, 0, 0)))
    decided: dict[int, Action] = {}
    for action in candidates:
        full = room.full(action)
        if full is None:
            room.take(action)
        else:
            decided[id(action)] = room.hold(action, *full)
    return [decided.get(id(a), a) for a in p.actions]


def plan(world: World) -> list[Action]:
    p = _Plan(world, {r.id: r for r in world.records})
    for project in world.desired:
        if not p.in_scope(project.name) or project.suspended:
            _leave_alone(p, project)
            if p.in_scope(project.name):
                _forced_relaunches(p, project)
            continue
        _orchestrator(p, project)
        _workers(p, project)
    _reap_undeclared(p)
    _reap_orphans(p)
    # Workers are reaped before their orchestrator; creations run orchestrator first.
    p.reaps.sort(key=lambda a: (a.kind == Kind.ORCHESTRATOR, a.project, a.session_id))
    return [_launch_retry(a, world.now) for a in p.reaps + _capacity(p)]


def converged(actions: Iterable[Action]) -> bool:
    return all(a.verb in NO_OP for a in actions)
