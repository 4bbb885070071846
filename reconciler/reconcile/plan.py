"""The planner: a pure function from (desired, registry, observed, now) to actions with reasons.

No I/O happens here. Each rule is an ordered early return, so the table of cases reads top to
bottom. Running the plan twice against the world it produced yields no actions the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..registry.records import HELD, Kind, Phase, SessionRecord
from ..runtime.base import Live
from ..sessions.naming import orchestrator_id, split_id, worker_id
from . import backoff
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
    WAIT = "wait"  # nothing to do yet (backoff not elapsed)


# Verbs that change nothing, so a plan made only of them means "converged".
NO_OP = frozenset({Verb.WAIT})


@dataclass(frozen=True)
class Action:
    verb: Verb
    session_id: str
    project: str
    reason: str
    kind: str = Kind.WORKER
    worker: str | None = None
    number: int | None = None
    desired: DesiredSession | None = None
    record: SessionRecord | None = None
    live: Live | None = None
    # restart bookkeeping, decided here so that the executor only writes it down
    backoff_step: int = 0
    quick_failures: int = 0
    retry_at: float | None = None
    phase: Phase | None = None

    @property
    def session_exists(self) -> bool:
        return self.live is not None


@dataclass(frozen=True)
class World:
    """Everything the planner looks at; built by the caller from the registry and one observe()."""

    desired: tuple[DesiredProject, ...]
    records: tuple[SessionRecord, ...]  # active (not Terminated) sessions
    observed: Mapping[str, Live]
    counters: Mapping[str, int]  # prefix -> next worker number
    owner: str
    now: float
    scope: frozenset[str] | None = None  # project names this pass may touch; None = all
    deleted: frozenset[str] = frozenset()  # names of deleted projects (their sessions are reaped)


def _exit_text(live: Live | None) -> str:
    if live is None:
        return "the agent's session disappeared"
    if live.exit_signal:
        return f"agent was killed by signal {live.exit_signal}"
    if live.exit_status is None:
        return "agent exited (status unknown)"
    return f"agent exited with status {live.exit_status}"


def _retry_reason(record: SessionRecord) -> str:
    """Why a scheduled restart happens now, in words."""
    if record.reason == "Released":
        return "started again by a user"
    if record.reason in ("BackOff", "CrashLoopBackOff") or record.reason is None:
        if record.exit_signal:
            return f"back-off elapsed after the agent was killed by signal {record.exit_signal}"
        if record.exit_code is not None:
            return f"back-off elapsed after the agent exited with status {record.exit_code}"
        return "back-off elapsed"
    return f"retrying after {record.reason}" + (f": {record.message}" if record.message else "")


def _succeeded(live: Live | None) -> bool:
    return live is not None and live.exit_status == 0 and not live.exit_signal


def _should_restart(policy: str, live: Live | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and not _succeeded(live))


def _dead_agent(desired: DesiredSession, record: SessionRecord, live: Live | None, world: World) -> Action | None:
    """The session's agent is not running (dead pane, or no session at all)."""
    sid, common = record.id, {"project": desired.project, "kind": desired.kind, "worker": desired.worker,
                              "desired": desired, "record": record, "live": live}
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


def _converge_one(desired: DesiredSession, sid: str, record: SessionRecord | None, world: World,
                  number: int | None) -> Action | None:
    live = world.observed.get(sid)
    common = {"project": desired.project, "kind": desired.kind, "worker": desired.worker, "desired": desired}
    if live is not None and not live.owned_by(world.owner):
        reason = (f"a session named {sid} exists on ao's tmux server but ao did not create it; "
                  "ao will not touch it: remove it or choose another sessionPrefix")
        if record is not None and record.reason == "NameTaken":
            return Action(Verb.WAIT, sid, reason=reason, record=record, live=live, **common)
        return Action(Verb.BLOCKED, sid, reason=reason, record=record, live=live, number=number, **common)
    if record is None:
        if live is not None:
            return Action(Verb.ADOPT, sid, reason="found a live session with ao's stamp that the registry lost",
                          live=live, number=number, **common)
        return Action(Verb.CREATE, sid, reason="declared; no session", number=number, **common)
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


def _ours(world: World, sid: str) -> Live | None:
    """The live session `sid` if ao created it; a stranger's session of that name is never touched."""
    live = world.observed.get(sid)
    return live if live is not None and live.owned_by(world.owner) else None


