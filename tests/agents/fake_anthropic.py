"""A local stand-in for the Anthropic Messages API, scripted per test.

Claude Code honours `ANTHROPIC_BASE_URL`; pointed here it completes real turns offline. Main-loop
requests (they carry `tools`) take the next scripted reply; side requests without `tools` (session
titles and the like) get a short text and leave the script alone. A request whose last user message
is a `tool_result` gets the tool reply's `then` text. With the script empty, the reply echoes the
prompt back, so a test can see on screen which prompt arrived.

Every request is recorded; `prompts()` lists the user texts the agent submitted, in order.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-sonnet-4-5"
SIDE_TEXT = "Fake title"
# Claude Code adds its own context to user messages inside these tags; they are not what was typed.
_INJECTED_PREFIXES = ("<system-reminder>", "<command-name>", "<local-command", "Caveat:")
# Text typed while a turn runs reaches the model inside that turn as a system message of this form.
MID_TURN_PREFIX = "The user sent a new message while you were working:\n"
MID_TURN_END = "\n\nIMPORTANT:"


@dataclass
class Text:
    """Reply with this text (end_turn)."""

    text: str


@dataclass
class Echo:
    """Reply `prefix` + the last user text of the request (end_turn)."""

    prefix: str = "ECHO: "


@dataclass
class ToolUse:
    """Ask to run a Bash command (stop_reason tool_use); after its tool_result, reply `then`."""

    command: str
    description: str = "Run a command"
    then: str = "TOOL DONE"
    text: str = ""


@dataclass
class Slow:
    """Hold the stream open after message_start until `release` is set, then reply like `reply`."""

    release: threading.Event = field(default_factory=threading.Event)
    reply: Text | Echo | ToolUse = field(default_factory=Echo)
    started: threading.Event = field(default_factory=threading.Event)


Reply = Text | Echo | ToolUse | Slow


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0] == "/v1/messages"

    @property
    def is_main_loop(self) -> bool:
        return self.is_messages and isinstance(self.body, dict) and bool(self.body.get("tools"))

    @property
    def messages(self) -> list[dict]:
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    def last_user_blocks(self) -> list[dict]:
        users = [m for m in self.messages if m.get("role") == "user"]
        return _blocks(users[-1]) if users else []

    @property
    def answers_tool(self) -> bool:
        return any(b.get("type") == "tool_result" for b in self.last_user_blocks())

    def last_user_text(self) -> str:
        """The text the person typed in the last user message, without Claude Code's injected context."""
        texts = [b.get("text", "") for b in self.last_user_blocks() if b.get("type") == "text"]
        typed = [t for t in texts if not t.lstrip().startswith(_INJECTED_PREFIXES)]
        return (typed or texts or [""])[-1]

    def new_user_texts(self) -> list[str]:
        """Typed texts of the user messages after the last assistant message (this turn's input).

        Messages queued while a turn ran arrive together here, one text block each.
        """
        tail: list[dict] = []
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                break
            if message.get("role") == "user":
                tail.insert(0, message)
        return [b.get("text", "") for m in tail for b in _blocks(m)
                if b.get("type") == "text" and b.get("text") and not b["text"].lstrip().startswith(_INJECTED_PREFIXES)]

    def mid_turn_texts(self) -> list[str]:
        """Texts the person typed during this turn that Claude Code folded into it (no new turn, no hook)."""
        out = []
        for message in self.messages[self._after_last_assistant():]:
            content = message.get("content")
            texts = [content] if isinstance(content, str) else [b.get("text", "") for b in _blocks(message)]
            for text in texts:
                if message.get("role") == "system" and text.startswith(MID_TURN_PREFIX):
                    out.append(text[len(MID_TURN_PREFIX):].split(MID_TURN_END)[0])
        return out

    def _after_last_assistant(self) -> int:
        roles = [m.get("role") for m in self.messages]
        return len(roles) - roles[::-1].index("assistant") if "assistant" in roles else 0

    def user_texts(self) -> list[str]:
        """Every typed user text in the conversation this request carries, in order."""
        out = []
        for message in self.messages:
            if message.get("role") != "user":
                continue
            for block in _blocks(message):
                text = block.get("text", "") if block.get("type") == "text" else ""
                if text and not text.lstrip().startswith(_INJECTED_PREFIXES):
                    out.append(text)
        return out


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


