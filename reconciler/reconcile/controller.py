"""The controller: one long-running loop per data dir that keeps every project as declared.

Level-triggered. A change to a watched manifest (watchdog), or simply time passing (resync),
wakes the loop; a file event re-reads what the manifest folders hold and applies what changed.
Each wake then runs one reconcile pass over everything, unless nothing a pass reads has changed
since the last one (see `idle.py`: one tmux listing and the registry's change counter per tick,
and a full pass at least every 60 s), so an idle controller costs next to nothing. Nothing is
remembered from events: a missed event is corrected by the next full pass. Queued messages are
typed by a courier thread (messaging/queue.py), so a pass never waits for typing.

Only one controller runs per data dir: it holds an OS lock on `controller.lock` for its whole
life (the kernel releases it when the process dies, so a killed controller's lease is simply
taken over by the next one). Stopping the controller never stops sessions.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AoError
from ..locks import file_lock
from ..manifest.loader import ManifestError, expand_paths, load_paths
from ..messaging.queue import Courier
from ..registry.sources import Source
from . import health, retention
from .idle import IdleWatch
from .lock import started_by_me
from .plan import NO_OP
from .server_watch import ServerWatch
from .service import PassReport, Service

DEFAULT_RESYNC_SECONDS = 2.0
DEBOUNCE_SECONDS = 0.1
MAX_DEBOUNCE_SECONDS = 1.0
MAX_ERROR_BACKOFF_SECONDS = 60.0


class ControllerBusy(AoError):
    code = "CONTROLLER_RUNNING"


@dataclass
class Settings:
    """How `ao controller` runs."""

    watch: list[Path] = field(default_factory=list)
    resync: float = DEFAULT_RESYNC_SECONDS  # seconds between passes when nothing happens
    debounce: float = DEBOUNCE_SECONDS  # quiet time after a file event before acting


def lease(path: Path) -> AbstractContextManager[None]:
    """Hold the data dir's controller lease, or refuse naming the holder."""

    def busy(holder: str | None) -> AoError:
        return ControllerBusy(f"another ao controller holds {path} ({holder or 'unknown'})",
                              hint="stop it first; only one controller runs per data dir")

    return file_lock(path, holder=started_by_me(), timeout=0, busy=busy)


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Controller:
    def __init__(self, ao: Service, settings: Settings, *, log: Callable[[dict[str, Any]], None],
                 stop: threading.Event | None = None) -> None:
        self.ao = ao
        self.settings = settings
        self.log = log
        self.stop = stop or threading.Event()
        self.wake = threading.Event()
        self._file_event = threading.Event()
        self.failures = 0  # consecutive passes that hit an error; drives the back-off
        self._errors: list[str] = []  # errors of the current pass
        self._last_ok: float | None = None
        self.idle = IdleWatch(ao)
        self.server = ServerWatch(ao.runtime, self.wake.set)  # a killed server wakes the loop at once
        self.skipped = 0  # ticks in a row that needed no pass
        self.passes = 0

    # ------------------------------------------------------------ the loop

    def run(self, *, ready: threading.Event | None = None) -> None:
        with lease(self.ao.data_dir.ensure().root / "controller.lock"):
            observer = self._watch()
            courier = self.ao.courier = Courier(self.ao.data_dir, self.ao.runtime, retry=self.settings.resync,
                                                on_delivered=self._log_delivered, on_error=self._courier_error)
            courier.start()
            self.log({"event": "started", "message": f"watching {', '.join(map(str, self.settings.watch)) or 'nothing'}"
                      f"; resync every {self.settings.resync:g}s"})
            try:
                self._cycle(files_changed=True)
                if ready is not None:
                    ready.set()
                while not self.stop.is_set():
                    self.wake.wait(self._wait_seconds())
                    if self.stop.is_set():
                        break
                    self.wake.clear()
                    changed = self._file_event.is_set()
                    if changed:
                        self._settle()
                    # After an error every file is looked at again: a broken one is retried.
                    self._cycle(files_changed=changed or self.failures > 0)
            finally:
                courier.stop()
                self.ao.courier = None
                if observer is not None:
                    observer.stop()
                    observer.join(timeout=5)
                health.write(self.ao.data_dir, {"state": "stopped", "at": time.time()})
                self.log({"event": "stopped", "message": "controller stopped; sessions keep running"})

    def _cycle(self, *, files_changed: bool) -> None:
        """One wake: manifests, then a pass. No error in either ends the loop: it is logged,
        recorded in the health record, and the next cycle comes after a back-off."""
        self._errors = []
        if files_changed:
            self._guard("reading manifests", self._sync_manifests)
        if self._pass_needed(files_changed):
            self.skipped = 0
            self.passes += 1
            self._guard("pass", self._pass)
        else:
            self.skipped += 1
        self._guard("pruning", self._prune)  # at most hourly: see reconcile/retention.py
        now = time.time()
        if self._errors:
            self.failures += 1
        else:
            self.failures, self._last_ok = 0, now
        health.write(self.ao.data_dir, {
            "state": "running", "at": now, "ok": not self._errors, "error": "; ".join(self._errors)[:500] or None,
            "failures": self.failures, "lastOkAt": self._last_ok, "resync": self.settings.resync,
            "passes": self.passes, "idleTicks": self.skipped})

    def _guard(self, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the controller outlives any one failure
            self._error(f"{what} failed: {exc.__class__.__name__}: {exc}" if not isinstance(exc, AoError)
                        else f"{what} failed: {exc}")

    def _error(self, message: str, **fields: Any) -> None:
        self._errors.append(message)
        try:
            self.log({"event": "error", **fields, "message": message})
        except Exception:  # noqa: BLE001 - a log line that cannot be written (full disk) is lost, not fatal
            pass

    def _wait_seconds(self) -> float:
        """The resync interval; after errors, doubling up to a minute (a full disk is not hammered)."""
        if not self.failures:
            return self.settings.resync
        return min(MAX_ERROR_BACKOFF_SECONDS, self.settings.resync * 2 ** min(self.failures, 10))

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def _settle(self) -> None:
        """Wait until file events have been quiet for a moment (editors write in several steps)."""
        deadline = time.monotonic() + MAX_DEBOUNCE_SECONDS
        while True:
            self._file_event.clear()
            if not self._file_event.wait(self.settings.debounce) or time.monotonic() > deadline:
                return

    def _pass_needed(self, files_changed: bool) -> bool:
        try:
            why = self.idle.why_pass(time.time())  # looked at every tick: it also remembers what it saw
        except Exception:  # noqa: BLE001 - cannot look: the pass finds out and reports why
            return True
        return files_changed or self.failures > 0 or why is not None

    def _pass(self) -> None:
        try:
            report = self.ao.reconcile()  # errors are caught, logged and backed off by _cycle
        except BaseException:
            self.idle.failed()
            raise
        self.idle.passed(report, time.time())
        self._log_report(report)
        self.server.refresh()

    def _log_delivered(self, delivered: list[tuple[str, str]]) -> None:
        for target, outcome in delivered:
            self.log({"event": "message", "object": f"message/{target}", "result": outcome})

    def _courier_error(self, message: str) -> None:
        try:
            self.log({"event": "error", "message": f"delivering queued messages failed: {message}"})
        except Exception:  # noqa: BLE001 - a log line that cannot be written is lost, not fatal
            pass

    def _prune(self) -> None:
        pruned = retention.prune_when_due(self.ao)
        if pruned is not None:
            self.log({"event": "pruned", "message": pruned.summary()})

    def _log_report(self, report: PassReport) -> None:
        for outcome in report.outcomes:
            action = outcome.action
            if action.verb in NO_OP:  # waiting, or left alone (said once by an event): nothing new
                continue
            self.log({"event": "action", "object": f"session/{action.session_id}", "result": outcome.summary,
                      "reason": (outcome.detail or action.reason).splitlines()[0], "ok": outcome.ok})
        self._log_delivered(report.delivered)

    # ------------------------------------------------------------ manifests (GitOps)

    def _watch(self) -> Any:
        if not self.settings.watch:
            return None
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        controller = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reads do not change anything
                controller._file_event.set()
                controller.wake.set()

        observer = Observer()
        for folder in self.settings.watch:
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.start()
        return observer

    def _sources(self) -> dict[str, dict[str, Any]]:
        return {path: vars(row) for path, row in self.ao.sources().items()}

    def _watched(self, path: str) -> bool:
        return any(Path(path).is_relative_to(folder) for folder in self.settings.watch)

    def _sync_manifests(self) -> None:
        """Apply every watched file whose content changed; delete the projects of removed files."""
        if not self.settings.watch:
            return
        files, _ = expand_paths(str(folder) for folder in self.settings.watch if folder.is_dir())
        current: dict[str, str] = {}
        for name in files:
            try:
                current[str(Path(name).resolve())] = _digest(name)
            except OSError:
                continue  # vanished between listing and reading; the next event catches it
        known = {path: row for path, row in self._sources().items() if self._watched(path)}
        for path, digest in sorted(current.items()):
            if known.get(path, {}).get("digest") != digest:
                before = known.get(path, {}).get("projects", [])
                self._guard(f"applying {path}", lambda p=path, d=digest, b=before: self._apply_file(p, d, b))
        for path, row in sorted(known.items()):
            if path not in current:
                self._guard(f"removing {path}", lambda p=path, r=row: self._delete_file(p, r["projects"]))

    def _owned_by(self, path: str, names: list[str]) -> list[str]:
        """The projects among `names` whose desired state still comes from `path`."""
        return [n for n in names if (p := self.ao.project(n)) and not p.deleted and p.source == path]

    def _record_source(self, path: str, digest: str, projects: list[str], error: str | None) -> None:
        self.ao.record_source(Source(path, digest, projects, error, time.time()))

    def _apply_file(self, path: str, digest: str, before: list[str]) -> None:
        try:
            loaded = load_paths([path])
            report = self.ao.apply(loaded)
        except ManifestError as exc:
            # The last good desired state of this file stays in force.
            self.log({"event": "invalid", "object": path, "result": "invalid",
                      "message": "\n".join(str(i) for i in exc.issues) + "\nthe last good state of this file stays in force"})
            self._record_source(path, digest, before, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one file never stops the controller
            # Marked broken; its projects keep their last good state. No digest is recorded, so
            # the file is tried again on the next cycle (after the back-off).
            problem = str(exc) if isinstance(exc, AoError) else f"{exc.__class__.__name__}: {exc}"
            self._error(f"{path}: {problem}; the last good state of this file stays in force", object=path)
            self._guard("recording the broken file", lambda: self._record_source(path, "", before, problem))
            return
        names = [p.name for p in loaded]
        for change in report.projects:
            self.log({"event": "applied", "object": f"project/{change.name}", "result": change.status,
                      "reason": f"from {path}"})
        self._log_report(report.reconcile)
        gone = self._owned_by(path, [n for n in before if n not in names])
        if gone:
            self._delete(gone, f"no longer declared in {path}")
        self._record_source(path, digest, names, None)

    def _delete_file(self, path: str, projects: list[str]) -> None:
        gone = self._owned_by(path, projects)
        if gone:
            self._delete(gone, f"{path} was deleted")
        self.ao.forget_source(path)

    def _delete(self, names: list[str], why: str) -> None:
        try:
            report = self.ao.delete_projects(names)
        except AoError as exc:
            self.log({"event": "error", "message": f"cannot delete {', '.join(names)}: {exc}"})
            return
        for name in names:
            self.log({"event": "deleted", "object": f"project/{name}", "result": "deleted", "reason": why})
        self._log_report(report.reconcile)


def format_line(entry: dict[str, Any], fmt: str) -> str:
    """One log line: `TIME object result: reason`, or `TIME event: message`; JSON with --log-format json."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **entry}
    if fmt == "json":
        return json.dumps(entry)
    head = " ".join(str(entry[k]) for k in ("object", "result") if entry.get(k)) or entry["event"]
    detail = str(entry.get("reason") or entry.get("message") or "")
    text = f"{entry['time']} {head}"
    return f"{text}: {detail.replace(chr(10), chr(10) + '    ')}" if detail else text
