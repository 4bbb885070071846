"""The live terminal: a WebSocket between a browser's xterm.js and a session's pane.

Server to browser: a JSON snapshot of the visible screen (`capture-pane -p -e`, colours kept), the
cursor and the pane's size, sent whenever it changed. Browser to server: the bytes xterm.js reports
for each key, typed with `send-keys -l` (literal text) or `send-keys KEY` (Enter, arrows, Ctrl-x):
argv lists through the runtime, never a shell string. The socket needs the token like every other
action, and a browser's upgrade from another origin is refused (a page elsewhere could otherwise
type into agents with the user's cookie).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ..reconcile.service import Service
from ..sessions.naming import SESSION_ID_PATTERN
from . import auth

POLL_SECONDS = 0.1  # how often the pane is looked at while a browser watches it
POLL_IDLE_SECONDS = 0.4  # once the screen has not changed for a while
QUIET_POLLS = 20

# xterm.js input -> tmux key names; anything else is typed literally.
SPECIAL_KEYS = {
    "\r": "Enter", "\n": "Enter", "\x7f": "BSpace", "\b": "BSpace", "\t": "Tab", "\x1b": "Escape",
    "\x1b[A": "Up", "\x1b[B": "Down", "\x1b[C": "Right", "\x1b[D": "Left",
    "\x1bOA": "Up", "\x1bOB": "Down", "\x1bOC": "Right", "\x1bOD": "Left",
    "\x1b[H": "Home", "\x1b[F": "End", "\x1bOH": "Home", "\x1bOF": "End",
    "\x1b[2~": "IC", "\x1b[3~": "DC", "\x1b[5~": "PPage", "\x1b[6~": "NPage", "\x1b[Z": "BTab",
}
_TOKEN = re.compile("|".join(re.escape(k) for k in sorted(SPECIAL_KEYS, key=len, reverse=True))
                    + r"|[\x00-\x1f]|[^\x00-\x1f\x7f]+")


def keys(data: str) -> list[tuple[str, str]]:
    """Split browser input into ("key", tmux key name) and ("text", literal) parts, in order."""
    parts: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(data):
        token = match.group(0)
        if token in SPECIAL_KEYS:
            parts.append(("key", SPECIAL_KEYS[token]))
        elif len(token) == 1 and ord(token) < 0x20:
            if 1 <= ord(token) <= 26:
                parts.append(("key", f"C-{chr(ord(token) + 96)}"))
        else:
            parts.append(("text", token))
    return parts


class Pane:
    """One session's pane, through ao's runtime (tmux: colour snapshots and real keys)."""

    def __init__(self, ao: Service, session_id: str) -> None:
        self.ao, self.session_id = ao, session_id
        self._tmux: Any = None

    @property
    def tmux(self) -> Any:
        """The tmux runtime hosting the session, or None (another multiplexer, or no session yet: a
        stopped session that is started later is found on a later look)."""
        if self._tmux is None:
            runtime: Any = self.ao.runtime
            where = getattr(runtime, "where", None)
            host = runtime.runtimes.get(where(self.session_id) or "") if where else runtime
            self._tmux = host if host is not None and getattr(host, "name", "") == "tmux" else None
        return self._tmux

    def _target(self) -> str:
        from ..runtime.tmux import exact

        return exact(self.session_id)

    def snapshot(self) -> dict[str, Any]:
        if self.tmux is None:  # another multiplexer: plain text, no cursor
            return {"screen": self.ao.capture(self.session_id, 200), "cursor": None, "size": None}
        # One tmux call for both: the cursor line first, then the screen.
        out = self.tmux.run("display-message", "-p", "-t", self._target(),
                            "#{cursor_x} #{cursor_y} #{pane_width} #{pane_height}", ";",
                            "capture-pane", "-p", "-e", "-t", self._target()).stdout
        first, _, screen = out.partition("\n")
        info = first.split()
        numbers = [int(n) for n in info] if len(info) == 4 and all(n.isdigit() for n in info) else None
        return {"screen": screen.rstrip("\n"), "cursor": numbers[:2] if numbers else None,
                "size": numbers[2:] if numbers else None}

    def type(self, data: str) -> None:
        for kind, value in keys(data):
            if self.tmux is None:
                if kind == "text":
                    self.ao.runtime.paste(self.session_id, value)
                elif value == "Enter":
                    self.ao.runtime.press_enter(self.session_id)
            elif kind == "text":
                self.tmux.run("send-keys", "-t", self._target(), "-l", value)
            else:
                self.tmux.run("send-keys", "-t", self._target(), value)


def same_origin(websocket: WebSocket) -> bool:
    """A browser always sends Origin on an upgrade; it must name this server. Other clients send none."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (websocket.headers.get("host") or "").lower()


def register(app: FastAPI) -> None:
    @app.websocket("/ws/sessions/{session_id}/terminal")
    async def terminal(websocket: WebSocket, session_id: str) -> None:
        if not same_origin(websocket):
            await websocket.close(code=4403, reason="cross-origin upgrade refused")
            return
        if not auth.valid(app.state.token, websocket.headers.get("authorization"),
                          websocket.cookies.get(auth.COOKIE)):
            await websocket.close(code=4401, reason="missing or wrong token")
            return
        ao: Service = app.state.new_service()
        try:
            if not re.fullmatch(SESSION_ID_PATTERN, session_id) or ao.session(session_id) is None:
                await websocket.close(code=4404, reason=f"no session {session_id!r}")
                return
            await websocket.accept()
            pane = Pane(ao, session_id)
            tasks = [asyncio.create_task(_send_screens(websocket, pane)),
                     asyncio.create_task(_receive_keys(websocket, pane))]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:  # the browser left (or the socket broke): stop watching the pane
                task.cancel()
        finally:
            ao.close()


async def _send_screens(websocket: WebSocket, pane: Pane) -> None:
    last, quiet = None, 0
    while websocket.client_state.name == "CONNECTED":
        try:
            snapshot = await asyncio.to_thread(pane.snapshot)
        except Exception as exc:  # noqa: BLE001 - the pane went away: say so once, keep the socket
            snapshot = {"screen": f"(no live terminal: {exc})", "cursor": None, "size": None}
        text = json.dumps(snapshot)
        if text != last:
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError):
                return
            last, quiet = text, 0
        else:
            quiet += 1
        await asyncio.sleep(POLL_SECONDS if quiet < QUIET_POLLS else POLL_IDLE_SECONDS)


async def _receive_keys(websocket: WebSocket, pane: Pane) -> None:
    while True:
        try:
            data = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return
        try:
            await asyncio.to_thread(pane.type, data)
        except Exception:  # noqa: BLE001,S112 - a vanished pane: the next snapshot tells the user
            continue
