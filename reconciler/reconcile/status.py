"""Project and session status, derived from the registry and one observation (never stored).

Sync says whether the live world matches the latest spec:
  OutOfSync   a spec change has not been acted on yet (observedGeneration < generation)
  Progressing declared sessions are still starting, or backing off before a restart
  Synced      every declared session is where its spec and restart policy want it
  Suspended   the project is suspended: ao leaves it alone
Health says whether what runs is well:
  Degraded    a session failed, is crash-looping, cannot start, or its agent is gone
  Healthy     otherwise
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..registry.records import Phase, ProjectRecord, SessionRecord
from ..runtime.base import Observed

BAD_PHASES = frozenset({Phase.FAILED, Phase.CRASH_LOOP})
CAPACITY = "Capacity"  # the reason of a session waiting for room (see plan.BlockReason)
SETTLED_PHASES = frozenset({Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED, Phase.STOPPED, Phase.SUSPENDED})


@dataclass(frozen=True)
class Blocker:
    """A session that keeps its project from Synced or Healthy."""

    session: str
    reason: str

    def __str__(self) -> str:
        return f"{self.session}: {self.reason}"


@dataclass(frozen=True)
class ProjectStatus:
    """A project's sync status and health."""

    sync: str
    health: str
    blockers: tuple[Blocker, ...]  # what keeps the project from Synced and Healthy

    @property
    def ready(self) -> bool:
        return self.sync == "Synced" and self.health == "Healthy"


def session_ready(record: SessionRecord, live: Observed | None) -> bool:
    """Running with a live agent, or finished as its restart policy wants."""
    if record.phase == Phase.RUNNING:
        return live is not None and live.alive
    return record.phase == Phase.SUCCEEDED


def _problem(record: SessionRecord, live: Observed | None) -> str | None:
    if record.phase in BAD_PHASES or record.reason == "NameTaken":
        return f"{record.phase} ({record.reason}): {record.message or ''}".rstrip(": ")
    if record.phase == Phase.RUNNING and (live is None or not live.alive):
        return "Running in the registry, but its agent is not running (the next pass will act)"
    return None


def _settled(record: SessionRecord) -> bool:
    """Where its spec wants it: a worker waiting for capacity waits on purpose, as declared."""
    return record.phase in SETTLED_PHASES or (record.phase == Phase.PENDING and record.reason == CAPACITY)


def project_status(
    project: ProjectRecord, sessions: Sequence[SessionRecord], observed: Mapping[str, Observed]
) -> ProjectStatus:
    blockers: list[Blocker] = []
    for record in sessions:
        problem = _problem(record, observed.get(record.id))
        if problem:
            blockers.append(Blocker(record.id, problem))
    health = "Degraded" if blockers else "Healthy"
    if project.suspended:
        sync = "Suspended"
    elif project.observed_generation < project.generation:
        sync = "OutOfSync"
        blockers.insert(0, Blocker(project.name, f"generation {project.generation} not yet reconciled "
                                                 f"(observed {project.observed_generation})"))
    elif any(not _settled(r) for r in sessions):
        sync = "Progressing"
        blockers += [Blocker(r.id, f"{r.phase} ({r.reason}): {r.message or ''}".rstrip(": "))
                     for r in sessions if not _settled(r)]
    else:
        sync = "Synced"
    return ProjectStatus(sync, health, tuple(blockers))


def conditions(record: SessionRecord, live: Observed | None) -> list[dict[str, object]]:
    """Kubernetes-style conditions of one session."""
    ready = session_ready(record, live)
    agent = live is not None and live.alive
    return [
        {"type": "Ready", "status": ready, "reason": record.reason, "message": record.message,
         "lastTransitionTime": record.last_transition_at},
        {"type": "AgentRunning", "status": agent,
         "reason": "ProcessAlive" if agent else ("NoSession" if live is None else "ProcessExited"),
         "message": None if agent or live is None else
         (f"killed by signal {live.exit_signal}" if live.exit_signal else f"exit status {live.exit_status}"),
         "lastTransitionTime": live.dead_at if live is not None and not agent else record.started_at},
    ]
