"""A local stand-in for an OpenAI-compatible model API, for agent CLIs that accept a base URL.

Serves `POST …/chat/completions` (streamed or not) and `POST …/responses` (streamed server-sent
events), plus `GET …/models`; and, for Gemini CLI, the Gemini API's `…:streamGenerateContent`,
`…:generateContent` and `…:countTokens`. Every reply is the next scripted text (or a default echo of the
last user message), and every request is recorded so a test can check which conversation
history the agent sent. Standard library only; listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    def texts(self) -> list[str]:
        """Every text of the conversation this request carries, in order (any API shape)."""
        out: list[str] = []
        if isinstance(self.body.get("instructions"), str):
            out.append(self.body["instructions"])
        items = list(self.body.get("messages") or []) + _as_list(self.body.get("input"))
        items += list(self.body.get("contents") or [])  # the Gemini API
        for item in items:
            _collect_text(item, out)
        return out

    def transcript(self) -> str:
        return "\n".join(self.texts())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _collect_text(item: Any, out: list[str]) -> None:
    if isinstance(item, str):
        out.append(item)
    elif isinstance(item, dict):
        if item.get("type") == "function_call":
            out.append(f"[call {item.get('name')} {item.get('arguments')}]")
        for key in ("content", "text", "output", "parts"):
            value = item.get(key)
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                for part in value:
                    _collect_text(part, out)


@dataclass(frozen=True)
class ToolCall:
    """A reply that calls one of the agent's tools (a function call) instead of answering in text."""

    name: str
    arguments: dict[str, Any]
    call_id: str = "call_fake_1"


Reply = str | ToolCall


@dataclass
class FakeOpenAI:
    """Replies: `responder(request)` when set and not None, else `replies` in order, then
    `default` (which may use {last}, the last text of the conversation)."""

    replies: list[Reply] = field(default_factory=list)
    default: str = "ok: {last}"
    responder: Callable[[Request], Reply | None] | None = None
    delay: float = 0.0  # seconds before each reply starts (to keep an agent "working")
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "ao"}]})
                else:
                    self._json({"error": {"message": "not found"}}, status=404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                request = Request(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                with fake._lock:
                    fake.requests.append(request)
                reply = fake._next_reply(request)
                if fake.delay:
                    time.sleep(fake.delay)
                path = self.path.split("?")[0].rstrip("/")
                if path.endswith(":countTokens"):
                    self._json({"totalTokens": 1})
                elif path.endswith(":streamGenerateContent"):
                    self._sse(_gemini_chunks(reply))
                elif path.endswith(":generateContent"):
                    self._json(next(_gemini_chunks(reply))[1])
                elif path.endswith("/responses"):
                    self._sse(_responses_events(body, reply))
                elif path.endswith("/chat/completions"):
                    if body.get("stream"):
                        self._sse(_chat_chunks(body, reply), done=True)
                    else:
                        self._json(_chat_completion(body, reply))
                else:
                    self._json({"error": {"message": f"unsupported path {self.path}"}}, status=404)

            def _json(self, payload: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: Iterator[tuple[str | None, dict[str, Any]]], done: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for name, payload in events:
                    head = f"event: {name}\n" if name else ""
                    self.wfile.write(f"{head}data: {json.dumps(payload)}\n\n".encode())
                if done:
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _next_reply(self, request: Request) -> Reply:
        if self.responder is not None:
            reply = self.responder(request)
            if reply is not None:
                return reply
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        texts = request.texts()
        return self.default.format(last=texts[-1].strip()[:200] if texts else "")

    def transcripts(self) -> list[str]:
        with self._lock:
            return [r.transcript() for r in self.requests]


def _chat_completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    if isinstance(reply, ToolCall):
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [{
            "id": reply.call_id, "type": "function",
            "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)}}]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": reply}, "stop"
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chat_chunks(body: dict[str, Any], reply: Reply) -> Iterator[tuple[None, dict[str, Any]]]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "fake-model")}
    yield None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    if isinstance(reply, ToolCall):
        call = {"index": 0, "id": reply.call_id, "type": "function",
                "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)}}
        yield None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
        finish = "tool_calls"
    else:
        yield None, {**base, "choices": [{"index": 0, "delta": {"content": reply}, "finish_reason": None}]}
        finish = "stop"
    yield None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _responses_events(body: dict[str, Any], reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
    rid, mid = "resp_fake", "msg_fake"
    model = body.get("model", "fake-model")
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "model": model,
                "status": "in_progress", "output": []}
    usage = {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2}
    if isinstance(reply, ToolCall):
        args = json.dumps(reply.arguments)
        item = {"id": "fc_fake", "type": "function_call", "status": "completed", "call_id": reply.call_id,
                "name": reply.name, "arguments": args}
        yield "response.created", {"type": "response.created", "response": response}
        yield "response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                             "item": {**item, "status": "in_progress", "arguments": ""}}
        yield "response.function_call_arguments.delta", {"type": "response.function_call_arguments.delta",
                                                         "item_id": "fc_fake", "output_index": 0, "delta": args}
        yield "response.function_call_arguments.done", {"type": "response.function_call_arguments.done",
                                                        "item_id": "fc_fake", "output_index": 0, "arguments": args}
        yield "response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}
        yield "response.completed", {"type": "response.completed",
                                     "response": {**response, "status": "completed", "output": [item], "usage": usage}}
        return
    text = reply
    message = {"id": mid, "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    yield "response.created", {"type": "response.created", "response": response}
    yield "response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                         "item": {**message, "status": "in_progress", "content": []}}
    yield "response.content_part.added", {"type": "response.content_part.added", "item_id": mid, "output_index": 0,
                                          "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}
    yield "response.output_text.delta", {"type": "response.output_text.delta", "item_id": mid, "output_index": 0,
                                         "content_index": 0, "delta": text}
    yield "response.output_text.done", {"type": "response.output_text.done", "item_id": mid, "output_index": 0,
                                        "content_index": 0, "text": text}
    yield "response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": message}
    yield "response.completed", {"type": "response.completed",
                                 "response": {**response, "status": "completed", "output": [message], "usage": usage}}


def _gemini_chunks(reply: Reply) -> Iterator[tuple[None, dict[str, Any]]]:
    """The Gemini API's generateContent answer (one chunk of its server-sent events)."""
    if isinstance(reply, ToolCall):
        part: dict[str, Any] = {"functionCall": {"name": reply.name, "args": reply.arguments}}
    else:
        part = {"text": reply}
    yield None, {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
                 "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                 "modelVersion": "fake-model"}


if __name__ == "__main__":  # manual use: python -m tests.agents.fake_openai
    server = FakeOpenAI().start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
