"""Typed, immutable views of registry rows."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CRASH_LOOP = "CrashLoopBackOff"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"  # not reconciled until resumed; the agent keeps running
    STOPPED = "Stopped"  # stopped on purpose by a user; not restarted until started again


# Phases in which ao leaves a session alone: a person asked for it.
HELD = frozenset({Phase.SUSPENDED, Phase.STOPPED})


class Kind(StrEnum):
    ORCHESTRATOR = "orchestrator"
    WORKER = "worker"


# Who added a worker row: the manifest (re-applying it replaces the row) or an imperative command.
MANIFEST_OWNER = "manifest"
SPAWN_OWNER = "spawn"


class _Row:
    _json_fields: tuple[str, ...] = ()

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The dataclass's fields, worked out once per class (a pass reads thousands of rows)."""
        names = cls.__dict__.get("_field_names")
        if names is None:
            names = frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            cls._field_names = names  # type: ignore[attr-defined]
        return names

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        names = cls.field_names()
        values = {k: v for k, v in row.items() if k in names}
        for key in cls._json_fields:
            if values.get(key) is not None:
                values[key] = json.loads(values[key])
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)  # type: ignore[call-overload]
        for key in self._json_fields:
            if row.get(key) is not None:
                row[key] = json.dumps(row[key], sort_keys=True)
        return row


@dataclass(frozen=True)
class ProjectRecord(_Row):
    """A row of the projects table."""

    _json_fields = ("spec",)

    name: str
    prefix: str
    spec: dict[str, Any]
    spec_hash: str
    generation: int
    observed_generation: int = 0
    source: str | None = None
    suspended: int = 0
    deleted: int = 0
    created_at: float | None = None
    updated_at: float | None = None


@dataclass(frozen=True)
class WorkerRecord(_Row):
    """A row of the workers table: one declared worker."""

    _json_fields = ("spec",)

    project: str
    name: str
    owner: str
    spec: dict[str, Any]
    position: int
    created_at: float | None = None


@dataclass(frozen=True)
class SessionRecord(_Row):
    """A row of the sessions table."""

    _json_fields = ("spec", "argv")

    id: str
    project: str
    kind: str
    phase: str
    worker: str | None = None
    number: int | None = None
    runtime: str | None = None
    spec: dict[str, Any] | None = None
    spec_hash: str | None = None
    restart_policy: str | None = None
    reason: str | None = None
    message: str | None = None
    restarts: int = 0
    exit_code: int | None = None
    exit_signal: int | None = None
    backoff_step: int = 0
    quick_failures: int = 0
    next_retry_at: float | None = None
    started_at: float | None = None
    pid: int | None = None
    branch: str | None = None
    workspace: str | None = None
    argv: list[str] | None = None
    created_at: float | None = None
    last_transition_at: float | None = None
    terminated_at: float | None = None
    updated_at: float | None = None

    @property
    def active(self) -> bool:
        return self.phase != Phase.TERMINATED


@dataclass(frozen=True)
class EventRecord(_Row):
    """A row of the events table."""

    id: int
    at: float
    type: str
    reason: str
    message: str
    project: str | None = None
    session: str | None = None


@dataclass(frozen=True)
class MessageRecord(_Row):
    """A row of the messages table."""

    id: int
    at: float
    target: str
    body: str
    outcome: str
    sender: str | None = None
    project: str | None = None
    detail: str | None = None
    enter_presses: int | None = None
    submitted_at: float | None = None
