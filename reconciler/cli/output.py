"""Printing: plain aligned tables for people, JSON and YAML for scripts. Data goes to stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from ..messaging.text import for_display
from ..views import age, iso  # noqa: F401 - re-exported for the command modules


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
        from .yaml_text import dump

        sys.stdout.write(dump(data))
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def echo(message: str, err: bool = False) -> None:
    """One line to stdout (or stderr), flushed, as `typer.echo` writes it (this module stays typer-free)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def line(text: str) -> None:
    """Print one line of stored text to the operator's terminal, controls escaped."""
    print(for_display(text))


def demo_manifest_hint() -> str:
    """`ao apply -f <the demo manifest>` with a path that works from the current directory."""
    import os
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"
    if not demo.is_file():  # installed without its checkout
        return "ao apply -f examples/demo.yaml (from ao's source checkout)"
    relative = os.path.relpath(demo)
    return f"ao apply -f {relative if not relative.startswith('..') else demo}"
