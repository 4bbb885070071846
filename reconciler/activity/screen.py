"""Read an agent's activity off its screen, with the preset's table and the generic dialog rules."""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from .model import Activity, Reading
from .patterns import GENERIC_DIALOGS, TABLES, Dialog, ScreenTable

# Box-drawing borders around TUI panels; stripped so that patterns see the text inside.
_BORDER_EDGE = re.compile(r"^[ \t]*[│┃║|][ \t]?|[ \t]*[│┃║|][ \t]*$")
_RULE = re.compile(r"^[ \t]*[─━═╭╮╰╯┌┐└┘\-]{3,}[ \t]*$")
MAX_REASON_CHARS = 120
EMPTY_TABLE = ScreenTable()


def table_for(preset: str | None) -> ScreenTable:
    return TABLES.get(preset or "", EMPTY_TABLE)


def bottom(screen: str, lines: int) -> str:
    """The last `lines` non-blank lines of a screen, borders and rules stripped."""
    kept: list[str] = []
    for raw in screen.splitlines():
        line = _BORDER_EDGE.sub("", raw.rstrip())
        if line.strip() and not _RULE.match(line):
            kept.append(line)
    return "\n".join(kept[-lines:])


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _reason(dialog: Dialog, match: re.Match[str], text: str) -> str:
    groups: dict[str, str] = defaultdict(lambda: "?")
    groups.update({k: v for k, v in match.groupdict().items() if v})
    for detail in dialog.details:
        found = _compiled(detail).search(text)
        if found:
            groups.update({k: v.strip() for k, v in found.groupdict().items() if v})
            break
    return _shorten(dialog.reason.format_map(groups))


def find_dialog(table: ScreenTable, text: str) -> str | None:
    """The reason of the first dialog on screen, preset-specific ones before the generic ones."""
    for dialog in (*table.dialogs, *GENERIC_DIALOGS):
        match = _compiled(dialog.pattern).search(text)
        if match:
            return _reason(dialog, match, text)
    return None


def classify(preset: str | None, screen: str) -> Reading | None:
    """What the screen shows, or None when nothing on it is recognisable."""
    table = table_for(preset)
    text = bottom(screen, table.bottom_lines)
    reason = find_dialog(table, text)
    if reason is not None:
        return Reading(Activity.WAITING, reason)
    if any(_compiled(p).search(text) for p in table.working):
        return Reading(Activity.WORKING)
    if any(_compiled(p).search(text) for p in table.ready):
        return Reading(Activity.IDLE)
    return None


def input_text(preset: str | None, screen: str) -> str | None:
    """What is typed on the agent's input line, read off the screen: the last line matching the
    preset's input pattern (the input box is drawn below the transcript). None when the preset has
    no input pattern or no such line is on screen."""
    table = table_for(preset)
    if table.input_line is None:
        return None
    pattern = _compiled(table.input_line)
    for line in reversed(bottom(screen, table.bottom_lines).splitlines()):
        match = pattern.match(line)
        if match:
            text = (match.group("text") or "").strip()
            return "" if any(_compiled(p).search(text) for p in table.placeholders) else text
    return None
