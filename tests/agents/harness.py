"""Run the real Claude Code CLI offline in a private tmux server, against the stand-in API.

`claude_config` writes a private `CLAUDE_CONFIG_DIR` and returns the environment that makes
Claude Code start without its first-run screens and talk only to the stand-in. `Pane` drives one
200x50 tmux pane: start, capture, paste, keys, kill. `hook_settings` writes a `--settings` file
whose hooks append each event's stdin JSON (with a timestamp) to a log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.conftest import retry_until

CLAUDE_CODE_VERSION = "2.1.197"
API_KEY = "sk-ant-api03-fake-key-for-offline-tests-0123456789abcdefghij"
WIDTH, HEIGHT = 200, 50
HOOK_EVENTS = (
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest", "Notification",
    "Stop", "SubagentStop", "SessionEnd", "PreCompact",
)
# The idle input box: a prompt line between two rules; the hint line under it.
IDLE_HINT = "? for shortcuts"
PERMISSION_TEXT = "Do you want to proceed?"
TRUST_TEXT = "Quick safety check"
WORKING_TEXT = "esc to interrupt"

_HOOK_SCRIPT = """\
import json, os, sys, time
stamp = time.time()
payload = sys.stdin.read()
try:
    payload = json.loads(payload)
except ValueError:
    pass
env = {k: v for k, v in os.environ.items() if k.startswith(("CLAUDE", "AO_", "ANTHROPIC_BASE", "TMUX", "PWD"))}
with open(sys.argv[1], "a") as log:
    log.write(json.dumps({"ts": stamp, "argv": sys.argv[2:], "env": env, "payload": payload}) + "\\n")
"""


def claude_config(config_dir: Path, *, trusted: Iterable[Path | str] = (), approve_key: bool = True,
                  api_url: str, api_key: str = API_KEY, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write `config_dir/.claude.json` and return the environment for an offline run.

    `trusted` repo paths skip the folder-trust dialog (trust covers git worktrees of the repo);
    `approve_key=False` leaves the "Detected a custom API key" question on screen.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [api_key[-20:]] if approve_key else [], "rejected": []},
        "projects": {str(p): {"hasTrustDialogAccepted": True} for p in trusted},
        **(extra or {}),
    }
    (config_dir / ".claude.json").write_text(json.dumps(state, indent=2))
    return {
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "ANTHROPIC_BASE_URL": api_url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def hook_settings(path: Path, log: Path, events: Iterable[str] = HOOK_EVENTS) -> Path:
    """Write a settings file whose hooks append `{ts, argv, env, payload}` lines to `log`."""
    script = path.parent / "record_hook.py"
    script.write_text(_HOOK_SCRIPT)
    hooks = {}
    for event in events:
        command = f"{sys.executable} {script} {log} {event}"
        hooks[event] = [{"matcher": "*", "hooks": [{"type": "command", "command": command}]}] \
            if event in ("PreToolUse", "PostToolUse", "PermissionRequest") else \
            [{"hooks": [{"type": "command", "command": command}]}]
    path.write_text(json.dumps({"hooks": hooks}, indent=2))
    return path


def read_hooks(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def hook_events(log: Path) -> list[str]:
    return [entry["payload"].get("hook_event_name", "?") if isinstance(entry["payload"], dict) else "?"
            for entry in read_hooks(log)]


def poll(condition: Callable[[], Any], timeout: float, message: str = "", interval: float = 0.05) -> Any:
    """Return `condition()` once truthy; fail after `timeout` seconds (conftest's `retry_until`)."""
    return retry_until(condition, timeout=timeout, interval=interval, message=message)


class Pane:
    """One Claude Code in a 200x50 pane of a private tmux server."""

    def __init__(self, socket: Path, name: str = "claude") -> None:
        self.socket = socket
        self.name = name
        self.tmux = shutil.which("tmux") or "tmux"
        self.config = socket.parent / f"{socket.name}.conf"
        self.config.write_text("set -g remain-on-exit on\nset -g history-limit 50000\nset -g status off\n")

    def run(self, *args: str, check: bool = True, input: bytes | None = None) -> str:
        done = subprocess.run([self.tmux, "-S", str(self.socket), "-f", str(self.config), *args],
                              capture_output=True, input=input, check=False, timeout=15)
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode(errors="replace")

    @property
    def target(self) -> str:
        return f"={self.name}:"

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
        """Launch `argv` in a new session; returns the monotonic launch time."""
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        started = time.monotonic()
        self.run("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", self.name, "-c", str(cwd),
                 *flags, "--", *argv)
        return started

    def respawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        started = time.monotonic()
        self.run("respawn-pane", "-k", "-t", self.target, "-c", str(cwd), *flags, "--", *argv)
        return started

    def capture(self, *flags: str) -> str:
        return self.run("capture-pane", "-p", *flags, "-t", self.target)

    def pid(self) -> int:
        return int(self.run("display-message", "-p", "-t", self.target, "#{pane_pid}").strip())

    def dead(self) -> bool:
        return self.run("display-message", "-p", "-t", self.target, "#{pane_dead}").strip() == "1"

    def kill9(self) -> None:
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        poll(self.dead, 10, "pane dead after kill -9")

    def paste(self, text: str) -> None:
        """Bracketed paste of `text` (as ao types messages)."""
        buffer = f"t{os.getpid()}"
        self.run("load-buffer", "-b", buffer, "-", input=text.encode())
        self.run("paste-buffer", "-p", "-d", "-b", buffer, "-t", self.target)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.target, *keys)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 30, *, absent: bool = False) -> str:
        """Poll the screen until `pattern` (text or regex) shows (or, with `absent`, is gone)."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))

        def check() -> str | None:
            screen = self.capture()
            found = bool(regex.search(screen))
            return screen if found != absent else None

        try:
            return poll(check, timeout, interval=0.05)
        except AssertionError:
            raise AssertionError(f"screen {'still shows' if absent else 'never showed'} {regex.pattern!r} "
                                 f"within {timeout}s; last screen:\n{self.capture()}") from None

    def kill_server(self) -> None:
        self.run("kill-server", check=False)


# Claude Code 2.1.197 in a 200x50 pane collapses a paste of more than 800 characters or more than
# 3 lines into a placeholder on the input line: `[Pasted text #N]` or `[Pasted text #N +K lines]`.
COLLAPSED_PASTE = re.compile(r"^\u276f\u00a0.*\[Pasted text #\d+(?: \+\d+ lines)?\]", re.MULTILINE)
PASTE_COLLAPSE_CHARS, PASTE_COLLAPSE_LINES = 800, 3


def input_line_shows(text: str) -> re.Pattern[str]:
    """What the live input line (`❯` + no-break space, at column 0) looks like once `text` is pasted."""
    if len(text) > PASTE_COLLAPSE_CHARS or len(text.splitlines()) > PASTE_COLLAPSE_LINES:
        return COLLAPSED_PASTE
    first = text.splitlines()[0][:100].replace("\t", "    ") if text else ""
    return re.compile("^\u276f\u00a0" + re.escape(first), re.MULTILINE)


def is_idle(screen: str) -> bool:
    """The input box is drawn and no turn is running (for tests and exploring; the classifier is elsewhere)."""
    return IDLE_HINT in screen and WORKING_TEXT not in screen
