"""Pydantic models of the `ao/v1` manifest. The JSON Schema is generated from them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from ..sessions.presets import PRESETS

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
WORKER_NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
BRANCH_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
# An issue number, key or URL: it is quoted in prompts and in notices typed into the orchestrator,
# so no spaces or control characters.
ISSUE_PATTERN = r"^[A-Za-z0-9#][A-Za-z0-9._#/:@+=?&%~-]*$"


# The preset names come from the preset table, so a preset is added in one place.
Preset = StrEnum("Preset", {name.upper().replace("-", "_"): name for name in PRESETS})  # type: ignore[misc]


class RestartPolicy(StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


class Workspace(StrEnum):
    WORKTREE = "worktree"
    NONE = "none"


class Runtime(StrEnum):
    AUTO = "auto"
    TMUX = "tmux"
    ZELLIJ = "zellij"


# Strict scalars: YAML's `yes`, `1` or `!!binary` are not silently turned into booleans or text,
# so pydantic accepts exactly what the JSON Schema accepts.
Text = Annotated[str, Strict()]
Flag = Annotated[bool, Strict()]


def _number_to_text(value: object) -> object:
    # `issue: 123` is how people write issue numbers; keep it as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return value


IssueRef = Annotated[
    Text,
    BeforeValidator(_number_to_text),
    Field(min_length=1, max_length=200, pattern=ISSUE_PATTERN),
    WithJsonSchema(
        {
            "type": ["string", "integer", "null"],
            "minLength": 1,
            "maxLength": 200,
            "pattern": ISSUE_PATTERN,
            "description": "Issue number or key, e.g. 123 or PROJ-7.",
        }
    ),
]


class _EnvSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Annotated[Text, Field(pattern=ENV_NAME_PATTERN)] | None = None
    file: Annotated[Text, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _EnvSource:
        if (self.env is None) == (self.file is None):
            raise ValueError("valueFrom takes exactly one of env or file")
        return self

    @model_serializer(mode="wrap")
    def _only_the_source(self, handler):  # type: ignore[no-untyped-def]
        return {k: v for k, v in handler(self).items() if v is not None}


class EnvValueFrom(BaseModel):
    """A value read when the agent is launched: from ao's environment or from a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valueFrom: _EnvSource



_VALUE_FROM_SCHEMA = {
    "type": "object",
    "description": "Read at launch: {valueFrom: {env: NAME}} from ao's environment, or {valueFrom: {file: PATH}}.",
    "properties": {
        "valueFrom": {
            "type": "object",
            "properties": {
                "env": {"type": "string", "pattern": ENV_NAME_PATTERN},
                "file": {"type": "string", "minLength": 1},
            },
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
        }
    },
    "required": ["valueFrom"],
    "additionalProperties": False,
}

EnvMap = Annotated[
    dict[Annotated[Text, Field(pattern=ENV_NAME_PATTERN)], Text | EnvValueFrom],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"type": "string", "pattern": ENV_NAME_PATTERN},
            "additionalProperties": {"anyOf": [{"type": "string"}, _VALUE_FROM_SCHEMA]},
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class AgentSpec(_Strict):
    """How to launch the agent: a preset, or an explicit argv."""

    preset: Preset | None = Field(
        default=None,
        description=f"Agent preset: {', '.join(list(PRESETS)[:-1])} or {list(PRESETS)[-1]}.",
    )
    command: list[Annotated[Text, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Explicit argv (list of strings); used instead of the preset's command.",
    )
    env: EnvMap = Field(
        default_factory=dict, description="Extra environment variables for the agent."
    )


class OrchestratorSpec(_Strict):
    enabled: Flag = Field(default=True, description="Run the project's canonical orchestrator session.")
    rules: Text | None = Field(default=None, description="Appended to the orchestrator's role prompt.")
    agent: AgentSpec | None = Field(default=None, description="Overrides spec.agent for the orchestrator.")
    restartPolicy: RestartPolicy = Field(
        default=RestartPolicy.ALWAYS, description="The orchestrator is relaunched whenever it exits by default."
    )


class WorkerSpec(_Strict):
    name: Text = Field(pattern=WORKER_NAME_PATTERN, description="Stable key of the worker, unique in the project.")
    issue: IssueRef | None = None
    prompt: Text | None = Field(default=None, max_length=20000, description="The worker's task.")
    branch: Text | None = Field(
        default=None, pattern=BRANCH_PATTERN, max_length=200, description="Branch; default ao/<session-id>."
    )
    agent: AgentSpec | None = Field(default=None, description="Overrides spec.agent for this worker.")
    restartPolicy: RestartPolicy | None = Field(
        default=None, description="Overrides spec.restartPolicy for this worker."
    )


class LimitsSpec(_Strict):
    maxRunningWorkers: Annotated[int, Strict(), Field(ge=0, le=10000)] | None = Field(
        default=None,
        description="Workers of this project running at once, at most (the orchestrator is not counted); "
        "the others wait as Pending (reason Capacity). Omitted: no limit; 0: no worker runs.",
    )


class ProjectSpec(_Strict):
    repo: Text = Field(min_length=1, description="Git repository; relative paths resolve against the manifest file.")
    defaultBranch: Text = Field(default="main", pattern=BRANCH_PATTERN, description="Branch worktrees start from.")
    sessionPrefix: Text | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Prefix of session IDs ({prefix}-orchestrator, {prefix}-{n}); default metadata.name.",
    )
    runtime: Runtime = Field(default=Runtime.AUTO, description="auto (zellij if installed, else tmux), tmux or zellij.")
    workspace: Workspace = Field(
        default=Workspace.WORKTREE,
        description="worktree: each session in its own git worktree under the data dir; none: in the repo itself.",
    )
    agent: AgentSpec = Field(default_factory=AgentSpec, description="Default agent for every session.")
    restartPolicy: RestartPolicy = Field(
        default=RestartPolicy.ON_FAILURE, description="Restart policy of workers: Always, OnFailure or Never."
    )
    orchestrator: OrchestratorSpec = Field(default_factory=OrchestratorSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec, description="Capacity limits of the project.")
    workers: list[WorkerSpec] = Field(default_factory=list, description="Desired workers, one session each.")


class Metadata(_Strict):
    name: Text = Field(pattern=NAME_PATTERN, description="Project ID: lowercase letters, digits and dashes.")


class ProjectManifest(_Strict):
    """One `kind: Project` document."""

    apiVersion: Literal["ao/v1"] = Field(description="Always ao/v1.")
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def prefix(self) -> str:
        return self.spec.sessionPrefix or self.metadata.name
