"""Agent signals (hooks and notify programs) turned into readings.

Claude Code runs a command on each hook event and hands it a JSON object on stdin with
`hook_event_name`; docs/agents/claude-code.md lists the events and their fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import Activity, Reading

MAX_DETAIL_CHARS = 80


@dataclass(frozen=True)
class Signal:
    """What one event of an agent's hooks says."""

    reading: Reading | None  # None: the event says nothing about activity
    prompt: str | None = None  # the exact text the agent took as a user prompt
    conversation: str | None = None  # the agent's own id of the conversation


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def tool_summary(tool: str, arguments: Mapping[str, Any] | None) -> str:
    """`Bash(touch x)`, `Edit(src/app.py)`: a tool call as a person reads it."""
    arguments = arguments or {}
    for key in ("command", "file_path", "path", "url", "pattern", "query", "description"):
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return f"{tool}({_short(value)})"
    return tool


def _reading(activity: Activity, reason: str = "") -> Reading:
    return Reading(activity, reason, source="signal")


def claude_signal(payload: Mapping[str, Any]) -> Signal:
    """One Claude Code hook event."""
    event = payload.get("hook_event_name")
    conversation = payload.get("session_id") if isinstance(payload.get("session_id"), str) else None
    reading: Reading | None = None
    prompt: str | None = None
    if event == "SessionStart":
        # A fresh start was handed its task on the command line and submits it next: input typed
        # before that is overwritten (docs/agents/claude-code.md). A resume starts idle.
        fresh = payload.get("source") == "startup"
        reading = _reading(Activity.STARTING, "submitting its task") if fresh else _reading(Activity.IDLE)
    elif event == "UserPromptSubmit":
        reading = _reading(Activity.WORKING)
        prompt = payload.get("prompt") if isinstance(payload.get("prompt"), str) else None
    elif event in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart"):
        reading = _reading(Activity.WORKING)
    elif event == "PermissionRequest":
        tool = str(payload.get("tool_name") or "a tool")
        reading = _reading(Activity.WAITING, f"permission: {tool_summary(tool, payload.get('tool_input'))}")
    elif event == "Notification":
        kind = payload.get("notification_type")
        if kind == "permission_prompt":
            reading = _reading(Activity.WAITING, "permission")
        elif kind == "idle_prompt":
            reading = _reading(Activity.IDLE)
        elif kind == "elicitation_dialog":
            reading = _reading(Activity.WAITING, "question")
    elif event == "Stop":
        reading = _reading(Activity.IDLE)
    elif event == "SessionEnd":
        reading = _reading(Activity.EXITED)
    return Signal(reading, prompt, conversation)


PARSERS = {"claude-code": claude_signal}


def parse(agent: str, payload: Mapping[str, Any]) -> Signal:
    parser = PARSERS.get(agent)
    return parser(payload) if parser else Signal(None)
