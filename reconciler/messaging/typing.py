"""The one place that types into an agent: look at it first, type only when the send rules allow,
then confirm, from the agent's own signal where it gives one, from its screen otherwise.

Callers hold the target's lock (`target_lock`), so two messages are never typed at once into the
same agent, and record the message before calling, so an agent's signal can prove it submitted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..activity import store
from ..activity.decide import decide
from ..activity.model import Activity, Reading
from ..activity.patterns import TABLES
from ..activity.screen import classify, input_text, table_for
from ..activity.signals import PARSERS
from ..errors import AoError
from ..locks import file_lock
from ..registry import messages
from ..sessions.presets import PRESETS
from .gate import Verdict, gate
from .text import for_terminal

PAUSE_BEFORE_ENTER = float(os.environ.get("AO_SEND_PAUSE", "0.15"))
ENTER_RETRIES = 2
SETTLE_SECONDS = 1.0  # per Enter: how long to watch for the input line to clear
PROOF_SECONDS = 3.0
DRAW_SECONDS = 2.0  # how long a pasted text may take to appear on the input line  # how long to wait for the agent's own word that it took the prompt
POLL_SECONDS = 0.05
PASTE_PLACEHOLDERS = ("[Pasted text", "[pasted text", "[Pasted Content")


class Terminal(Protocol):
    def screens(self, session_ids: Sequence[str]) -> dict[str, str]: ...
    def paste(self, session_id: str, text: str) -> None: ...
    def press_enter(self, session_id: str) -> None: ...
    def cursor_line(self, session_id: str) -> str: ...


@dataclass(frozen=True)
class Agent:
    """What typing needs to know of the target agent."""

    preset: str | None
    started_at: float | None

    @property
    def typeahead_safe(self) -> bool:
        """The agent queues what is typed during a turn, each as its own prompt (the preset says)."""
        preset = PRESETS.get(self.preset or "")
        return preset is not None and preset.typeahead_safe

    @property
    def signals(self) -> bool:
        """The agent reports each prompt it takes (hooks): proof that a message was submitted."""
        return self.preset in PARSERS


@dataclass(frozen=True)
class Typed:
    """What became of one message typed into an agent."""

    outcome: str  # submitted | delivered | unconfirmed | held | refused
    detail: str
    enter_presses: int
    reading: Reading


class _Taken(AoError):
    """Someone else is typing into the agent."""


@contextlib.contextmanager
def target_lock(path: Path, timeout: float) -> Iterator[bool]:
    """Hold the target's delivery lock; yields False when it could not be had within `timeout`."""
    try:
        with file_lock(path, holder=str(os.getpid()), timeout=timeout, busy=lambda holder: _Taken(str(holder))):
            yield True
    except _Taken:
        yield False


def look(terminal: Terminal, conn: sqlite3.Connection, target: str, agent: Agent, now: float) -> tuple[Reading, str | None]:
    """The agent's activity right now (screen and last signal), recorded; and its screen."""
    screen = terminal.screens([target]).get(target)
    row = store.load(conn, target)
    reading = decide(
        alive=screen is not None, screen=classify(agent.preset, screen) if screen is not None else None,
        signal=row.signal if row else None, signal_at=row.signal_at if row else None,
        previous=row.current if row else None, started_at=agent.started_at, now=now,
        known_screens=agent.preset in TABLES, expects_signal=agent.signals,
    )
    with store.immediate(conn):
        store.record(conn, target, reading, now)
    return reading, screen


def _squeeze(text: str) -> str:
    return " ".join(text.split())  # terminals show tabs as spaces and may pad: compare words


def _tail(text: str) -> str:
    """A short, distinctive end of the message, as it appears on an input line."""
    last = text.rstrip().splitlines()[-1] if text.strip() else ""
    return _squeeze(last)[-12:]


def _pending(line: str | None, tail: str) -> bool:
    if line is None:
        return False
    return bool(tail and tail in _squeeze(line)) or any(p in line for p in PASTE_PLACEHOLDERS)


