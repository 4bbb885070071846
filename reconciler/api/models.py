"""Request and response bodies of the API, so the OpenAPI document describes every one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..manifest.models import NAME_PATTERN, WORKER_NAME_PATTERN, Preset
from ..registry.records import Kind, Phase

# ------------------------------------------------------------ requests


class SpawnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(pattern=NAME_PATTERN, description="Project to add the worker to.")
    issue: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, max_length=20000)
    name: str | None = Field(default=None, pattern=WORKER_NAME_PATTERN, description="Worker name (default issue-<I>).")
    agent: Preset | None = Field(default=None, description="Agent preset (default: the project's).")


class EnsureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(pattern=NAME_PATTERN)


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    message: str = Field(min_length=1, max_length=20000, description="Text to type into the agent's terminal.")
    sender: str | None = Field(default=None, alias="from", pattern=r"^[a-z0-9][a-z0-9._-]{0,80}$",
                               description="Shown as the `[from <sender>]` prefix.")
    queue: bool = Field(default=False, description="Keep the message until the agent runs.")


# ------------------------------------------------------------ responses (the dicts of reconciler.views)


class _View(BaseModel):
    # Views may grow a field before this module does; it is passed through rather than dropped.
    model_config = ConfigDict(extra="allow")


class Health(_View):
    ok: bool
    version: str
    controller: dict | None = None  # the controller's health record, when one runs from this data dir


class Condition(_View):
    type: str
    status: bool
    reason: str | None = None
    message: str | None = None
    lastTransitionTime: float | None = None


class SessionView(_View):
    id: str
    project: str
    kind: Kind
    name: str
    issue: str | None = None
    phase: Phase
    reason: str | None = None
    message: str | None = None
    agent: str = Field(description="What the runtime says now: running, exited (N), killed (N), missing, none.")
    activity: str | None = Field(None, description="What the agent is doing: starting, working, idle, waiting "
                                                   "(for a person: see activityReason), exited, unknown.")
    activityReason: str = Field("", description="Why, e.g. `permission: Bash(rm -rf build)` or `trust dialog`.")
    activitySince: str | None = Field(None, description="Since when the agent has been doing it.")
    restarts: int
    runtime: str | None = None
    pid: int | None = None
    rssBytes: int | None = Field(default=None, description="Resident memory of the agent's process tree, bytes.")
    exitCode: int | None = None
    branch: str | None = None
    workspace: str | None = None
    restartPolicy: str | None = None
    specHash: str | None = None
    createdAt: str | None = None
    startedAt: str | None = None
    lastTransitionAt: str | None = None
    nextRetryAt: str | None = None
    terminatedAt: str | None = None
    conditions: list[Condition] | None = None


class ProjectView(_View):
    name: str
    sync: str
    health: str
    blockers: list[str]
    prefix: str
    generation: int
    observedGeneration: int
    sessions: int | list[SessionView] = Field(description="A count in lists; the sessions themselves for one project.")
    running: int
    declared: int | None = Field(default=None, description="Sessions declared: workers, and the orchestrator.")
    pending: int = Field(default=0, description="Sessions waiting for capacity (Pending, reason Capacity).")
    maxRunningWorkers: int | None = None
    source: str | None = None
    suspended: bool
    createdAt: str | None = None
    updatedAt: str | None = None
    spec: dict[str, Any]


class SessionRow(_View):
    """One session a pass planned, touched or left unchanged."""

    id: str
    project: str | None = None
    action: str
    result: str
    ok: bool
    reason: str | None = None


class PassResult(_View):
    ok: bool
    sessions: list[SessionRow]


class ProjectChange(_View):
    name: str
    status: str = Field(description="created, configured, unchanged or deleted.")


class ApplyResult(PassResult):
    projects: list[ProjectChange]


class SpawnResult(PassResult):
    worker: str
    orchestrator: str | None = None
    session: SessionView | None = None


class EnsureResult(_View):
    status: str = Field(description="reused, relaunched, created or adopted.")
    session: SessionView


class SentMessage(_View):
    id: str
    outcome: str
    detail: str | None = None
    body: str


class Output(_View):
    id: str
    lines: int
    output: str


class CommandResult(_View):
    result: str


class MessageView(_View):
    id: int
    at: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str
    project: str | None = None
    outcome: str = Field(description="queued, delivering, delivered, submitted (the agent reported taking it), "
                                     "unconfirmed, failed or rejected")
    detail: str | None = None
    enterPresses: int | None = None
    submittedAt: str | None = None
    body: str
