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
from typing import Any

from ..paths import DataDir
from ..registry import messages
from ..registry.messages import MessageState
from .text import MAX_MESSAGE_CHARS, MessageRejected, compose

EXIT_SENT = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNKNOWN_SESSION = 3
EXIT_TERMINATED = 4
EXIT_NOT_RUNNING = 5
EXIT_AGENT_WAITING = 6
# How long `ao send` waits for an agent that is still starting, or for another message being
# typed into the same agent, before it leaves the message queued.
DEFAULT_WAIT_SECONDS = 30.0

EPILOG = f"""\
Inside an ao session (AO_SESSION_ID set) the message is prefixed "[from <session-id>] ".
Control characters other than newline and tab are removed; messages are at most
{MAX_MESSAGE_CHARS} characters. A multi-line message arrives as one message (one bracketed paste,
then Enter).

ao looks at the agent before it types. It never types into a dialog that only a person
should answer (a permission prompt, a trust dialog, a sign-in screen): the message is queued
and the exit code is 6. It waits (up to --wait seconds) for an agent that is still starting;
it queues the message for an agent that is busy and does not queue typed input, or whose input
line holds someone's draft. Queued messages go out as soon as the agent is free (every
`ao reconcile` pass, or the controller). Each message is its own submission: concurrent
senders to one agent take turns.

exit codes:
  0  submitted or delivered (or queued: see the outcome and its reason)
  1  delivery failed
  2  usage: empty or over-long message, bad arguments
  3  unknown session
  4  session terminated
  5  agent not running
  6  agent is waiting for its user (a dialog is open); the message is queued

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
    p.add_argument("-w", "--wait", type=float, default=DEFAULT_WAIT_SECONDS, metavar="SECONDS",
                   help=f"how long to wait for a starting agent before queueing (default {DEFAULT_WAIT_SECONDS:g})")
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
        path = data_dir.db_path
        try:
            self.conn = sqlite3.connect(str(path), timeout=30) if path.exists() else None
            if self.conn is not None:
                self.conn.row_factory = sqlite3.Row
                self._migrate()
        except sqlite3.Error as exc:
            raise self.unreadable(exc) from exc

    def _migrate(self) -> None:
        assert self.conn is not None
        try:
            self.conn.execute("select submitted_at from messages limit 0")
            self.conn.execute("select session from activity limit 0")
        except sqlite3.OperationalError as exc:
            if "no such" not in str(exc):
                raise
            from ..registry.store import Registry  # an older registry: migrate it once

            Registry.open(self.data_dir.db_path).close()

    def unreadable(self, exc: Exception) -> SendError:
        # Never "no session": the session may well exist in a registry ao cannot read.
        path = self.data_dir.db_path
        return SendError(EXIT_FAILED, f"cannot read the registry {path}: {exc}; nothing was sent. If it is damaged, "
                                      f"restore it or move it aside (mv {path} {path}.broken) and apply your "
                                      "manifests again")

    def session(self, session_id: str) -> dict | None:
        if self.conn is None:
            return None
        try:
            row = self.conn.execute("select id, project, phase, spec, started_at from sessions where id = ?",
                                    [session_id]).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # no schema yet: a registry that never held a session
            raise self.unreadable(exc) from exc
        except sqlite3.Error as exc:
            raise self.unreadable(exc) from exc
        return dict(row) if row else None

    def record(self, **message: Any) -> int:
        assert self.conn is not None
        with self.conn:
            return messages.record(self.conn, **message)

    def settle(self, message_id: int, state: MessageState, detail: str, presses: int) -> MessageState:
        """The final state, unless the agent's own signal already proved it submitted; returns the state that stands."""
        assert self.conn is not None
        with self.conn:
            return messages.set_state(self.conn, message_id, state, detail=detail, enter_presses=presses)


def _typing(mailbox: Mailbox, runtime, target: str, message_id: int, text: str, agent, wait: float):  # type: ignore[no-untyped-def]
    """Type the message, waiting up to `wait` seconds while the agent is still starting."""
    from .typing import type_message

    assert mailbox.conn is not None
    deadline = time.monotonic() + wait
    while True:
        typed = type_message(runtime, mailbox.conn, target, message_id, text, agent)
        starting = typed.outcome == "held" and typed.reading.activity == "starting"
        if not starting or time.monotonic() >= deadline:
            return typed
        time.sleep(0.2)