def _submitted(conn: sqlite3.Connection, message_id: int) -> bool:
    return messages.state_of(conn, message_id) == messages.MessageState.SUBMITTED


def _input_line(terminal: Terminal, target: str, agent: Agent, screen: str) -> str | None:
    line = input_text(agent.preset, screen)
    return terminal.cursor_line(target) if line is None and agent.preset not in TABLES else line


def type_message(terminal: Terminal, conn: sqlite3.Connection, target: str, message_id: int, text: str,
                 agent: Agent, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> Typed:
    reading, screen = look(terminal, conn, target, agent, clock())
    if screen is None:
        return Typed("held", "the session is gone", 0, reading)
    draft = input_text(agent.preset, screen) or ""
    verdict = gate(reading, typeahead_safe=agent.typeahead_safe, draft=draft)
    if verdict.verdict == Verdict.REFUSE:
        return Typed("refused", verdict.why, 0, reading)
    if verdict.verdict == Verdict.HOLD:
        return Typed("held", verdict.why, 0, reading)
    text = for_terminal(text)  # whatever its origin (a body, a sender, a notice quoting an issue)
    terminal.paste(target, text)
    tail, presses = _tail(text), 0
    _await_drawn(terminal, target, agent, tail, clock, sleep)
    for _ in range(1 + ENTER_RETRIES):
        terminal.press_enter(target)
        presses += 1
        deadline = clock() + SETTLE_SECONDS
        while True:
            if _submitted(conn, message_id):
                return Typed("submitted", "", presses, reading)
            screen = terminal.screens([target]).get(target)
            if screen is None:
                return Typed("unconfirmed", "the session went away after the message was typed", presses, reading)
            if not _pending(_input_line(terminal, target, agent, screen), tail) or _reacted(agent, reading, screen):
                return _await_proof(conn, message_id, agent, presses, reading, clock, sleep)
            if clock() > deadline:
                break
            sleep(POLL_SECONDS)
        now_showing = classify(agent.preset, screen)
        if now_showing is not None and now_showing.activity in (Activity.WORKING, Activity.WAITING):
            break  # never press Enter into a busy agent or a dialog
    return Typed("unconfirmed", f"the text was still on the input line after {presses} Enter presses", presses,
                 reading)


def _reacted(agent: Agent, before: Reading, screen: str) -> bool:
    """An agent that was free and is now busy, or asking, took the message (even if its text is still
    echoed on a line that looks like the input line)."""
    if before.activity in (Activity.WORKING, Activity.WAITING) or agent.preset not in TABLES:
        return False
    now = classify(agent.preset, screen)
    return now is not None and now.activity in (Activity.WORKING, Activity.WAITING)


def _await_drawn(terminal: Terminal, target: str, agent: Agent, tail: str, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
    """Wait until the pasted text is drawn on the input line: a TUI that is still busy with the paste
    drops an Enter sent too early. Agents ao knows no screens of get a fixed pause instead."""
    if table_for(agent.preset).input_line is None:
        sleep(PAUSE_BEFORE_ENTER)
        return
    deadline = clock() + DRAW_SECONDS
    while clock() < deadline:
        screen = terminal.screens([target]).get(target)
        if screen is None or _pending(input_text(agent.preset, screen), tail):
            return
        sleep(POLL_SECONDS)


def _await_proof(conn: sqlite3.Connection, message_id: int, agent: Agent, presses: int, reading: Reading,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> Typed:
    """The input line cleared. An agent that reports its prompts says so within moments when it was
    idle; a busy one takes the message when its turn ends, and its hook records it then."""
    if agent.signals and reading.activity != Activity.WORKING:
        deadline = clock() + PROOF_SECONDS
        while clock() < deadline:
            if _submitted(conn, message_id):
                return Typed("submitted", "", presses, reading)
            sleep(POLL_SECONDS)
    return Typed("delivered", "", presses, reading)
