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
from ..registry.records import HELD, Phase
from ..registry.store import Registry
from ..runtime.base import Live, Runtime
from .typing import Agent, target_lock, type_message


def queue(registry: Registry, *, target: str, project: str | None, body: str, sender: str | None,
          at: float | None = None) -> None:
    registry.db["messages"].insert({
        "at": at if at is not None else time.time(), "sender": sender, "target": target, "project": project,
        "body": body, "outcome": "queued", "detail": None, "enter_presses": 0,
    })


def _set(registry: Registry, message_id: int, **changes: object) -> None:
    with registry.transaction():
        registry.db["messages"].update(message_id, changes)


def deliver_queued(registry: Registry, runtime: Runtime, observed: Mapping[str, Live], owner: str,
                   data_dir: DataDir, now: float | None = None) -> list[tuple[str, str]]:
    """Type queued messages into targets that are free now, oldest first; returns (target, outcome)."""
    rows = list(registry.db.query("select * from messages where outcome = 'queued' order by id"))
    by_target: dict[str, list[dict]] = {}
    for row in rows:
        by_target.setdefault(row["target"], []).append(row)
    results: list[tuple[str, str]] = []
    for target, messages in by_target.items():
        record = registry.session(target)
        if record is None or record.phase == Phase.TERMINATED:
            for row in messages:
                _set(registry, row["id"], outcome="rejected", detail="the target session is gone")
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
            results += _deliver_to(registry, runtime, target, messages, agent)
    return results


def _deliver_to(registry: Registry, runtime: Runtime, target: str, messages: list[dict],
                agent: Agent) -> list[tuple[str, str]]:
    results = []
    for row in messages:
        _set(registry, row["id"], outcome="delivering")
        try:
            typed = type_message(runtime, registry.db.conn, target, row["id"], row["body"], agent)
        except Exception as exc:  # noqa: BLE001 - recorded, never raised into the pass
            _set(registry, row["id"], outcome="failed", detail=str(exc))
            results.append((target, "failed"))
            continue
        if typed.outcome in ("held", "refused"):
            _set(registry, row["id"], outcome="queued", detail=typed.detail)
            break  # the agent is not free: the rest wait their turn, in order
        with registry.transaction():
            registry.db.execute("update messages set outcome = ?, detail = ?, enter_presses = ? "
                                "where id = ? and outcome != 'submitted'",
                                [typed.outcome, typed.detail, typed.enter_presses, row["id"]])
        results.append((target, typed.outcome))
    return results
