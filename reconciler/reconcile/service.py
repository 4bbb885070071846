"""The service: the one surface the CLI, the API, the dashboard and the controller talk to.

It owns the data dir's registry connection, the runtime and the pass lock, and hands each job to
its module: the pass (`reconcile_pass`), applying manifests (`applying`), deleting (`deleting`),
imperative commands (`commands`) and holds (`holds`). Every operation that changes desired state or
sessions runs under the pass lock, so two `ao apply` runs, a controller and a CLI call never
interleave their passes. Front ends read through the methods at the end, never the registry itself.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..paths import DataDir
from ..registry.records import MANIFEST_OWNER, SPAWN_OWNER

# Imported where used, not here: a read command (`ao get`, `ao describe`, `ao events`) builds a Service
# too, and must not pay for the manifest loader (pydantic), sqlite-utils, the planner or the executor.
if TYPE_CHECKING:
    from ..activity.store import ActivityRow
    from ..manifest.loader import LoadedProject
    from ..messaging.queue import Courier
    from ..registry.records import (
        EventRecord,
        MessageRecord,
        ProjectRecord,
        SessionRecord,
        WorkerRecord,
    )
    from ..registry.sources import Source
    from ..registry.store import Registry
    from ..runtime.base import Observed, Runtime
    from .applying import ApplyReport, ProjectChange
    from .capacity import Memory
    from .commands import SpawnResult
    from .limits import Limits
    from .ratelimit import LaunchLimiter
    from .reconcile_pass import PassReport

__all__ = ["ApplyReport", "PassReport", "ProjectChange", "Service", "SpawnResult"]

# Where the re-exported result types live, loaded on first use (PEP 562).
_REEXPORTED = {"ApplyReport": "applying", "ProjectChange": "applying", "SpawnResult": "commands",
               "PassReport": "reconcile_pass"}


def __getattr__(name: str) -> Any:
    if name in _REEXPORTED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_REEXPORTED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Service:
    def __init__(self, data_dir: DataDir, *, runtime: Runtime | None = None,
                 clock: Callable[[], float] = time.time, on_wait: Callable[[str], None] = _stderr,
                 limiter: LaunchLimiter | None = None) -> None:
        self.data_dir = data_dir
        self._runtime = runtime
        self.clock = clock
        self.on_wait = on_wait
        self.limiter = limiter
        self.courier: Courier | None = None  # set by the controller: queued messages are typed off the pass

    @cached_property
    def registry(self) -> Registry:
        """Storage, for the reconcile layer only; front ends use the read methods below."""
        from ..registry.store import Registry

        return Registry.open(self.data_dir.ensure().db_path)

    def close(self) -> None:
        if "registry" in self.__dict__:
            self.registry.close()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from ..runtime.fleet import fleet_for

            self._runtime = fleet_for(self.data_dir)
        return self._runtime

    def resolve_runtime(self, declared: str) -> str:
        resolve = getattr(self.runtime, "resolve", None)
        if resolve:
            return resolve(declared)
        from .desired import default_runtime

        return default_runtime(declared)

    def lock(self) -> AbstractContextManager[None]:
        from .lock import pass_lock

        return pass_lock(self.data_dir.ensure().lock_path, on_wait=self.on_wait)

    def observe(self) -> dict[str, Observed]:
        return self.runtime.observe()

    def memory_usage(self, observed: Mapping[str, Observed]) -> dict[str, int]:
        """Resident memory (bytes) of each running session's process tree, measured now."""
        from .memory import sessions_rss

        owner = self.data_dir.owner_id
        return sessions_rss((sid, live.pid) for sid, live in observed.items() if live.alive and live.owned_by(owner))

    def limits(self) -> Limits:
        """The data dir's capacity settings (see `reconcile/limits.py`)."""
        from . import limits

        return limits.load(self.data_dir)

    def machine_memory(self) -> Memory | None:
        """The machine's total and available memory now, and the reserve ao keeps free."""
        from . import limits

        return limits.machine(self.limits())

    def activity(self) -> dict[str, ActivityRow]:
        """What each agent was last seen doing (see reconciler/activity)."""
        from ..activity import store as activity_store

        return activity_store.load_all(self.registry.conn)

    def capture(self, session_id: str, lines: int) -> str:
        """The last `lines` lines of a session's screen (a dead agent's pane too)."""
        return self.runtime.capture(session_id, lines)

    # ------------------------------------------------------------ the pass, apply, delete

    def reconcile(self, scope: Iterable[str] | None = None, *, dry_run: bool = False) -> PassReport:
        from .reconcile_pass import stored_pass

        with self.lock():
            return stored_pass(self, frozenset(scope) if scope is not None else None, dry_run=dry_run)

    def apply(self, loaded: Sequence[LoadedProject], *, dry_run: bool = False) -> ApplyReport:
        from . import applying

        return applying.apply(self, loaded, dry_run=dry_run)

    def delete_projects(self, names: Sequence[str], *, dry_run: bool = False) -> ApplyReport:
        from . import deleting

        return deleting.delete_projects(self, names, dry_run=dry_run)

    # ------------------------------------------------------------ imperative commands

    def spawn(self, project: str, *, issue: str | None = None, prompt: str | None = None, name: str | None = None,
              agent: str | None = None, owner: str = SPAWN_OWNER) -> SpawnResult:
        from . import commands

        return commands.spawn(self, project, issue=issue, prompt=prompt, name=name, agent=agent, owner=owner)

    def delete_session(self, session_id: str) -> PassReport:
        from . import commands

        return commands.delete_session(self, session_id)

    def ensure_orchestrator(self, project: str) -> tuple[str, str]:
        from . import commands

        return commands.ensure_orchestrator(self, project)

    def relaunch_session(self, session_id: str) -> str:
        from . import commands

        return commands.relaunch_session(self, session_id)

    # ------------------------------------------------------------ holds

    def set_suspended(self, kind: str, name: str, suspended: bool) -> str:
        from . import holds

        return holds.set_suspended(self, kind, name, suspended)

    def stop_session(self, session_id: str) -> str:
        from . import holds

        return holds.stop_session(self, session_id)

    def start_session(self, session_id: str) -> str:
        from . import holds

        return holds.start_session(self, session_id)

    # ------------------------------------------------------------ reads

    def sources(self) -> dict[str, Source]:
        from ..registry import sources

        return sources.all_sources(self.registry.conn)

    def record_source(self, source: Source) -> None:
        from ..registry import sources

        with self.registry.transaction():
            sources.save(self.registry.conn, source)

    def forget_source(self, path: str) -> None:
        from ..registry import sources

        with self.registry.transaction():
            sources.forget(self.registry.conn, path)

    def schema_version(self) -> int:
        return self.registry.schema_version

    def sessions(self, project: str | None = None, *, include_terminated: bool = False) -> list[SessionRecord]:
        return self.registry.sessions(project=project, include_terminated=include_terminated)

    def session(self, session_id: str) -> SessionRecord | None:
        return self.registry.session(session_id)

    def projects(self) -> list[ProjectRecord]:
        return self.registry.projects()

    def project(self, name: str) -> ProjectRecord | None:
        return self.registry.project(name)

    def workers(self, project: str | None = None) -> list[WorkerRecord]:
        return self.registry.workers(project)

    def declared(self, project: ProjectRecord) -> int:
        """Sessions the project declares: its workers, and its orchestrator when enabled."""
        orchestrator = (project.spec.get("orchestrator") or {}).get("enabled", True)
        return len(self.registry.workers(project.name)) + int(bool(orchestrator))

    def manifest_workers(self, project: str) -> list[WorkerRecord]:
        """The workers the project's manifest declares (not those `ao spawn` added)."""
        return [w for w in self.registry.workers(project) if w.owner == MANIFEST_OWNER]

    def events(self, *, project: str | None = None, session: str | None = None, after_id: int = 0,
               limit: int | None = None) -> list[EventRecord]:
        return self.registry.events(project=project, session=session, after_id=after_id, limit=limit)

    def events_after(self, after_id: int, *, limit: int, project: str | None = None) -> list[EventRecord]:
        return self.registry.events_after(after_id, limit=limit, project=project)

    def messages(self, *, project: str | None = None, session: str | None = None,
                 limit: int | None = None) -> list[MessageRecord]:
        return self.registry.messages(project=project, session=session, limit=limit)
