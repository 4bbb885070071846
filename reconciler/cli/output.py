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
    print(for_display(text))
