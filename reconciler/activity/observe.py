"""Each pass: read every live agent's activity off its screen and its signals, and record it.

Screens are captured only where something may have changed: the session printed since it was
last looked at, its activity is still settling (starting, waiting), or a signal got ahead of the
screen. An idle fleet of a thousand agents costs no capture at all.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.base import Observed, Runtime
from ..sessions.presets import DEFAULT_PRESET
from . import store
from .decide import SIGNAL_LEAD_SECONDS, decide
from .model import Activity, Reading
from .patterns import TABLES
from .screen import classify
from .signals import PARSERS

# A worker waiting this long for a person is announced to its orchestrator (once per episode).
WAITING_NOTICE_SECONDS = float(os.environ.get("AO_WAITING_NOTICE_SECONDS", "20"))
# Read again at every pass even without new output: it changes with time (ready, or given up on).
_SETTLING = frozenset({Activity.STARTING, Activity.EXITED})


@dataclass(frozen=True)
class Watched:
    """A session whose activity is observed: its id, agent preset and start time."""

    session_id: str
    preset: str | None
    started_at: float | None


def preset_of(spec: Mapping[str, Any] | None) -> str | None:
    """The preset whose screens a session shows; None for a plain `command` agent."""
    agent = (spec or {}).get("agent") or {}
    if agent.get("command"):
        return None
    return agent.get("preset") or DEFAULT_PRESET


def _needs_screen(row: store.ActivityRow | None, live: Observed, now: float) -> bool:
    if row is None or row.current.activity in _SETTLING or live.active_at is None:
        return True
    if live.active_at >= row.observed_at - 1.0:  # window_activity has whole-second resolution
        return True
    return row.current.source == "signal" and row.signal_at is not None and now - row.signal_at >= SIGNAL_LEAD_SECONDS


def observe_activity(conn: sqlite3.Connection, runtime: Runtime, watched: Iterable[Watched],
                     observed: Mapping[str, Observed], owner: str, now: float,
                     rows: Mapping[str, store.ActivityRow] | None = None) -> dict[str, Reading]:
    """Record the activity of every watched session that has a live, owned pane; returns what changed.
    `rows`: every activity row as stored now, when the caller has them."""
    rows = store.load_all(conn) if rows is None else rows
    present = [(w, observed[w.session_id]) for w in watched
               if w.session_id in observed and observed[w.session_id].owned_by(owner)]
    wanted = [w.session_id for w, live in present if live.alive and _needs_screen(rows.get(w.session_id), live, now)]
    screens = runtime.screens(wanted) if wanted else {}
    changed: dict[str, Reading] = {}
    for w, live in present:
        row = rows.get(w.session_id)
        if live.alive and w.session_id not in screens and row is not None:
            continue  # nothing new to look at
        screen = classify(w.preset, screens[w.session_id]) if w.session_id in screens else None
        reading = decide(
            alive=live.alive, screen=screen, signal=row.signal if row else None,
            signal_at=row.signal_at if row else None, previous=row.current if row else None,
            started_at=w.started_at, now=now, known_screens=w.preset in TABLES, expects_signal=w.preset in PARSERS,
        )
        if store.record(conn, w.session_id, reading, now):
            changed[w.session_id] = reading
    return changed


def waiting_notice(session_id: str, reason: str) -> str:
    what = reason if reason.startswith("permission") else f"its user: {reason or 'a dialog'}"
    return f"{session_id} is waiting for {what}"


def due_waiting_notices(conn: sqlite3.Connection, now: float,
                        grace: float = WAITING_NOTICE_SECONDS) -> list[tuple[str, str]]:
    """(session, notice text) for each session waiting longer than `grace` and not yet announced;
    each is marked announced, so an episode is announced once."""
    due = []
    for row in store.waiting_unannounced(conn, now - grace):
        store.mark_notified(conn, row.session)
        due.append((row.session, waiting_notice(row.session, row.current.reason)))
    return due
