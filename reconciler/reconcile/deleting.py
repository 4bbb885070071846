"""Deleting projects: mark them deleted, drop their workers, reap their sessions in one pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import NotFound
from .applying import ApplyReport, ProjectChange
from .reconcile_pass import run_pass

if TYPE_CHECKING:
    from .service import Service


def delete_projects(svc: Service, names: Sequence[str], *, dry_run: bool = False) -> ApplyReport:
    registry = svc.registry
    with svc.lock():
        existing = {p.name: p for p in registry.projects(include_deleted=True)}
        missing = [n for n in names if n not in existing or existing[n].deleted]
        if missing:
            raise NotFound(f"no project named {', '.join(missing)}", hint="see `ao get projects`")
        projects = [replace(p, deleted=1) if p.name in names else p for p in existing.values()]
        workers = [w for w in registry.workers() if w.project not in names]
        if not dry_run:
            with registry.transaction():
                for name in names:
                    registry.update_project(name, deleted=1)
                    for worker in registry.workers(name):
                        registry.delete_worker(name, worker.name)
                    registry.add_event("Deleted", f"project {name} deleted; reaping its sessions", project=name)
        report = run_pass(svc, projects, workers, frozenset(names), dry_run=dry_run)
        return ApplyReport([ProjectChange(n, "deleted") for n in names], report)
