"""Relaunch an agent that assigns its own conversation ids into this session's own conversation.

Run in the session's pane, in its working directory:
    python -m reconciler.sessions.resume_agent PRESET RECORD_FILE -- FRESH_ARGV...
Finds the conversation the agent keeps for this directory (each worker has its own worktree, so
this is this worker's conversation, never another's), records its id in RECORD_FILE and execs
the preset's resume argv; with no conversation found it execs FRESH_ARGV (a fresh start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .presets import PRESETS


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (TypeError, ValueError):
        return False


def opencode_conversation(cwd: str) -> str | None:
    """The most recently updated OpenCode session whose directory is `cwd`."""
    done = subprocess.run(["opencode", "session", "list", "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    try:
        sessions = json.loads(done.stdout or "[]")
    except ValueError:
        return None
    mine = [s for s in sessions if isinstance(s, dict) and _same_dir(str(s.get("directory", "")), cwd)]
    mine.sort(key=lambda s: s.get("updated") or 0)
    return str(mine[-1]["id"]) if mine else None


def codex_conversation(cwd: str) -> str | None:
    """The newest Codex rollout recorded for `cwd` ($CODEX_HOME/sessions/**/rollout-*.jsonl)."""
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    best: tuple[float, str] | None = None
    for path in (home / "sessions").rglob("rollout-*.jsonl"):
        try:
            with path.open(encoding="utf-8") as f:
                meta = json.loads(f.readline())
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        payload = meta.get("payload") if isinstance(meta, dict) else None
        if not isinstance(payload, dict) or not _same_dir(str(payload.get("cwd", "")), cwd):
            continue
        if payload.get("id") and (best is None or mtime > best[0]):
            best = (mtime, str(payload["id"]))
    return best[1] if best else None


FINDERS = {"opencode": opencode_conversation, "codex": codex_conversation}


def main(argv: list[str]) -> None:
    preset_name, record = argv[0], Path(argv[1])
    fresh = argv[argv.index("--") + 1:]
    preset = PRESETS[preset_name]
    conversation = FINDERS[preset_name](os.getcwd())
    if conversation and preset.resume is not None:
        record.write_text(conversation + "\n")
        args = [conversation if a == "{conversation}" else a for a in preset.resume]
        os.execvp(args[0], args)
    os.execvp(fresh[0], fresh)


if __name__ == "__main__":
    main(sys.argv[1:])
