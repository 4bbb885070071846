"""Queued messages: recorded now, typed into the target once its agent is free.

Used for `ao send --queue`, for messages `ao send` held (the agent was waiting for its user,
still starting, or busy), and for ao's own notices to orchestrators. Each message is claimed
(`delivering`) before it is typed and typed under the target's lock, so it is delivered at
most once and never merged with another; the send rules decide when (see messaging/gate.py).

Typing takes time (a look, a paste, an Enter, a confirmation: a second or more per message), so
the controller does not type inside its pass: its `Courier` thread does, on its own registry
connection, woken after each pass and, while messages are held, every resync. A pass never waits
for typing; one-shot commands (`ao apply`, `ao reconcile`) still deliver at the end of their pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..activity.observe import preset_of
from ..paths import DataDir
from ..registry import messages
from ..registry.messages import MessageState
from ..registry.records import HELD, Phase
from ..registry.store import Registry
from ..runtime.base import Observed, Runtime

if TYPE_CHECKING:
    from .typing import Agent


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
    if not by_target:
        return []  # nothing to type: the typing machinery (screens, locks, send rules) is not loaded
    from .typing import Agent, target_lock
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
    from .typing import type_message

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


class Courier:
    """Delivers queued messages on its own thread (see the module's docstring)."""

    def __init__(self, data_dir: DataDir, runtime: Runtime, *, retry: float,
                 on_delivered: Callable[[list[tuple[str, str]]], None],
                 on_error: Callable[[str], None]) -> None:
        self.data_dir, self.runtime, self.retry = data_dir, runtime, retry
        self.on_delivered, self.on_error = on_delivered, on_error
        self._wake, self._stop = threading.Event(), threading.Event()
        self._observed: Mapping[str, Observed] | None = None
        self._thread = threading.Thread(target=self._run, name="ao-courier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hand_over(self, observed: Mapping[str, Observed]) -> None:
        """After a pass: deliver what is queued, using the pass's observation (no second listing)."""
        self._observed = observed
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        registry: Registry | None = None
        held = False  # messages are waiting for their agent: look again after `retry`
        try:
            while not self._stop.is_set():
                self._wake.wait(self.retry if held else None)
                self._wake.clear()
                if self._stop.is_set():
                    return
                observed, self._observed = self._observed, None
                try:
                    if registry is None:
                        registry = Registry.open(self.data_dir.db_path)  # its own connection, for its own thread
                    if observed is None:
                        if not messages.queued(registry.conn):
                            held = False
                            continue
                        observed = self.runtime.observe()
                    owner = self.data_dir.owner_id
                    delivered = deliver_queued(registry, self.runtime, observed, owner, self.data_dir)
                    held = bool(messages.queued(registry.conn))
                except Exception as exc:  # noqa: BLE001 - the courier outlives any one failure
                    held = True
                    self.on_error(f"{exc.__class__.__name__}: {exc}")
                    continue
                if delivered:
                    self.on_delivered(delivered)
        finally:
            if registry is not None:
                registry.close()