class FakeAnthropic:
    """The stand-in server: `start()`, `url`, `script(...)`, `requests`, `prompts()`, `stop()`."""

    def __init__(self) -> None:
        self._script: deque[Reply] = deque()
        self._pending_then: deque[str] = deque()
        self._lock = threading.RLock()  # wait_for predicates call the locked accessors
        self._changed = threading.Condition(self._lock)
        self._slow: list[Slow] = []
        self._ids = itertools.count(1)
        self.requests: list[Request] = []
        self.other_paths: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies for the next main-loop requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def slow(self, reply: Text | Echo | ToolUse | None = None) -> Slow:
        """Queue a reply that holds the stream open until its `release` is set; returns it."""
        held = Slow(reply=reply or Echo())
        self.script(held)
        return held

    # --- observations ----------------------------------------------------------------------
    def main_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.is_main_loop]

    def turns(self) -> list[list[str]]:
        """For each main-loop request that started a turn (not a tool result): the typed texts it carried."""
        return [r.new_user_texts() for r in self.main_requests() if not r.answers_tool]

    def mid_turn_messages(self) -> list[str]:
        """Texts typed while a tool turn ran, in order, as Claude Code folded them into that turn."""
        return [text for r in self.main_requests() for text in r.mid_turn_texts()]

    def prompts(self) -> list[str]:
        """Every typed user text the agent sent, in order (Claude Code ends a batched one with a newline)."""
        return [text.rstrip("\n") for turn in self.turns() for text in turn]

    def wait_for(self, predicate, timeout: float = 30.0) -> Any:
        """Block until `predicate(self)` is truthy after a request arrives; fail after `timeout`."""
        with self._changed:
            value = self._changed.wait_for(lambda: predicate(self), timeout=timeout)
        if not value:
            raise AssertionError(f"the stand-in never saw what was expected within {timeout}s")
        return value

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            for held in self._slow:
                held.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering -------------------------------------------------------------------------
    def _record(self, request: Request) -> Reply:
        with self._changed:
            self.requests.append(request)
            reply = self._choose(request)
            if isinstance(reply, Slow):
                self._slow.append(reply)
            self._changed.notify_all()
            return reply

    def _choose(self, request: Request) -> Reply:
        if not request.is_main_loop:
            return Text(SIDE_TEXT)
        if request.answers_tool:
            return Text(self._pending_then.popleft() if self._pending_then else "TOOL DONE")
        reply = self._script.popleft() if self._script else Echo()
        inner = reply.reply if isinstance(reply, Slow) else reply
        if isinstance(inner, ToolUse):
            self._pending_then.append(inner.then)
        return reply

    def _content(self, reply: Text | Echo | ToolUse, request: Request) -> tuple[list[dict], str]:
        if isinstance(reply, Text):
            return [{"type": "text", "text": reply.text}], "end_turn"
        if isinstance(reply, Echo):
            return [{"type": "text", "text": reply.prefix + request.last_user_text()}], "end_turn"
        blocks: list[dict] = [{"type": "text", "text": reply.text}] if reply.text else []
        blocks.append({"type": "tool_use", "id": f"toolu_fake{next(self._ids):06d}", "name": "Bash",
                       "input": {"command": reply.command, "description": reply.description}})
        return blocks, "tool_use"


def _message(blocks: list[dict], stop_reason: str | None, model: str, msg_id: str) -> dict:
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


def _sse_events(blocks: list[dict], stop_reason: str) -> list[tuple[str, dict]]:
    """The content part of a stream: block start/delta/stop for each block, then message_delta/stop."""
    events: list[tuple[str, dict]] = []
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "text_delta", "text": block["text"]}}))
        else:
            start = {**block, "input": {}}
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": start}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(block["input"])}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": 5}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _handler_for(api: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the requests are recorded instead
            pass

        def _read_body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw.decode("utf-8", "replace")

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _other(self) -> None:
            request = Request(self.command, self.path, dict(self.headers), self._read_body())
            with api._changed:
                api.requests.append(request)
                api.other_paths.append(f"{self.command} {self.path}")
                api._changed.notify_all()
            if self.path.split("?")[0] == "/v1/messages/count_tokens":
                self._json(200, {"input_tokens": 10})
            else:
                self._json(200, {})

        do_GET = do_PUT = do_DELETE = do_PATCH = _other

        def do_HEAD(self) -> None:
            with api._changed:
                api.other_paths.append(f"HEAD {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/v1/messages":
                return self._other()
            request = Request("POST", self.path, dict(self.headers), self._read_body())
            reply = api._record(request)
            body = request.body if isinstance(request.body, dict) else {}
            model = body.get("model") or MODEL
            msg_id = f"msg_fake{next(api._ids):06d}"
            held = reply if isinstance(reply, Slow) else None
            inner = held.reply if held else reply
            blocks, stop_reason = api._content(inner, request)
            if not body.get("stream"):
                if held:
                    held.started.set()
                    held.release.wait()
                return self._json(200, _message(blocks, stop_reason, model, msg_id))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self._event("message_start", {"type": "message_start",
                                               "message": {**_message([], None, model, msg_id),
                                                           "usage": {"input_tokens": 10, "output_tokens": 1}}})
                if held:
                    held.started.set()
                    # Pings keep the connection visibly alive while the test holds the turn.
                    while not held.release.wait(5):
                        self._event("ping", {"type": "ping"})
                for name, data in _sse_events(blocks, stop_reason):
                    self._event(name, data)
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _event(self, name: str, data: dict) -> None:
            self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