def send(target: str, body: str, *, data_dir: DataDir, sender: str | None, queue: bool = False,
         wait: float = DEFAULT_WAIT_SECONDS) -> dict:
    """Deliver one message; returns the recorded message. Raises SendError with an exit code."""
    from ..activity.observe import preset_of
    from ..runtime.fleet import (
        fleet_for,  # imported here so that usage errors stay instant
    )
    from .typing import Agent, target_lock

    try:
        text = compose(body, sender)
    except MessageRejected as exc:
        raise SendError(EXIT_USAGE, str(exc)) from exc
    mailbox = Mailbox(data_dir)
    row = mailbox.session(target)
    if row is None:
        raise SendError(EXIT_UNKNOWN_SESSION, f"no session {target!r}; see `ao get sessions`")
    record = {"at": time.time(), "sender": sender, "target": target, "project": row["project"], "body": text}

    def result(outcome: str, detail: str, presses: int = 0) -> dict:
        return {**record, "outcome": outcome, "detail": detail, "enterPresses": presses}

    def reject(code: int, state: MessageState, message: str) -> SendError:
        mailbox.record(**record, state=state, detail=message)
        return SendError(code, message)

    if row["phase"] == "Terminated":
        raise reject(EXIT_TERMINATED, MessageState.REJECTED, f"session {target} is terminated; it cannot receive messages")
    runtime = fleet_for(data_dir)
    if not queue and not any(runtime.installed(name) for name in runtime.runtimes):
        # Without a multiplexer nothing can be observed: say so rather than "no live session".
        raise reject(EXIT_FAILED, MessageState.FAILED, _runtime_missing())
    with target_lock(data_dir.session_dir(target) / "send.lock", max(wait, 1.0)) as locked:
        live = runtime.probe(target)
        if not locked or (queue and (live is None or not live.alive)):
            why = "waiting for the agent to run" if locked else "another message is being typed into it"
            mailbox.record(**record, state=MessageState.QUEUED, detail=why)
            return result("queued", "delivered once the agent runs" if locked else f"{why}; delivered once the agent "
                                                                                    "is free")
        if live is None or not live.alive or not live.owned_by(data_dir.owner_id):
            state = "has no live session" if live is None else (
                "was not created by ao" if not live.owned_by(data_dir.owner_id) else "is not running")
            raise reject(EXIT_NOT_RUNNING, MessageState.REJECTED,
                         f"the agent of session {target} {state} (phase {row['phase']}); "
                         "`ao reconcile` relaunches it if its restart policy allows; --queue keeps the message until then")
        message_id = mailbox.record(**record, state=MessageState.DELIVERING)
        agent = Agent(preset_of(json.loads(row["spec"]) if row["spec"] else None), row["started_at"])
        try:
            typed = _typing(mailbox, runtime, target, message_id, text, agent, wait)
        except Exception as exc:  # the runtime failed mid-way: record it, report it
            mailbox.settle(message_id, MessageState.FAILED, f"could not deliver to {target}: {exc}", 0)
            raise SendError(EXIT_FAILED, f"could not deliver to {target}: {exc}") from exc
    if typed.outcome in ("refused", "held"):
        mailbox.settle(message_id, MessageState.QUEUED, typed.detail, 0)
        if typed.outcome == "refused":
            raise SendError(EXIT_AGENT_WAITING, f"{typed.detail}; message queued")
        return result("queued", f"{typed.detail}; delivered once the agent is free")
    state = mailbox.settle(message_id, MessageState(typed.outcome), typed.detail, typed.enter_presses)
    return result(state.value, typed.detail if state != MessageState.SUBMITTED else "", typed.enter_presses)


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
                    queue=args.queue, wait=args.wait)
    except SendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except sqlite3.Error as exc:  # e.g. a read-only data dir when recording the message
        print(f"error: cannot write the registry {DataDir.resolve(data_dir).db_path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.output == "json":
        print(json.dumps(sent))
    elif sent["outcome"] in ("delivered", "submitted"):
        print(f"message/{target} {sent['outcome']}")
    else:
        print(f"message/{target} {sent['outcome']}: {sent['detail']}")
    return EXIT_SENT
