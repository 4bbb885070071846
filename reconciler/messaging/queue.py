"""Queued messages: recorded now, typed into the target once its agent is free.

Used for `ao send --queue`, for messages `ao send` held (the agent was waiting for its user,
still starting, or busy), and for ao's own notices to orchestrators. Each message is claimed
(`delivering`) before it is typed and typed under the target's lock, so it is delivered at
most once and never merged with another; the send rules decide when (see messaging/gate.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..activity.observe import preset_of
from ..paths import DataDir
from ..registry import messages
from ..registry.messages import MessageState
from ..registry.records import HELD, Phase
from ..registry.store import Registry
from ..runtime.base import Observed, Runtime
from .typing import Agent, target_lock, type_message


def queue(registry: Registry, *, target: str, project: str | None, body: str, sender: str | None,
          at: float | None = None) -> None:
    messages.record(registry.conn, target=target, project=project, body=body, sender=sender,
                    state=MessageState.QUEUED, at=at if at is not None else time.time())


def _set(registry: Registry, message_id: int, state: MessageState, **changes: object) -> None:
    with registry.transaction():
        messages.set_state(registry.conn, message_id, state, **changes)  # type: ignore[arg-type]


def deliver_queued(registry: Registry, runtime: Runtime, observed: Mapping[str, Observed], owner: str,
                   data_dir: DataDir) -> list[tuple[str, str]]:
    """Type queued messages into targets that are free now, oldest first; returns (target, outcome)."""
    by_target: dict[str, list[dict]] = {}
    for row in messages.queued(registry.conn):
        by_target.setdefault(row["target"], []).append(row)
    results: list[tuple[str, str]] = []
    for target, waiting in by_target.items():
        record = registry.session(target)
        if record is None or record.phase == Phase.TERMINATED:
            for row in waiting:
                _set(registry, row["id"], MessageState.REJECTED, detail="the target session is gone")
            continue
        project = registry.project(record.project)
        live = observed.get(target)
        if record.phase in HELD or (project is not None and project.suspended):
            continue  # held on purpose: delivered once resumed
        if live is None or not live.alive or not live.owned_by(owner) or record.phase != Phase.RUNNING:
            continue
        agent = Agent(preset_of(record.spec), record.started_at)
        with target_lock(data_dir.session_dir(target) / "send.lock", 0) as locked:
            if not locked:
                continue  # someone is typing into it right now; the next pass tries again
            results += _deliver_to(registry, runtime, target, waiting, agent)
    return results


def _deliver_to(registry: Registry, runtime: Runtime, target: str, waiting: list[dict],
                agent: Agent) -> list[tuple[str, str]]:
    results = []
    for row in waiting:
        _set(registry, row["id"], MessageState.DELIVERING)
        try:
            typed = type_message(runtime, registry.conn, target, row["id"], row["body"], agent)
        except Exception as exc:  # noqa: BLE001 - recorded, never raised into the pass
            _set(registry, row["id"], MessageState.FAILED, detail=str(exc))
            results.append((target, "failed"))
            continue
        if typed.outcome in ("held", "refused"):
            _set(registry, row["id"], MessageState.QUEUED, detail=typed.detail)
            break  # the agent is not free: the rest wait their turn, in order
        _set(registry, row["id"], MessageState(typed.outcome), detail=typed.detail, enter_presses=typed.enter_presses)
        results.append((target, typed.outcome))
    return results
