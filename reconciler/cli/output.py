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


class Format(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


class ShortFormat(StrEnum):
    text = "text"
    json = "json"


class EventFormat(StrEnum):
    text = "text"
    wide = "wide"
    json = "json"


def first_line(message: str) -> str:
    """One table cell for a multi-line message: its first line, and when that only introduces what
    follows (`...; last output:`), the first line that follows too; the rest is for `-o wide`."""
    lines = [line for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    if rest and head.rstrip().endswith(":"):
        head, rest = f"{head} {rest[0].strip()}", rest[1:]
    return f"{head} (+{len(rest)} more line{'s' if len(rest) != 1 else ''}; -o wide)" if rest else head


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
    cells = [[("-" if v is None or v == "" else str(v)) for v in row] for row in rows]
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


def warn(message: str) -> None:
    typer.echo(message, err=True)
