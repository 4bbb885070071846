"""The pass's activity step: what every agent is doing, and who must hear that a worker waits."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from ..activity import store as activity_store
from ..activity.observe import Watched, due_waiting_notices, observe_activity, preset_of
from ..registry.records import Kind, Phase, SessionRecord
from ..registry.store import Registry
from ..runtime.base import Observed, Runtime
from .notices import SENDER


def observe_step(registry: Registry, runtime: Runtime, world_records: Iterable[SessionRecord],
                 observed: Mapping[str, Observed], owner: str, orchestrators: Mapping[str, str | None],
                 skip: Collection[str], now: float) -> None:
    """Record each live agent's activity (sessions this pass just started or stopped excepted) and
    queue one `[from ao]` notice per waiting episode of a worker to its project's orchestrator.
    `world_records` are the rows the pass planned with: the ones it changed are in `skip`."""
    records = {r.id: r for r in world_records if r.phase != Phase.TERMINATED}
    watched = [Watched(r.id, preset_of(r.spec), r.started_at) for r in records.values() if r.id not in skip]
    conn = registry.conn
    with registry.transaction():
        observe_activity(conn, runtime, watched, observed, owner, now, rows=activity_store.load_all_of(registry))
        for session_id, text in due_waiting_notices(conn, now):
            record = records.get(session_id)
            target = orchestrators.get(record.project) if record is not None else None
            if record is None or record.kind != Kind.WORKER or not target or target == session_id:
                continue
            from ..messaging.queue import queue

            queue(registry, target=target, project=record.project, body=f"[from {SENDER}] {text}", sender=SENDER,
                  at=now)
