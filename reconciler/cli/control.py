"""`ao controller`, `ao wait`, `ao suspend|resume`, `ao stop|start`: the always-on loop and holds."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import EXIT_FAILURE, UsageError
from ..polling import poll
from ..reconcile.status import project_status, session_ready
from ..registry.records import Phase, SessionRecord
from .common import (
    MaxRunningOption,
    MemoryReserveOption,
    SessionArg,
    examples,
    service,
    set_limits,
)
from .output import ShortFormat

if TYPE_CHECKING:
    from ..reconcile.service import Service

# reconcile.controller.DEFAULT_RESYNC_SECONDS (a test keeps them equal): importing the controller here
# would load the manifest loader for every command.
DEFAULT_RESYNC_SECONDS = 2.0


def controller(
    ctx: typer.Context,
    watch: Annotated[list[Path], typer.Option("--watch", "-w", help="Manifest folder to watch (repeatable).")] = [],  # noqa: B006
    resync: Annotated[float, typer.Option("--resync", min=0.2, help="Seconds between passes when nothing changes.")] = DEFAULT_RESYNC_SECONDS,
    max_launch_rate: Annotated[float, typer.Option("--max-launch-rate", min=0.1, help="Agent launches per second, at most.")] = 10.0,
    log_format: Annotated[ShortFormat, typer.Option("--log-format", help="text or json (one object per line).")] = ShortFormat.text,
    max_running: MaxRunningOption = None,
    memory_reserve: MemoryReserveOption = None,
) -> None:
    """Keep every project as declared, continuously (foreground; Ctrl-C stops it, not the sessions).

    With --watch, manifests in those folders are applied when they change (a broken file is
    reported and its last good state stays in force) and a deleted file deletes the projects it
    declared. Between events a pass runs every --resync seconds, so dead agents are relaunched
    without any file event. Only one controller runs per data dir.
    """
    folders = [folder.resolve() for folder in watch]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise UsageError(f"not a folder: {', '.join(missing)}", hint="--watch takes folders of manifests")
    from ..reconcile.controller import Controller, Settings, format_line
    from ..reconcile.ratelimit import LaunchLimiter
    from ..reconcile.service import Service

    set_limits(ctx, max_running, memory_reserve)
    ao = Service(ctx.obj, limiter=LaunchLimiter(max_launch_rate))
    loop = Controller(ao, Settings(watch=folders, resync=resync),
                      log=lambda entry: typer.echo(format_line(entry, log_format.value)))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: loop.request_stop())
    loop.run()


# Failures that no pass can clear: someone has to fix the repository, the manifest or the machine.
PERMANENT_REASONS = frozenset({"RepoMissing", "NotAGitRepo", "RepoEmpty", "BaseBranchMissing", "AgentNotFound"})


class Permanent(str):
    """A blocker that cannot clear by itself: waiting longer is pointless."""


def permanent_blocker(session: SessionRecord) -> Permanent | None:
    if session.phase == "Failed" and session.reason in PERMANENT_REASONS:
        return Permanent(f"session {session.id} failed ({session.reason}): {session.message}; "
                         "this does not clear by itself")
    return None


def _wait_until(check, timeout: float, interval: float = 0.25) -> str | None:  # type: ignore[no-untyped-def]
    """Poll `check` (which returns None when done, else what blocks) until done, a permanent blocker or timeout."""
    seen: list[str | None] = []

    def settled() -> bool | None:
        seen.append(check())
        return True if seen[-1] is None or isinstance(seen[-1], Permanent) else None

    poll(settled, timeout=timeout, interval=interval)
    return seen[-1]


def wait_failure(blocker: str, timeout: float) -> str:
    return f"error: {blocker}" if isinstance(blocker, Permanent) else f"error: timed out after {timeout:g}s: {blocker}"


def project_blocker(ao: Service, names: list[str]) -> str | None:
    """None when every named project is Synced and Healthy; else the first thing in the way."""
    observed = ao.observe()
    for name in names:
        record = ao.project(name)
        if record is None or record.deleted:
            return f"project {name}: deleted"
        sessions = ao.sessions(name)
        status = project_status(record, sessions, observed)
        if not status.ready:
            for session in sessions:
                if permanent := permanent_blocker(session):
                    return Permanent(f"project {name}: {permanent}")
            first = status.blockers[0] if status.blockers else f"{status.sync}, {status.health}"
            return f"project {name} is {status.sync} and {status.health}: {first}"
    return None


def wait(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="`project` or `session`.")],
    name: Annotated[str, typer.Argument(help="Project name or session ID.")],
    for_: Annotated[str, typer.Option("--for", help="ready or deleted.")] = "ready",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before giving up (exit 1).")] = 60.0,
) -> None:
    """Wait until a project or session is ready (or deleted); exit 1 naming what blocked on timeout."""
    ao = service(ctx)
    if for_ not in ("ready", "deleted") or kind not in ("project", "session"):
        raise UsageError("usage: ao wait project|session NAME --for ready|deleted")

    def check() -> str | None:
        if kind == "project":
            record = ao.project(name)
            if for_ == "deleted":
                active = ao.sessions(name) if record is not None else []
                return None if record is None or (record.deleted and not active) else f"project {name} still exists"
            return project_blocker(ao, [name])
        session = ao.session(name)
        if for_ == "deleted":
            return None if session is None or session.phase == Phase.TERMINATED else f"session {name} is {session.phase}"
        if session is None:
            return f"no session {name}"
        if permanent := permanent_blocker(session):
            return permanent
        live = ao.observe().get(name)
        return None if session_ready(session, live) else f"session {name} is {session.phase} ({session.reason}): {session.message}"

    blocker = _wait_until(check, timeout)
    if blocker is not None:
        typer.echo(wait_failure(blocker, timeout), err=True)
        raise typer.Exit(EXIT_FAILURE)
    typer.echo(f"{kind}/{name} {'ready' if for_ == 'ready' else 'deleted'}")


def suspend(ctx: typer.Context,
            kind: Annotated[str, typer.Argument(help="`project` or `session`.")],
            name: Annotated[str, typer.Argument(help="Project name or session ID.")]) -> None:
    """Stop reconciling a project or session; its sessions keep running as they are."""
    typer.echo(service(ctx).set_suspended(_kind(kind), name, True))


def resume(ctx: typer.Context,
           kind: Annotated[str, typer.Argument(help="`project` or `session`.")],
           name: Annotated[str, typer.Argument(help="Project name or session ID.")]) -> None:
    """Reconcile a suspended project or session again (and run a pass now)."""
    typer.echo(service(ctx).set_suspended(_kind(kind), name, False))


def stop(ctx: typer.Context,
         kind: Annotated[str, typer.Argument(help="`session`.")],
         session_id: SessionArg) -> None:
    """Stop a session's agent on purpose: unlike a crash it is not restarted until `ao start`."""
    if _kind(kind) != "session":
        raise UsageError("only sessions can be stopped; use `ao suspend project NAME` for a project")
    typer.echo(service(ctx).stop_session(session_id))


