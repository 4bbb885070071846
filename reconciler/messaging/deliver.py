"""Delivery into a terminal: one bracketed paste, a short pause, Enter, then a check.

The check looks at the line the cursor is on: if the end of the message is still there (or an
agent's "[Pasted text ...]" placeholder), it was not submitted and Enter is pressed again, a
bounded number of times.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

from .text import for_terminal

PAUSE_BEFORE_ENTER = float(os.environ.get("AO_SEND_PAUSE", "0.15"))
ENTER_RETRIES = 3
SETTLE_SECONDS = 0.6  # how long to watch for the input line to clear after each Enter
PASTE_PLACEHOLDERS = ("[Pasted text", "[pasted text")


class Terminal(Protocol):
    def paste(self, session_id: str, text: str) -> None: ...
    def press_enter(self, session_id: str) -> None: ...
    def cursor_line(self, session_id: str) -> str:
        """The logical line under the cursor, with its wrapped rows joined."""
        ...


@dataclass(frozen=True)
class Delivery:
    outcome: str  # delivered | unconfirmed
    enter_presses: int


def _squeeze(text: str) -> str:
    # Terminals show tabs as spaces and may pad; compare words, not whitespace.
    return " ".join(text.split())


def _tail(text: str) -> str:
    """A short, distinctive end of the message, as it appears on an input line."""
    last = text.rstrip().splitlines()[-1] if text.strip() else ""
    return _squeeze(last)[-12:]


def _still_pending(line: str, tail: str) -> bool:
    return bool(tail and tail in _squeeze(line)) or any(p in line for p in PASTE_PLACEHOLDERS)


def deliver(terminal: Terminal, session_id: str, text: str, *, clock=time.monotonic, sleep=time.sleep) -> Delivery:
    # Whatever its origin (a body, a sender, a notice quoting an issue), typed text passes here.
    text = for_terminal(text)
    terminal.paste(session_id, text)
    sleep(PAUSE_BEFORE_ENTER)
    tail = _tail(text)
    presses = 0
    for _ in range(1 + ENTER_RETRIES):
        terminal.press_enter(session_id)
        presses += 1
        deadline = clock() + SETTLE_SECONDS
        while True:
            if not _still_pending(terminal.cursor_line(session_id), tail):
                return Delivery("delivered", presses)
            if clock() > deadline:
                break
            sleep(0.05)
    return Delivery("unconfirmed", presses)
