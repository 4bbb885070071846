"""Queued messages: recorded now, typed into the target once its agent runs.

Used for `ao send --queue` and for ao's own lifecycle notices to orchestrators. Each message is
claimed (`delivering`) in a transaction before it is typed, so it is delivered at most once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..registry import messages
from ..registry.messages import MessageState
from ..registry.records import HELD, Phase
from ..registry.store import Registry
from ..runtime.base import Observed, Runtime
from .deliver import deliver

# A freshly started agent needs a moment before it reads input.
SETTLE_AFTER_START_SECONDS = 2.0


def queue(registry: Registry, *, target: str, project: str | None, body: str, sender: str | None,
          at: float | None = None) -> None:
    messages.record(registry.conn, target=target, project=project, body=body, sender=sender,
                    state=MessageState.QUEUED, at=at)


def deliver_queued(registry: Registry, runtime: Runtime, observed: Mapping[str, Observed], owner: str,
                   now: float | None = None) -> list[tuple[str, str]]:
    """Deliver queued messages whose target's agent is running; returns (target, outcome) pairs."""
    now = time.time() if now is None else now
    rows = messages.queued(registry.conn)
    ready: list[dict] = []
    for row in rows:
        live = observed.get(row["target"])
        record = registry.session(row["target"])
        if record is None or record.phase == Phase.TERMINATED:
            with registry.transaction():
                messages.set_state(registry.conn, row["id"], MessageState.REJECTED,
                                   detail="the target session is gone")
            continue
        settled = record.started_at is not None and now - record.started_at >= SETTLE_AFTER_START_SECONDS
        project = registry.project(record.project)
        if record.phase in HELD or (project is not None and project.suspended):
            continue  # held on purpose: delivered once resumed
        if live is not None and live.alive and live.owned_by(owner) and record.phase == Phase.RUNNING and settled:
            ready.append(row)
    results = []
    for row in ready:
        with registry.transaction():
            messages.set_state(registry.conn, row["id"], MessageState.DELIVERING)
        try:
            result = deliver(runtime, row["target"], row["body"])
            outcome, detail, presses = result.outcome, "", result.enter_presses
        except Exception as exc:  # noqa: BLE001 - recorded, never raised into the pass
            outcome, detail, presses = "failed", str(exc), 0
        with registry.transaction():
            messages.set_state(registry.conn, row["id"], MessageState(outcome), detail=detail,
                               enter_presses=presses)
        results.append((row["target"], outcome))
    return results
