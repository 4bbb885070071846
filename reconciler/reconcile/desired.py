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
    """One session as the manifests declare it."""

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
    """One project as the manifests declare it."""

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
    project: ProjectRecord, kind: str, worker: Mapping[str, Any] | None, orchestrator: str | None, runtime: str,
) -> DesiredSession:
    spec_in = project.spec
    common = {
        "kind": kind,
        "repo": spec_in["repo"],
        "runtime": runtime,
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


class _Memo:
    """The desired sessions of the last call, by the identity of the records they were made from.

    A desired session is a pure function of its project and worker records (immutable, and handed out
    again by the registry for a row that did not change) and the resolved runtime, so a pass over
    unchanged rows reuses them instead of building and hashing a thousand specs again. Entries hold
    their records, so an identity is never reused while it is a key; only the last call's are kept.
    """

    def __init__(self) -> None:
        self.last: dict[tuple[int, int, str], tuple[ProjectRecord, WorkerRecord | None, DesiredSession]] = {}
        self.now: dict[tuple[int, int, str], tuple[ProjectRecord, WorkerRecord | None, DesiredSession]] = {}

    def session(self, project: ProjectRecord, worker: WorkerRecord | None, orchestrator: str | None,
                runtime: str) -> DesiredSession:
        key = (id(project), id(worker), runtime)
        hit = self.last.get(key) or self.now.get(key)
        if hit is not None and hit[0] is project and hit[1] is worker and hit[2].orchestrator_id == orchestrator:
            session = hit[2]
        elif worker is None:
            session = _session(project, Kind.ORCHESTRATOR, None, orchestrator, runtime)
        else:
            session = _session(project, Kind.WORKER, worker.spec, orchestrator, runtime)
        self.now[key] = (project, worker, session)
        return session

    def done(self) -> None:
        self.last, self.now = self.now, {}


_memo = _Memo()


def desired_projects(
    projects: Iterable[ProjectRecord], workers: Iterable[WorkerRecord],
    resolve: Callable[[str], str] = default_runtime,
) -> list[DesiredProject]:
    """Desired sessions of every live project; `resolve` turns `runtime: auto` into a runtime name."""
    by_project: dict[str, list[WorkerRecord]] = {}
    for worker in workers:
        by_project.setdefault(worker.project, []).append(worker)
    result = []
    memo = _memo
    try:
        for project in projects:
            if project.deleted:
                continue
            enabled = (project.spec.get("orchestrator") or {}).get("enabled", True)
            orch_id = orchestrator_id(project.prefix) if enabled else None
            runtime = resolve(project.spec.get("runtime", "auto"))
            rows = sorted(by_project.get(project.name, []),
                          key=lambda w: (w.owner != MANIFEST_OWNER, w.position, w.name))
            result.append(
                DesiredProject(
                    name=project.name,
                    prefix=project.prefix,
                    generation=project.generation,
                    suspended=bool(project.suspended),
                    orchestrator=memo.session(project, None, orch_id, runtime) if enabled else None,
                    workers=tuple(memo.session(project, w, orch_id, runtime) for w in rows),
                    max_running_workers=(project.spec.get("limits") or {}).get("maxRunningWorkers"),
                )
            )
    finally:
        memo.done()
    return result
