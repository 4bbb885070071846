"""Desired sessions, derived from the registry's desired projects and workers.

Each session gets a *spec*: the declared inputs that, when changed, require the agent to be
started again (agent, repo, task, ...). Its hash is stamped on the live session; a different
hash means "recreate", and comparing two specs names the fields that changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..registry.records import MANIFEST_OWNER, Kind, ProjectRecord, WorkerRecord
from ..sessions.naming import orchestrator_id

HASH_VERSION = "v1"
from ..sessions.presets import DEFAULT_PRESET


@dataclass(frozen=True)
class DesiredSession:
    project: str
    prefix: str
    kind: str
    worker: str | None
    spec: Mapping[str, Any]
    spec_hash: str
    restart_policy: str
    orchestrator_id: str | None  # the project's canonical orchestrator, when it is enabled
    default_branch: str = "main"  # where new worktrees start (not part of the spec: it never moves them)

    @property
    def issue(self) -> str | None:
        return self.spec.get("issue")


@dataclass(frozen=True)
class DesiredProject:
    name: str
    prefix: str
    generation: int
    suspended: bool
    orchestrator: DesiredSession | None
    workers: tuple[DesiredSession, ...]  # declaration order, then spawn order: the order they start in
    max_running_workers: int | None = None  # spec.limits.maxRunningWorkers (the orchestrator is not counted)

    @property
    def sessions(self) -> tuple[DesiredSession, ...]:
        return ((self.orchestrator,) if self.orchestrator else ()) + self.workers


def spec_hash(spec: Mapping[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return f"{HASH_VERSION}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Dotted names of the fields that differ, e.g. ['agent.command', 'prompt']."""
    if old is None:
        return ["(unknown previous spec)"]
    names: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            names += [f"{key}.{sub}" for sub in changed_fields(a, b)]
        elif a != b:
            names.append(key)
    return names


def merge_agent(base: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """A role's agent replaces the project's preset/command when it names one; env is merged."""
    override = override or {}
    chosen = override if (override.get("preset") or override.get("command")) else base
    command = list(chosen.get("command") or [])
    preset = chosen.get("preset") or (None if command else DEFAULT_PRESET)
    env = {**(base.get("env") or {}), **(override.get("env") or {})}
    return {"preset": preset, "command": command, "env": dict(sorted(env.items()))}


def _session(
    project: ProjectRecord, kind: str, worker: Mapping[str, Any] | None, orchestrator: str | None,
    resolve: Callable[[str], str],
) -> DesiredSession:
    spec_in = project.spec
    common = {
        "kind": kind,
        "repo": spec_in["repo"],
        "runtime": resolve(spec_in.get("runtime", "auto")),
        "workspace": spec_in.get("workspace", "worktree"),
    }
    if kind == Kind.ORCHESTRATOR:
        role = spec_in.get("orchestrator") or {}
        spec = {**common, "agent": merge_agent(spec_in.get("agent") or {}, role.get("agent")), "rules": role.get("rules")}
        policy = role.get("restartPolicy") or "Always"
        name = None
    else:
        assert worker is not None
        spec = {
            **common,
            "agent": merge_agent(spec_in.get("agent") or {}, worker.get("agent")),
            "issue": worker.get("issue"),
            "prompt": worker.get("prompt"),
            "branch": worker.get("branch"),
        }
        policy = worker.get("restartPolicy") or spec_in.get("restartPolicy") or "OnFailure"
        name = worker["name"]
    return DesiredSession(
        project=project.name,
        prefix=project.prefix,
        kind=kind,
        worker=name,
        spec=spec,
        spec_hash=spec_hash(spec),
        restart_policy=policy,
        orchestrator_id=orchestrator,
        default_branch=spec_in.get("defaultBranch") or "main",
    )


def default_runtime(declared: str) -> str:
    return "tmux" if declared == "auto" else declared


def desired_projects(
    projects: Iterable[ProjectRecord], workers: Iterable[WorkerRecord],
    resolve: Callable[[str], str] = default_runtime,
) -> list[DesiredProject]:
    """Desired sessions of every live project; `resolve` turns `runtime: auto` into a runtime name."""
    by_project: dict[str, list[WorkerRecord]] = {}
    for worker in workers:
        by_project.setdefault(worker.project, []).append(worker)
    result = []
    for project in projects:
        if project.deleted:
            continue
        enabled = (project.spec.get("orchestrator") or {}).get("enabled", True)
        orch_id = orchestrator_id(project.prefix) if enabled else None
        rows = sorted(by_project.get(project.name, []), key=lambda w: (w.owner != MANIFEST_OWNER, w.position, w.name))
        result.append(
            DesiredProject(
                name=project.name,
                prefix=project.prefix,
                generation=project.generation,
                suspended=bool(project.suspended),
                orchestrator=_session(project, Kind.ORCHESTRATOR, None, orch_id, resolve) if enabled else None,
                workers=tuple(_session(project, Kind.WORKER, w.spec, orch_id, resolve) for w in rows),
                max_running_workers=(project.spec.get("limits") or {}).get("maxRunningWorkers"),
            )
        )
    return result
