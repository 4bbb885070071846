"""The hook settings ao hands an agent, so that the agent itself reports what it does.

Claude Code takes them as `--settings <file>`, a file of ao's in the session's directory: the
user's own settings are never written. Each hook runs `ao hook claude-code`, which records the
event for the session named by AO_SESSION_ID (see activity/hook.py).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

CLAUDE_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest",
                 "Notification", "Stop", "SessionEnd")
CLAUDE_TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PermissionRequest"})  # these take a matcher
SETTINGS_FILE = "claude-settings.json"


def ao_command(bin_dir: str | None) -> list[str]:
    """How an agent runs this same ao: its executable, else this Python with ao's entry module."""
    if bin_dir and (Path(bin_dir) / "ao").exists():
        return [str(Path(bin_dir) / "ao")]
    return [sys.executable, "-m", "reconciler.cli.entry"]


def claude_settings(ao: list[str]) -> dict:
    command = shlex.join([*ao, "hook", "claude-code"])  # a shell line: every part is quoted
    hooks = {}
    for event in CLAUDE_EVENTS:
        entry: dict = {"hooks": [{"type": "command", "command": command, "timeout": 10}]}
        if event in CLAUDE_TOOL_EVENTS:
            entry["matcher"] = "*"
        hooks[event] = [entry]
    return {"hooks": hooks}


def write_claude_settings(session_dir: Path, ao: list[str]) -> Path:
    """Write the session's hook settings (only when they changed) and return the file."""
    path = session_dir / SETTINGS_FILE
    text = json.dumps(claude_settings(ao), indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        session_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o600)
    return path
