"""`ao hook AGENT`: the command an agent's hooks run, kept light (sqlite3 only).

The agent hands the event as JSON on stdin; the session comes from AO_SESSION_ID and the data
dir from AO_DATA_DIR, both set in every session's environment. A hook must never disturb the
agent: whatever happens, this exits 0 and prints nothing (Claude Code reads a hook's output and
exit code as decisions). Failures are appended to `<data dir>/hooks.log`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import traceback
from pathlib import Path

from ..registry import messages
from . import store
from .signals import parse

BUSY_TIMEOUT_SECONDS = 5.0


def handle(agent: str, payload: dict, *, session: str, db_path: Path, now: float) -> None:
    signal = parse(agent, payload)
    conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_SECONDS)
    try:
        with store.immediate(conn):
            if conn.execute("select 1 from sessions where id = ?", [session]).fetchone() is None:
                return  # not one of this registry's sessions
            store.record_signal(conn, session, signal.reading, signal.conversation, now)
            if signal.prompt:
                messages.mark_submitted(conn, session, signal.prompt, now)
    finally:
        conn.close()


def main(argv: list[str], data_dir_option: str | None = None) -> int:
    data_dir = data_dir_option or os.environ.get("AO_DATA_DIR")
    session = os.environ.get("AO_SESSION_ID")
    if not argv or not data_dir or not session:
        return 0  # not inside an ao session: nothing to record
    db_path = Path(data_dir) / "ao.db"
    try:
        raw = sys.stdin.buffer.read(1_000_000)
        payload = json.loads(raw.decode("utf-8", errors="replace") or "{}")
        if isinstance(payload, dict) and db_path.exists():
            handle(argv[0], payload, session=session, db_path=db_path, now=time.time())
    except Exception:  # noqa: BLE001 - a hook never fails the agent; the log says why
        try:
            with open(Path(data_dir) / "hooks.log", "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {session} {argv[0]}\n{traceback.format_exc()}\n")
        except OSError:
            pass
    return 0
