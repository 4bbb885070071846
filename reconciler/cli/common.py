"""Helpers shared by command modules."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from ..sessions.naming import SESSION_ID_PATTERN

if TYPE_CHECKING:
    from ..paths import DataDir
    from ..reconcile.service import Service


def service(ctx: typer.Context) -> Service:
    from ..reconcile.service import Service

    data_dir: DataDir = ctx.obj
    return Service(data_dir)


def check_session_id(value: str) -> str:
    if not re.fullmatch(SESSION_ID_PATTERN, value):
        raise typer.BadParameter(f"{value!r} is not a session ID (like shop-1 or shop-orchestrator)")
    return value


SessionArg = Annotated[str, typer.Argument(help="Session ID, e.g. shop-1 or shop-orchestrator.",
                                           callback=check_session_id)]


MaxRunningOption = Annotated[str | None, typer.Option(
    "--max-running", envvar="AO_MAX_RUNNING", metavar="N|none",
    help="Workers of all projects that may run at once (orchestrators are not counted); kept as the data "
         "dir's setting for every later pass until changed; `none` removes the limit.")]
MemoryReserveOption = Annotated[str | None, typer.Option(
    "--memory-reserve", envvar="AO_MEMORY_RESERVE", metavar="SIZE",
    help="Memory kept free: no new agent starts when it would leave less available (10% of total memory "
         "by default; e.g. 15%, 2G, or 0 to turn the check off); kept as the data dir's setting.")]


def set_limits(ctx: typer.Context, max_running: str | None, memory_reserve: str | None) -> None:
    """Record the data dir's capacity settings given on the command line (see reconcile/limits.py)."""
    if max_running is not None or memory_reserve is not None:
        from ..reconcile import limits

        limits.update(ctx.obj, max_running=max_running, memory_reserve=memory_reserve)


def examples(*commands: str) -> str:
    """An epilog listing example commands; `\\b` keeps click from rewrapping them."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {c}" for c in commands) + "\n"
