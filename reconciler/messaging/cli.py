"""`ao send`, kept light: argparse, sqlite3 and one tmux client; no typer, pydantic or sqlite-utils.

    ao send shop-orchestrator "tests are green on ao/shop-3"
    ao send --session shop-2 --message "please rebase on main"
    ao send shop-2 --file notes.md
    git diff | ao send shop-orchestrator -
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from ..paths import DataDir
from .text import MAX_MESSAGE_CHARS, MessageRejected, compose

EXIT_SENT = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNKNOWN_SESSION = 3
EXIT_TERMINATED = 4
EXIT_NOT_RUNNING = 5

EPILOG = f"""\
Inside an ao session (AO_SESSION_ID set) the message is prefixed "[from <session-id>] ".
Control characters other than newline and tab are removed; messages are at most
{MAX_MESSAGE_CHARS} characters. A multi-line message arrives as one message (one bracketed paste,
then Enter).

exit codes:
  0  delivered (or queued with --queue, or sent but not confirmed; see the outcome)
  1  delivery failed
  2  usage: empty or over-long message, bad arguments
  3  unknown session
  4  session terminated
  5  agent not running

Examples:
  ao send shop-orchestrator "tests are green on ao/shop-3"
  ao send --session shop-2 --message "please rebase on main"
  ao send shop-2 --file notes.md
  ao send shop-3 --queue "start with the failing test"
  git diff | ao send shop-orchestrator -
"""


class SendError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ao send",
        description="Send a message to a session's agent, as if typed into its terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", nargs="?", metavar="SESSION", help="session ID (or use --session)")
    p.add_argument("text", nargs="?", metavar="MESSAGE", help="message text; `-` reads stdin")
    p.add_argument("-s", "--session", help="session ID")
    p.add_argument("-m", "--message", help="message text; `-` reads stdin")
    p.add_argument("-f", "--file", help="read the message from a file (`-`: stdin)")
    p.add_argument("-q", "--queue", action="store_true",
                   help="if the agent is not running (yet), keep the message and deliver it once it runs")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text", metavar="text|json")
    return p


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SendError(EXIT_USAGE, f"cannot read {source}: {exc}") from exc


def _arguments(args: argparse.Namespace) -> tuple[str, str]:
    target = args.session or args.target
    positional_text = args.text if args.session is None else args.target
    if args.session and args.target and args.text:
        raise SendError(EXIT_USAGE, "give the session once: either SESSION or --session")
    sources = [s for s in (positional_text, args.message, args.file) if s is not None]
    if not target:
        raise SendError(EXIT_USAGE, "no session given; usage: ao send SESSION MESSAGE")
    if len(sources) != 1:
        raise SendError(EXIT_USAGE, "give the message exactly once: MESSAGE, --message TEXT or --file FILE")
    if args.file is not None:
        return target, _read(args.file)
    return target, _read("-") if sources[0] == "-" else sources[0]


class Mailbox:
    """The registry, through plain sqlite3: look up targets, record messages."""

    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        self.conn = sqlite3.connect(str(data_dir.db_path), timeout=30) if data_dir.db_path.exists() else None

    def session(self, session_id: str) -> dict | None:
        if self.conn is None:
            return None
        self.conn.row_factory = sqlite3.Row
        try:
            row = self.conn.execute("select id, project, phase from sessions where id = ?", [session_id]).fetchone()
        except sqlite3.OperationalError:
            return None  # no schema yet
        return dict(row) if row else None

    def record(self, **message: object) -> None:
        if self.conn is None:
            return
        columns = ", ".join(message)
        sql = f"insert into messages ({columns}) values ({', '.join('?' for _ in message)})"
        try:
            with self.conn:
                self.conn.execute(sql, list(message.values()))
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            from ..registry.store import Registry  # an older registry: migrate it once

            Registry.open(self.data_dir.db_path).close()
            with self.conn:
                self.conn.execute(sql, list(message.values()))


def send(target: str, body: str, *, data_dir: DataDir, sender: str | None, queue: bool = False) -> dict:
    """Deliver one message; returns the recorded message. Raises SendError with an exit code."""
    from ..runtime.fleet import (
        fleet_for,  # imported here so that usage errors stay instant
    )
    from .deliver import deliver

    try:
        text = compose(body, sender)
    except MessageRejected as exc:
        raise SendError(EXIT_USAGE, str(exc)) from exc
    mailbox = Mailbox(data_dir)
    row = mailbox.session(target)
    if row is None:
        raise SendError(EXIT_UNKNOWN_SESSION, f"no session {target!r}; see `ao get sessions`")
    record = {"at": time.time(), "sender": sender, "target": target, "project": row["project"], "body": text}

    def reject(code: int, outcome: str, message: str) -> SendError:
        mailbox.record(**record, outcome=outcome, detail=message, enter_presses=0)
        return SendError(code, message)

    if row["phase"] == "Terminated":
        raise reject(EXIT_TERMINATED, "rejected", f"session {target} is terminated; it cannot receive messages")
    runtime = fleet_for(data_dir)
    if not queue and not any(runtime.installed(name) for name in runtime.runtimes):
        # Without a multiplexer nothing can be observed: say so rather than "no live session".
        raise reject(EXIT_FAILED, "failed", _runtime_missing())
    live = runtime.probe(target)
    if queue and (live is None or not live.alive):
        mailbox.record(**record, outcome="queued", detail="waiting for the agent to run", enter_presses=0)
        return {**record, "outcome": "queued", "detail": "delivered once the agent runs", "enterPresses": 0}
    if live is None or not live.alive or not live.owned_by(data_dir.owner_id):
        state = "has no live session" if live is None else (
            "was not created by ao" if not live.owned_by(data_dir.owner_id) else "is not running")
        raise reject(EXIT_NOT_RUNNING, "rejected",
                     f"the agent of session {target} {state} (phase {row['phase']}); "
                     "`ao reconcile` relaunches it if its restart policy allows; --queue keeps the message until then")
    try:
        result = deliver(runtime, target, text)
    except Exception as exc:  # the runtime failed mid-way: record it, report it
        raise reject(EXIT_FAILED, "failed", f"could not deliver to {target}: {exc}") from exc
    detail = "" if result.outcome == "delivered" else (
        f"pasted, but the text was still on the input line after {result.enter_presses} Enter presses")
    mailbox.record(**record, outcome=result.outcome, detail=detail, enter_presses=result.enter_presses)
    return {**record, "outcome": result.outcome, "detail": detail, "enterPresses": result.enter_presses}


def _runtime_missing() -> str:
    from ..errors import RuntimeMissing
    from ..runtime.tmux import tmux_binary

    try:
        tmux_binary()
    except RuntimeMissing as exc:
        return str(exc)
    return "no terminal multiplexer (tmux or zellij) is installed"


def main(argv: list[str], data_dir: str | None = None) -> int:
    args = parser().parse_intermixed_args(argv)  # options may come anywhere: `ao send ID --queue TEXT`
    try:
        target, body = _arguments(args)
        sent = send(target, body, data_dir=DataDir.resolve(data_dir), sender=os.environ.get("AO_SESSION_ID") or None,
                    queue=args.queue)
    except SendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    if args.output == "json":
        print(json.dumps(sent))
    elif sent["outcome"] == "delivered":
        print(f"message/{target} delivered")
    else:
        print(f"message/{target} {sent['outcome']}: {sent['detail']}")
    return EXIT_SENT
