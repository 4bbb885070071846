"""The stand-in API on its own: the stream format, the script, side requests, held replies."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from tests.agents.fake_anthropic import Echo, FakeAnthropic, Text, ToolUse

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def post(api: FakeAnthropic, body: dict[str, Any], path: str = "/v1/messages?beta=true") -> tuple[str, bytes]:
    request = urllib.request.Request(api.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read()


def events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for chunk in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def turn(text: str, *, stream: bool = True, history: list[dict] | None = None) -> dict[str, Any]:
    messages = [*(history or []), {"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>context</system-reminder>"}, {"type": "text", "text": text}]}]
    return {"model": "m", "stream": stream, "tools": TOOLS, "messages": messages}


def test_a_text_reply_streams_the_messages_api_events_in_order() -> None:
    with FakeAnthropic() as api:
        api.script(Text("hello there"))
        kind, raw = post(api, turn("hi"))
    assert kind == "text/event-stream"
    names = [name for name, _ in events(raw)]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    delta = dict(events(raw))
    assert delta["content_block_delta"]["delta"] == {"type": "text_delta", "text": "hello there"}
    assert delta["message_delta"]["delta"]["stop_reason"] == "end_turn"


def test_an_empty_script_echoes_the_typed_text_and_records_it() -> None:
    with FakeAnthropic() as api:
        _, raw = post(api, turn("which prompt?"))
        assert dict(events(raw))["content_block_delta"]["delta"]["text"] == "ECHO: which prompt?"
        assert api.prompts() == ["which prompt?"]


def test_a_tool_use_streams_input_json_then_its_result_gets_the_final_text() -> None:
    with FakeAnthropic() as api:
        api.script(ToolUse("touch x", then="ran it"), Echo())
        _, raw = post(api, turn("run"))
        got = events(raw)
        start = [d for n, d in got if n == "content_block_start"][-1]["content_block"]
        assert (start["type"], start["name"]) == ("tool_use", "Bash")
        partial = [d["delta"] for n, d in got if n == "content_block_delta"][-1]
        assert partial["type"] == "input_json_delta"
        assert json.loads(partial["partial_json"])["command"] == "touch x"
        assert dict(got)["message_delta"]["delta"]["stop_reason"] == "tool_use"

        history = [{"role": "user", "content": "run"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": start["id"], "name": "Bash",
                                                      "input": {"command": "touch x"}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": start["id"],
                                                 "content": "ok"}]}]
        _, raw = post(api, {"model": "m", "stream": True, "tools": TOOLS, "messages": history})
        assert dict(events(raw))["content_block_delta"]["delta"]["text"] == "ran it"
        assert api.prompts() == ["run"], "a tool result is not a typed prompt"
        _, raw = post(api, turn("next"))
        assert dict(events(raw))["content_block_delta"]["delta"]["text"] == "ECHO: next", "script order kept"


def test_side_requests_without_tools_get_a_short_text_and_leave_the_script_alone() -> None:
    with FakeAnthropic() as api:
        api.script(Text("scripted"))
        _, raw = post(api, {"model": "m", "stream": True, "messages": [{"role": "user", "content": "title?"}]})
        assert dict(events(raw))["content_block_delta"]["delta"]["text"] == "Fake title"
        kind, raw = post(api, turn("go", stream=False))
        assert kind == "application/json"
        assert json.loads(raw)["content"] == [{"type": "text", "text": "scripted"}]
        assert api.prompts() == ["go"]


def test_a_slow_reply_holds_the_stream_until_released() -> None:
    with FakeAnthropic() as api:
        held = api.slow(Text("finally"))
        result: dict[str, bytes] = {}
        worker = threading.Thread(target=lambda: result.update(raw=post(api, turn("wait"))[1]))
        worker.start()
        assert held.started.wait(10)
        worker.join(0.3)
        assert worker.is_alive() and not result, "the reply finished before it was released"
        held.release.set()
        worker.join(10)
        assert dict(events(result["raw"]))["content_block_delta"]["delta"]["text"] == "finally"


def test_messages_queued_during_a_turn_are_listed_one_by_one() -> None:
    with FakeAnthropic() as api:
        history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ECHO: first"},
                   {"role": "user", "content": [{"type": "text", "text": "queued A\n"},
                                                {"type": "text", "text": "queued B"}]}]
        post(api, {"model": "m", "stream": True, "tools": TOOLS, "messages": history})
        assert api.turns() == [["queued A\n", "queued B"]]
        assert api.prompts() == ["queued A", "queued B"]


def test_other_paths_answer_harmlessly_and_are_logged() -> None:
    with FakeAnthropic() as api:
        kind, raw = post(api, {"x": 1}, path="/api/anything")
        assert (kind, json.loads(raw)) == ("application/json", {})
        assert api.other_paths == ["POST /api/anything"]


def test_wait_for_returns_once_a_request_satisfies_the_predicate() -> None:
    with FakeAnthropic() as api:
        threading.Thread(target=post, args=(api, turn("late"))).start()
        assert api.wait_for(lambda a: a.prompts(), timeout=10) == ["late"]


def test_text_folded_into_a_running_turn_is_listed_apart_from_prompts() -> None:
    with FakeAnthropic() as api:
        history = [{"role": "user", "content": "run ls"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
                   {"role": "system", "content": "The user sent a new message while you were working:\nhello there"
                                                 "\n\nIMPORTANT: After completing your current task, ..."}]
        post(api, {"model": "m", "stream": True, "tools": TOOLS, "messages": history})
        assert api.mid_turn_messages() == ["hello there"]
        assert api.prompts() == []