def _reap(record: SessionRecord | None, sid: str, project: str, reason: str, live: Live | None) -> Action:
    kind = record.kind if record else (live.stamp.kind if live and live.stamp else Kind.WORKER)
    return Action(Verb.REAP, sid, project=project, reason=reason, kind=kind,
                  worker=record.worker if record else None, record=record, live=live)


def plan(world: World) -> list[Action]:
    in_scope = (lambda name: True) if world.scope is None else (lambda name: name in world.scope)
    records = {r.id: r for r in world.records}
    actions: list[Action] = []
    claimed: set[str] = set()  # session IDs that stay (are desired)
    reaps: list[Action] = []

    for project in world.desired:
        if not in_scope(project.name) or project.suspended:
            claimed.update(r.id for r in world.records if r.project == project.name)
            claimed.update(sid for sid, live in world.observed.items()
                           if live.stamp and live.stamp.project == project.name)
            continue
        next_number = max(world.counters.get(project.prefix, 1), 1)
        mine = [r for r in world.records if r.project == project.name]

        if project.orchestrator is not None:
            sid = orchestrator_id(project.prefix)
            record = records.get(sid)
            if record is not None and (record.project != project.name or record.phase == Phase.TERMINATING):
                claimed.add(sid)  # reaped below; recreated on a later pass
                reaps.append(_reap(record, sid, record.project, "being replaced", _ours(world, sid)))
            elif record is not None and record.phase in HELD:
                claimed.add(sid)
            else:
                claimed.add(sid)
                action = _converge_one(project.orchestrator, sid, record, world, None)
                if action:
                    actions.append(action)

        # Sessions a person suspended or stopped are left as they are while declared; a suspended
        # one is kept even when no longer declared (ao does not touch it), a stopped one is reaped.
        held = {r.id for r in mine if r.phase in HELD}
        claimed.update(r.id for r in mine if r.phase == Phase.SUSPENDED)

        by_worker: dict[str, SessionRecord] = {}
        for r in sorted(mine, key=lambda r: r.number or 0):
            if (r.kind == Kind.WORKER and r.worker and r.phase != Phase.TERMINATING
                    and split_id(r.id)[0] == project.prefix):
                by_worker.setdefault(r.worker, r)
        # Live sessions that lost their registry row are matched to their worker by stamp.
        lost: dict[str, str] = {}
        for sid, live in sorted(world.observed.items(), key=lambda item: _number(item[0])):
            if (live.owned_by(world.owner) and sid not in records and live.stamp
                    and live.stamp.project == project.name and live.stamp.kind == Kind.WORKER
                    and split_id(sid)[0] == project.prefix and split_id(sid)[1].isdigit()):
                lost.setdefault(live.stamp.worker, sid)  # two claimants: the lower number wins
        for desired in project.workers:
            assert desired.worker is not None
            record = by_worker.get(desired.worker)
            if record is not None:
                sid, number = record.id, record.number
            elif desired.worker in lost:
                sid = lost[desired.worker]
                number = int(split_id(sid)[1])
            else:
                while worker_id(project.prefix, next_number) in world.observed or \
                        worker_id(project.prefix, next_number) in records:
                    next_number += 1
                number = next_number
                sid = worker_id(project.prefix, number)
                next_number += 1
            claimed.add(sid)
            if sid in held:
                continue
            action = _converge_one(desired, sid, record, world, number)
            if action:
                actions.append(action)

    # Active sessions that nothing declares any more.
    for record in world.records:
        if record.id in claimed or not in_scope(record.project):
            continue
        gone = "its project was deleted" if record.project in world.deleted or \
            record.project not in {p.name for p in world.desired} else (
            "the orchestrator is no longer enabled" if record.kind == Kind.ORCHESTRATOR
            else f"worker {record.worker!r} is no longer declared")
        claimed.add(record.id)
        reaps.append(_reap(record, record.id, record.project, gone, _ours(world, record.id)))

    # Live sessions with our stamp that no record or declaration explains.
    for sid, live in world.observed.items():
        if sid in claimed or not live.owned_by(world.owner):
            continue
        project = live.stamp.project if live.stamp else ""
        if not in_scope(project):
            continue
        reaps.append(_reap(None, sid, project, "orphaned session with ao's stamp; nothing declares it", live))

    # Workers are reaped before their orchestrator; creations run orchestrator first.
    reaps.sort(key=lambda a: (a.kind == Kind.ORCHESTRATOR, a.project, a.session_id))
    return reaps + actions


def converged(actions: Iterable[Action]) -> bool:
    return all(a.verb in NO_OP for a in actions)
