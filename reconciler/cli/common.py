"""Helpers shared by command modules."""

from __future__ import annotations

import typer

from ..paths import DataDir
from ..reconcile.service import Service


def service(ctx: typer.Context) -> Service:
    data_dir: DataDir = ctx.obj
    return Service(data_dir)


def examples(*commands: str) -> str:
    """An epilog listing example commands; `\\b` keeps click from rewrapping them."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {c}" for c in commands) + "\n"
