"""Printing: plain aligned tables for people, JSON and YAML for scripts. Data goes to stdout."""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import typer

from ..messaging.text import for_display


class Format(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


class ShortFormat(StrEnum):
    text = "text"
    json = "json"


OutputOption = typer.Option("table", "--output", "-o", help="table, wide, json or yaml.")


def age(since: float | None, now: float | None = None) -> str:
    if not since:
        return "-"
    seconds = int((now or time.time()) - since)
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # Cells hold stored text (issues, reasons, message bodies): escape it, never let it drive the terminal.
    cells = [[("-" if v is None or v == "" else for_display(str(v))) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    sys.stdout.write("\n".join(lines) + "\n")


def emit(data: Any, fmt: str) -> None:
    if fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def line(text: str) -> None:
    """Print one line of stored text to the operator's terminal, controls escaped."""
    typer.echo(for_display(text))


def warn(message: str) -> None:
    typer.echo(message, err=True)