def start(ctx: typer.Context,
          kind: Annotated[str, typer.Argument(help="`session`.")],
          session_id: SessionArg) -> None:
    """Start a session stopped with `ao stop` (in its worktree, resuming its agent where it can)."""
    if _kind(kind) != "session":
        raise UsageError("only sessions can be started")
    typer.echo(service(ctx).start_session(session_id))


def relaunch(ctx: typer.Context,
             kind: Annotated[str, typer.Argument(help="`session`.")],
             session_id: SessionArg) -> None:
    """Relaunch a session's agent now, in place: same ID, worktree and branch; resumes where it can."""
    if _kind(kind) != "session":
        raise UsageError("only sessions can be relaunched")
    typer.echo(service(ctx).relaunch_session(session_id))


def _kind(kind: str) -> str:
    singular = kind.rstrip("s")
    if singular not in ("project", "session"):
        raise UsageError(f"unknown kind {kind!r}; expected project or session")
    return singular


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ao controller --watch manifests/", "ao controller --watch manifests/ --log-format json",
                                "ao controller --resync 5 --max-launch-rate 2", "ao controller --watch manifests/ --max-running 4"))(controller)
    app.command(epilog=examples("ao wait project shop --for ready --timeout 120",
                                "ao wait session shop-3 --for deleted"))(wait)
    app.command(epilog=examples("ao suspend project shop", "ao suspend session shop-2"))(suspend)
    app.command(epilog=examples("ao resume project shop", "ao resume session shop-2"))(resume)
    app.command(epilog=examples("ao stop session shop-2"))(stop)
    app.command(epilog=examples("ao start session shop-2"))(start)
    app.command(epilog=examples("ao relaunch session shop-2"))(relaunch)

