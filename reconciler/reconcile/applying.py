"""Applying manifests: merge loaded projects into the desired rows, write them, converge their scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..manifest.loader import (
    LoadedProject,
    ManifestError,
    ManifestIssue,
    prefix_collision,
)
from ..registry.records import MANIFEST_OWNER, ProjectRecord, WorkerRecord
from .desired import spec_hash
from .reconcile_pass import PassReport, run_pass

if TYPE_CHECKING:
    from .service import Service


@dataclass(frozen=True)
class ProjectChange:
    """What `ao apply` did to one project."""

    name: str
    status: str  # created | configured | unchanged | deleted


@dataclass
class ApplyReport:
    """What `ao apply` did: each project, then its pass."""

    projects: list[ProjectChange]
    reconcile: PassReport

    @property
    def changed(self) -> bool:
        return any(p.status != "unchanged" for p in self.projects) or self.reconcile.changed


def apply(svc: Service, loaded: Sequence[LoadedProject], *, dry_run: bool = False) -> ApplyReport:
    with svc.lock():
        check_prefixes(svc, loaded)
        existing = {p.name: p for p in svc.registry.projects(include_deleted=True)}
        workers = svc.registry.workers()
        changes, projects, new_workers = merge(loaded, existing, workers, svc.clock())
        observed = svc.runtime.observe()  # fails before anything is written if tmux is missing
        if not dry_run:
            write_desired(svc, loaded, projects, workers, new_workers, changes)
        scope = frozenset(p.name for p in loaded)
        report = run_pass(svc, projects, new_workers, scope, dry_run=dry_run, observed=observed)
        return ApplyReport(changes, report)


def check_prefixes(svc: Service, loaded: Sequence[LoadedProject]) -> None:
    issues: list[ManifestIssue] = []
    applying = {p.name for p in loaded}
    taken = {p.prefix: p for p in svc.registry.projects() if p.name not in applying}
    for project in loaded:
        other = taken.get(project.manifest.prefix)
        if other is not None:
            issues.append(prefix_collision(project, other.name, f"applied from {other.source or 'the registry'}"))
    if issues:
        raise ManifestError(issues)


def merge(
    loaded: Sequence[LoadedProject], existing: dict[str, ProjectRecord], workers: list[WorkerRecord], now: float
) -> tuple[list[ProjectChange], list[ProjectRecord], list[WorkerRecord]]:
    """New project and worker rows after applying `loaded` (pure; nothing is written)."""
    changes: list[ProjectChange] = []
    new_projects = dict(existing)
    applying = {p.name for p in loaded}
    new_workers = [w for w in workers if w.project not in applying or w.owner != MANIFEST_OWNER]
    for project in loaded:
        spec = project.manifest.spec.model_dump(mode="json")
        spec["repo"] = str(project.repo_path())
        declared = spec.pop("workers")
        record, status = _project_row(project, spec, declared, existing.get(project.name), now)
        new_projects[project.name] = record
        names = {w["name"] for w in declared}
        # A manifest takes over a worker of the same name that `ao spawn` added.
        new_workers = [w for w in new_workers if not (w.project == project.name and w.name in names)]
        new_workers += _worker_rows(project.name, declared, workers, now)
        changes.append(ProjectChange(project.name, status))
    return changes, list(new_projects.values()), new_workers


def _project_row(project: LoadedProject, spec: dict, declared: list[dict], old: ProjectRecord | None,
                 now: float) -> tuple[ProjectRecord, str]:
    digest = spec_hash({**spec, "workers": declared})
    if old is None or old.deleted:
        status = "created"
    else:
        status = "configured" if old.spec_hash != digest else "unchanged"
    kept = old is not None and not old.deleted
    record = ProjectRecord(
        name=project.name,
        prefix=project.manifest.prefix,
        spec=spec,
        spec_hash=digest,
        generation=(old.generation if old else 0) + (status != "unchanged"),
        observed_generation=old.observed_generation if old else 0,
        source=project.source if project.source.startswith("<") else str(Path(project.source).resolve()),
        suspended=old.suspended if kept and old else 0,
        deleted=0,
        created_at=old.created_at if kept and old else now,
        updated_at=now,
    )
    return record, status


def _worker_rows(project: str, declared: list[dict], workers: list[WorkerRecord], now: float) -> list[WorkerRecord]:
    previous = {w.name: w for w in workers if w.project == project}
    rows = []
    for position, worker in enumerate(declared):
        before = previous.get(worker["name"])
        rows.append(WorkerRecord(project=project, name=worker["name"], owner=MANIFEST_OWNER, spec=worker,
                                 position=position, created_at=before.created_at if before else now))
    return rows


def write_desired(svc: Service, loaded: Sequence[LoadedProject], projects: list[ProjectRecord],
                  before: list[WorkerRecord], after: list[WorkerRecord], changes: list[ProjectChange]) -> None:
    names = {p.name for p in loaded}
    status = {c.name: c.status for c in changes}
    registry = svc.registry
    with registry.transaction():
        for record in projects:
            if record.name not in names:
                continue
            registry.save_project(record)
            if status[record.name] != "unchanged":
                registry.add_event("Applied", f"project {record.name} {status[record.name]} "
                                   f"(generation {record.generation}) from {record.source}", project=record.name)
        keep = {(w.project, w.name) for w in after}
        for worker in before:
            if worker.project in names and (worker.project, worker.name) not in keep:
                registry.delete_worker(worker.project, worker.name)
        for worker in after:
            if worker.project in names:
                registry.save_worker(worker)
