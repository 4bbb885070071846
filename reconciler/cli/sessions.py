"""`ao logs`, `ao attach`: look at and into one live session."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import AoError, NotFound
from .common import SessionArg, examples, service

if TYPE_CHECKING:
    from ..reconcile.service import Service
    from ..registry.records import SessionRecord


class SessionGone(AoError):
    code = "SESSION_NOT_RUNNING"


def live_session(ao: Service, session_id: str) -> SessionRecord:
    """The registry record of a session that has a live runtime session (its agent may be dead)."""
    record = ao.session(session_id)
    if record is None:
        raise NotFound(f"no session {session_id!r}", hint="see `ao get sessions`")
    if session_id not in ao.observe():
        raise SessionGone(
            f"session {session_id} has no live tmux session (phase {record.phase})",
            hint="`ao reconcile` starts it again if it is still declared",
        )
    return record


def logs(
    ctx: typer.Context,
    session_id: SessionArg,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many lines of screen and scrollback.")] = 50,
) -> None:
    """Print the last lines of a session's screen (works on a dead agent's pane too)."""
    ao = service(ctx)
    live_session(ao, session_id)
    typer.echo(ao.runtime.capture(session_id, lines))


def attach(ctx: typer.Context, session_id: SessionArg) -> None:
    """Attach this terminal to a session (detach again with Ctrl-b d)."""
    ao = service(ctx)
    live_session(ao, session_id)
    argv = ao.runtime.attach_argv(session_id)
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}  # allow nesting
    os.execvpe(argv[0], argv, env)


def send(ctx: typer.Context) -> None:
    """Send a message to a session's agent, as if typed (see `ao send --help`)."""
    # `ao send` normally never reaches typer (reconciler.cli.entry takes a light path); this
    # command lists it in `ao --help` and serves `python -m reconciler.cli.main send`.
    from ..messaging.cli import main as send_main

    raise typer.Exit(send_main(ctx.args, str(ctx.obj.root)))


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                add_help_option=False)(send)
    app.command(epilog=examples("ao logs shop-1", "ao logs shop-orchestrator -n 200"))(logs)
    app.command(epilog=examples("ao attach shop-orchestrator"))(attach)
