"""zellij runtime (zellij >= 0.44.2): background sessions from a generated KDL layout.

zellij has no per-pane environment, no exit status for a pane's command in `list-sessions`,
and no in-place respawn, so this adapter brings its own:
- each session runs a constant launcher (`env K=V ... /bin/sh -c LAUNCHER`) that records the
  agent's pid and, when it ends, its exit status in ao's state folder (`<state>/<name>.pid`,
  `<name>.status`); `observe()` is ONE `list-sessions` call plus reading those small files;
- the ownership stamp lives in `<state>/<name>.json`, written before the session starts;
- `delete-session --force` removes a session and its resurrection data (zellij would otherwise
  resurrect a killed session, agent included); a relaunch deletes and creates again;
- `ZELLIJ_SOCKET_DIR` is a short private folder per data dir (socket paths are limited to about
  100 bytes, less on macOS), and session names that would not fit are shortened with a hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import AoError, RuntimeFailure, RuntimeMissing
from ..paths import write_private
from .base import CommandResult, Launch, Observed, Stamp, Started

MIN_VERSION = (0, 44, 2)  # --pane-id on paste/send-keys/dump-screen, sessions without clients
TIMEOUT_SECONDS = 15
AGENT_PANE = "terminal_0"  # the layout has exactly one pane: the agent's
SOCKET_PATH_LIMIT = 100
INSTALL_HINT = "install zellij 0.44.2 or newer (https://zellij.dev/documentation/installation, e.g. `cargo install --locked zellij`)"
# Records the agent's pid (the inner sh execs the agent, keeping its pid) and its exit status.
# Absolute paths: the agent's PATH comes from the manifest and may not hold /bin.
LAUNCHER = (
    'state=$1; shift; /bin/sh -c \'echo $$ > "$0"; exec "$@"\' "$state.pid" "$@"; code=$?; '
    'echo "$code" > "$state.status.tmp"; /bin/mv "$state.status.tmp" "$state.status"; exit "$code"'
)
_NO_SESSIONS = re.compile(r"no active zellij sessions", re.IGNORECASE)


Runner = Callable[[Sequence[str], dict[str, str], str | None], CommandResult]


def _subprocess_runner(argv: Sequence[str], env: dict[str, str], input: str | None) -> CommandResult:
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, errors="backslashreplace",
                              env=env, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailure(f"zellij {argv[1] if len(argv) > 1 else ''} did not answer within {TIMEOUT_SECONDS}s") from exc
    return CommandResult(proc.returncode, proc.stdout, proc.stderr.strip())


def zellij_version(binary: str) -> tuple[int, ...] | None:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(x) for x in found.groups() if x is not None) if found else None


def kdl_string(value: str) -> str:
    """A KDL string literal: quoted, with backslashes, quotes and control characters escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def layout(launch: Launch, state: Path) -> str:
    """The KDL layout of one agent session: one borderless pane running the launcher."""
    env_args = [f"{key}={value}" for key, value in launch.env]
    args = [*env_args, "/bin/sh", "-c", LAUNCHER, "ao-launch", str(state), *launch.argv]
    lines = [
        "layout {",
        '    pane command="/usr/bin/env" name="agent" borderless=true close_on_exit=false {',
        f"        cwd {kdl_string(launch.cwd)}",
        "        args " + " ".join(kdl_string(a) for a in args),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


class ZellijRuntime:
    name = "zellij"

    def __init__(self, socket_dir: Path, state_dir: Path, *, binary: str | None = None,
                 runner: Runner = _subprocess_runner) -> None:
        self.socket_dir = socket_dir
        self.state_dir = state_dir
        self._binary = binary
        self._runner = runner
        self._env = {k: v for k, v in os.environ.items() if not k.startswith(("AO_", "ZELLIJ"))}
        self._env["ZELLIJ_SOCKET_DIR"] = str(socket_dir)

    # ------------------------------------------------------------ plumbing

    @property
    def binary(self) -> str:
        if self._binary is None:
            found = shutil.which("zellij")
            if not found:
                raise RuntimeMissing("zellij is not installed", hint=INSTALL_HINT)
            version = zellij_version(found)
            if version is None or version < MIN_VERSION:
                shown = ".".join(map(str, version)) if version else "unknown"
                raise RuntimeMissing(f"zellij {shown} is too old; ao needs 0.44.2 or newer", hint=INSTALL_HINT)
            self._binary = found
        return self._binary

    def run(self, *args: str, input: str | None = None, check: bool = True) -> CommandResult:
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        result = self._runner([self.binary, *args], self._env, input)
        if check and result.returncode != 0:
            raise RuntimeFailure(f"zellij {args[0]} failed: {result.stderr or result.stdout.strip() or f'exit {result.returncode}'}")
        return result

    def session_name(self, session_id: str) -> str:
        """The zellij name of a session: its ID, shortened with a hash when the socket path would be too long."""
        room = SOCKET_PATH_LIMIT - len(str(self.socket_dir)) - len("/contract_version_1/")
        if len(session_id) <= room:
            return session_id
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        if room < 10:
            return digest[: max(room, 1)]
        return f"{session_id[: room - 9]}-{digest[:8]}"

    def _state(self, name: str) -> Path:
        return self.state_dir / name

    def _read(self, path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def _action(self, session_id: str, *args: str) -> CommandResult:
        return self.run("--session", self.session_name(session_id), "action", *args)

    # ------------------------------------------------------------ observe

    def observe(self) -> dict[str, Observed]:
        result = self.run("list-sessions", "--no-formatting", check=False)
        if result.returncode != 0:
            if _NO_SESSIONS.search(result.stdout + result.stderr):
                return {}
            raise RuntimeFailure(f"cannot observe zellij sessions: {result.stderr or result.stdout.strip()}")
        sessions: dict[str, Observed] = {}
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            name = line.split()[0]
            live = self._live(name, exited="EXITED" in line)
            sessions[live.session_id] = live
        return sessions

    def _live(self, name: str, *, exited: bool) -> Observed:
        state = self._state(name)
        try:
            meta = json.loads(self._read(Path(f"{state}.json")) or "null")
            stamp, session_id = Stamp(**meta["stamp"]), meta["session_id"]
        except (ValueError, TypeError, KeyError):
            stamp, session_id = None, name  # no (readable) stamp: not a session ao can claim
        status = self._read(Path(f"{state}.status"))
        pid_text = self._read(Path(f"{state}.pid"))
        pid = int(pid_text) if pid_text and pid_text.isdigit() else None
        if status is not None and status.lstrip("-").isdigit():
            code = int(status)
            dead_at = Path(f"{state}.status").stat().st_mtime
            signal = code - 128 if code > 128 else None
            return Observed(session_id, False, pid, None if signal else code, signal, dead_at, stamp, self.name)
        if exited:
            return Observed(session_id, False, pid, None, None, None, stamp, self.name)
        alive = pid is None or _pid_alive(pid)  # no pid file yet: the launcher is starting
        return Observed(session_id, alive, pid, None, None, None, stamp, self.name)

    def probe(self, session_id: str) -> Observed | None:
        return self.observe().get(session_id)

    # ------------------------------------------------------------ lifecycle

    def create(self, launch: Launch) -> int | None:
        name = self.session_name(launch.session_id)
        state = self._state(name)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for suffix in (".pid", ".status"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)
        Path(f"{state}.json").write_text(json.dumps({
            "session_id": launch.session_id,
            "stamp": {"owner": launch.stamp.owner, "project": launch.stamp.project, "kind": launch.stamp.kind,
                      "worker": launch.stamp.worker, "spec_hash": launch.stamp.spec_hash,
                      "registry": launch.stamp.registry},
        }))
        layout_path = Path(f"{state}.kdl")
        write_private(layout_path, layout(launch, state))  # it holds the session's environment
        # A stale entry (a session zellij could resurrect) would block the name: clear it first.
        self.run("delete-session", "--force", name, check=False)
        self.run("attach", "--create-background", name, "options", "--default-layout", str(layout_path),
                 "--session-serialization", "false")
        return None  # the launcher writes the pid; the next observe() reads it

    def respawn(self, launch: Launch) -> int | None:
        # zellij cannot replace a pane's command in place: the session is recreated under its name.
        self.kill(launch.session_id)
        return self.create(launch)

    def create_many(self, launches: Sequence[Launch]) -> list[Started]:
        # zellij starts one session per call: nothing to batch.
        return [_started(launch, self.create) for launch in launches]

    def respawn_many(self, launches: Sequence[Launch], *, capture: int = 0) -> list[Started]:
        results = []
        for launch in launches:
            output = ""
            if capture:
                try:
                    output = self.capture(launch.session_id, capture)
                except AoError:
                    pass  # no last words to report: the session is restarted all the same
            results.append(replace(_started(launch, self.respawn), last_output=output))
        return results

    def kill(self, session_id: str) -> None:
        name = self.session_name(session_id)
        result = self.run("delete-session", "--force", name, check=False)
        if result.returncode != 0 and not re.search(r"not found|no session|does not exist|No active",
                                                    result.stdout + result.stderr, re.IGNORECASE):
            raise RuntimeFailure(f"zellij delete-session failed: {result.stderr or result.stdout.strip()}")
        for suffix in (".pid", ".status", ".json", ".kdl"):
            Path(f"{self._state(name)}{suffix}").unlink(missing_ok=True)

    def capture(self, session_id: str, lines: int) -> str:
        result = self._action(session_id, "dump-screen", "--pane-id", AGENT_PANE, "--full")
        rows = result.stdout.rstrip("\n").split("\n")
        while rows and not rows[-1].strip():
            rows.pop()
        return "\n".join(rows[-lines:])

    def screens(self, session_ids: Sequence[str]) -> dict[str, str]:
        # zellij dumps one pane per call; a session gone in the meantime is left out.
        screens: dict[str, str] = {}
        for sid in session_ids:
            try:
                screens[sid] = self._action(sid, "dump-screen", "--pane-id", AGENT_PANE).stdout
            except RuntimeFailure:
                continue
        return screens

    def paste(self, session_id: str, text: str) -> None:
        self._action(session_id, "paste", "--pane-id", AGENT_PANE, "--", text)  # text may start with "-"

    def press_enter(self, session_id: str) -> None:
        self._action(session_id, "send-keys", "--pane-id", AGENT_PANE, "Enter")

    def cursor_line(self, session_id: str) -> str:
        # zellij does not report the cursor; the last non-blank line of the screen is the input line.
        screen = self._action(session_id, "dump-screen", "--pane-id", AGENT_PANE).stdout
        rows = [row for row in screen.split("\n") if row.strip()]
        return rows[-1] if rows else ""

    def attach_argv(self, session_id: str) -> list[str]:
        return ["env", f"ZELLIJ_SOCKET_DIR={self.socket_dir}", self.binary, "attach", self.session_name(session_id)]


def _started(launch: Launch, start: Callable[[Launch], int | None]) -> Started:
    try:
        return Started(launch.session_id, start(launch))
    except AoError as exc:
        return Started(launch.session_id, error=exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
