"""`ao get`, `ao describe`, `ao events`: read desired and observed state (printed by `reads.py`)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import reads
from .common import examples
from .output import EventFormat, Format, ShortFormat

get_app = typer.Typer(help="List projects or sessions.", no_args_is_help=True)

ProjectFilter = Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")]
FormatOption = Annotated[Format, typer.Option("--output", "-o", help="table, wide, json or yaml.")]


@get_app.command("sessions", epilog=examples(
    "ao get sessions", "ao get sessions -p shop -o wide", "ao get sessions -w",
    "ao get sessions -o json | jq '.[].phase'"))
def get_sessions(
    ctx: typer.Context,
    project: ProjectFilter = None,
    output: FormatOption = Format.table,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include terminated sessions.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep printing changes (Ctrl-C ends).")] = False,
) -> None:
    """List sessions: phase from the registry, AGENT from the live runtime."""
    reads.sessions(ctx.obj, project, output, all_, watch)


@get_app.command("projects", epilog=examples("ao get projects", "ao get projects -o yaml"))
def get_projects(ctx: typer.Context, output: FormatOption = Format.table) -> None:
    """List projects with their generation and session counts."""
    reads.projects(ctx.obj, output)


@get_app.command("messages", epilog=examples("ao get messages", "ao get messages -s shop-orchestrator",
                                              "ao get messages -p shop -o json"))
def get_messages(
    ctx: typer.Context,
    project: ProjectFilter = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Messages to or from this session.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many recent messages.")] = 50,
    output: FormatOption = Format.table,
) -> None:
    """List messages sent with `ao send` (and by ao itself), with their outcome."""
    reads.messages(ctx.obj, project, session, limit, output)


# kubectl-style singular forms
get_app.command("session", hidden=True)(get_sessions)
get_app.command("project", hidden=True)(get_projects)
get_app.command("message", hidden=True)(get_messages)


def describe(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="`project` or `session`.")],
    name: Annotated[str, typer.Argument(help="Project name or session ID.")],
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Show everything about one project or session, with its recent events."""
    if kind not in reads.KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; expected project or session", param_hint="KIND")
    reads.describe(ctx.obj, kind, name, output)


def events(
    ctx: typer.Context,
    project: ProjectFilter = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Only this session.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many recent events.")] = 50,
    output: Annotated[EventFormat, typer.Option(
        "--output", "-o", help="text, wide (whole multi-line messages) or json.")] = EventFormat.text,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C ends).")] = False,
) -> None:
    """Show recent events: what ao did and why (creations, restarts, reaps, failures)."""
    reads.events(ctx.obj, project, session, limit, output, follow)


def register(app: typer.Typer) -> None:
    app.add_typer(get_app, name="get")
    app.command(epilog=examples("ao describe session shop-1", "ao describe project shop -o json"))(describe)
    app.command(epilog=examples("ao events", "ao events -p shop -n 20", "ao events -f",
                                                        "ao events -s shop-2 -o json"))(events)
