"""Entry point of `ao`: global options, command groups, and one place that turns errors into exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import AoError
from .common import examples

app = typer.Typer(
    name="ao",
    help=(
        "Declarative fleet manager for AI coding agents in tmux sessions.\n\n"
        "Declare projects, their orchestrator and workers in YAML manifests; `ao apply` records "
        "that desired state and converges the live sessions to it."
    ),
    epilog=examples("ao apply -f examples/demo.yaml", "ao get sessions", "ao logs demo-1 --lines 20",
                    "ao reconcile"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_data_dir = None  # resolved by the global callback; named in registry errors


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ao {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="AO_DATA_DIR", help="Where ao keeps its state (default ~/.ao)."),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    from ..paths import DataDir

    ctx.obj = DataDir.resolve(data_dir)
    global _data_dir
    _data_dir = ctx.obj


def _register() -> None:
    from . import apply, control, get, serve, sessions, system, team

    apply.register(app)
    get.register(app)
    sessions.register(app)
    system.register(app)
    team.register(app)
    control.register(app)
    serve.register(app)


_register()


# Metavars by parameter name, for help that reads `-f PATH` rather than the type (`<list[str]>`).
METAVARS = {"filename": "PATH", "watch": "DIR", "data_dir": "DIR", "timeout": "SECONDS", "resync": "SECONDS",
            "lines": "N", "limit": "N", "port": "PORT", "host": "HOST", "max_launch_rate": "N"}


def _choices(param: Any) -> list[str]:
    """The allowed values of an enum option, across typer versions (click's Choice or typer's own)."""
    kind = getattr(param, "type", None)
    if kind is not None:
        return [str(c) for c in getattr(kind, "choices", ())]
    described = getattr(param, "type_descriptor", None)
    if described is not None and described.is_choice:
        return [str(getattr(c, "value", c)) for c in described.choices or ()]
    return []


def _name_metavars(command: Any) -> None:
    """Plain metavars everywhere: `KIND NAME` for arguments, `-p PROJECT` or `[text|json]` for options."""
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        choices = _choices(param)
        if choices:
            param.metavar = "[" + "|".join(choices) + "]"
        else:
            longest = max(getattr(param, "opts", None) or [param.name or "value"], key=len)
            param.metavar = METAVARS.get(param.name or "", longest.lstrip("-").replace("-", "_").upper())
        if getattr(param, "param_type_name", "") == "argument":
            # The usage line too: `ao wait KIND NAME`, not `{kind} {name}`.
            shown = param.metavar if param.required else f"[{param.metavar}]"
            param.get_usage_pieces = lambda ctx, shown=shown: [shown]
    for sub in getattr(command, "commands", {}).values():
        _name_metavars(sub)


def _run(command: Any) -> None:
    import sqlite3

    try:
        command()
    except sqlite3.DatabaseError as exc:  # damage found after the registry was opened
        from ..errors import RegistryUnreadable

        raise RegistryUnreadable(_data_dir.db_path if _data_dir else "ao.db", exc) from exc


def main() -> None:
    command = typer.main.get_command(app)
    _name_metavars(command)
    try:
        _run(command)
    except AoError as exc:
        # Multi-line errors (manifest problems) list one problem per line, then a summary.
        *details, summary = str(exc).splitlines() or [""]
        for line in details:
            typer.echo(line, err=True)
        typer.echo(f"error: {summary}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
