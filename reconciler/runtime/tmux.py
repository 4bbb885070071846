"""tmux runtime: one private server per data dir, every call through `TmuxRuntime.run`.

Facts this relies on (docs/tmux-facts.md): `remain-on-exit on` in the server's own config keeps a
dead agent's pane with its exit status; `list-panes -a -F` observes every session in one call;
`=name` targets match exactly (plain names are prefix-matched); user options (`@ao-*`) carry
the ownership stamp and survive `respawn-pane`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import RuntimeFailure, RuntimeMissing
from ..paths import private_dir, write_private
from .base import CommandResult, Launch, Observed, Stamp, Started

SEPARATOR = "\x1f"
SCREEN_END = "\x1fao-screen-end\x1f"
SCREENS_PER_CALL = 40  # captures per tmux client call, well under tmux's command-length limit
TIMEOUT_SECONDS = 15
# Launches per tmux call: tmux slows as it holds more sessions, so fewer calls is what makes a big pass
# fast (1000 sessions: 1 per call 12.1 s, 10 per call 5.2 s, 20 per call 4.8 s; more threads do not help).
LAUNCHES_PER_CALL = 20
# tmux refuses a command whose arguments (each with its NUL) exceed 16364 bytes ("command too long",
# docs/tmux-facts.md); a batch stays under it. A launch too long alone is sent alone, and fails alone.
BATCH_BYTES = 16_000
STARTED = "\x1fao-started\x1f"  # printed after each started launch of a batch, with its pid
CAPTURED = "\x1fao-captured\x1f"  # printed after the replaced agent's last output
CONFIG = """\
# Written by ao for its private tmux server; changes here are overwritten.
# An agent that exits leaves a dead pane holding its exit status.
set -g remain-on-exit on
set -g history-limit 50000
set -g default-size 200x50
set -g base-index 0
set -g status-left-length 40
set -g status-left "[ao #S] "
"""
# The ownership stamp: one user option holding every field, since tmux spends on each `set-option` about
# as much as on starting the session (it refreshes every session after each). Sessions started by older
# versions carry one option per field (STAMP_OPTIONS): still read.
STAMP_OPTION = "@ao-stamp"
STAMP_SEPARATOR = "\x1e"
STAMP_OPTIONS = ("@ao-owner", "@ao-project", "@ao-kind", "@ao-worker", "@ao-spec", "@ao-registry")
# One `list-panes -a` line per pane: 9 fields. tmux spends most of a listing formatting it (at 1000
# sessions a pane's dead-status fields and the stamp cost as much as the rest), so those come from
# conditionals that tmux expands only when they apply: a live pane gives "0" and three empty fields,
# and the old one-option-per-field stamp is read only where the single option is missing.
_DEAD = SEPARATOR.join(("#{pane_dead}", "#{pane_dead_status}", "#{pane_dead_signal}", "#{pane_dead_time}"))
_STAMP = "#{?#{%s},#{%s},%s}" % (STAMP_OPTION, STAMP_OPTION,
                                 STAMP_SEPARATOR.join(f"#{{{option}}}" for option in STAMP_OPTIONS))
FORMAT = SEPARATOR.join(("#{session_name}", "#{pane_pid}", "#{?pane_dead,%s,0%s}" % (_DEAD, SEPARATOR * 3),
                         "#{window_activity}", "#{start_time}", _STAMP))
# No server, or one that exits as the client asks (tmux ends its server with its last session): no
# session is left either way.
_NO_SERVER = re.compile(r"no server running|error connecting to|No such file or directory|server exited unexpectedly")
# Variables of the calling environment that must not leak into the server and its agents.
# `CI` too: agents in ao's sessions are interactive, and some CLIs (Gemini CLI) turn non-interactive
# and exit when they inherit it from a controller that runs under CI. spec.agent.env may still set it.
_PRIVATE_ENV = re.compile(r"^(AO_|TMUX$|TMUX_PANE$|CI$)")
INSTALL_HINT = "install it with `apt-get install tmux` (Debian/Ubuntu) or `brew install tmux` (macOS)"


def tmux_binary() -> str:
    found = shutil.which("tmux")
    if not found:
        raise RuntimeMissing("tmux is not installed", hint=INSTALL_HINT)
    return found


def _int(text: str) -> int | None:
    return int(text) if text.strip().lstrip("-").isdigit() else None


def _parse(line: str) -> Observed:
    name, pid, dead, status, signal, dead_at, active_at, server_started, stamp = line.split(SEPARATOR)
    values = stamp.split(STAMP_SEPARATOR)
    is_dead = dead == "1"
    return Observed(
        session_id=name,
        alive=not is_dead,
        pid=_int(pid),
        exit_status=_int(status) if is_dead else None,
        exit_signal=_int(signal) if is_dead else None,
        dead_at=float(dead_at) if is_dead and _int(dead_at) else None,
        stamp=Stamp(*(values + [""] * len(STAMP_OPTIONS))[:len(STAMP_OPTIONS)]) if values[0] else None,
        active_at=float(active_at) if _int(active_at) else None,
        server_started=float(server_started) if _int(server_started) else None,
    )


def literal(text: str) -> str:
    """A string tmux format-expands (`-c` of new-session and respawn-pane, in tmux 3.3a), kept as is:
    `#(cmd)` would run cmd and `#S` would change the working directory."""
    return text.replace("#", "##")


def escaped(arg: str) -> str:
    """`arg` as tmux will pass it on: tmux reads an argument that ends in `;` as the end of a command
    (`a;` is `a` then a new command) and a final `\\;` as a literal `;`. A backslash before the final
    `;` keeps any such argument as it is (docs/tmux-facts.md)."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def sequence(commands: Iterable[Sequence[str]]) -> list[str]:
    """One tmux argv that runs `commands` in order: every argument escaped, a lone `;` between them."""
    argv: list[str] = []
    for command in commands:
        if argv:
            argv.append(";")
        argv += [escaped(arg) for arg in command]
    return argv


def _size(argv: Sequence[str]) -> int:
    return sum(len(arg.encode("utf-8", "surrogateescape")) + 1 for arg in argv)


def _trimmed(rows: list[str], lines: int) -> str:
    """A dead pane's last lines, without the "Pane is dead (...)" line tmux appends (not agent output)."""
    rows = list(rows)
    while rows and (not rows[-1].strip() or rows[-1].startswith("Pane is dead")):
        rows.pop()
    return "\n".join(rows[-lines:])


def _parse_batch(stdout: str, lines: int) -> list[tuple[int | None, str]]:
    """(pid, last output) of each launch of a batch that started, in order; tmux stops a sequence at
    its first failing command, so the launches after the last marker did not run."""
    started: list[tuple[int | None, str]] = []
    rows: list[str] = []
    output = ""
    for row in stdout.split("\n"):
        if row == CAPTURED:
            output, rows = _trimmed(rows, lines), []
        elif row.startswith(STARTED):
            started.append((_int(row.removeprefix(STARTED)), output))
            output, rows = "", []
        else:
            rows.append(row)
    return started


def exact(session_id: str) -> str:
    """Pane target of a session's active pane, matched exactly (never by prefix)."""
    return f"={session_id}:"


class TmuxRuntime:
    name = "tmux"

    def __init__(self, socket: Path, config: Path, *, binary: str | None = None) -> None:
        self.socket = socket
        self.config = config
        self._binary = binary
        self._env = {k: v for k, v in os.environ.items() if not _PRIVATE_ENV.match(k)}
        # Each session's stamp as last observed or written: a relaunch that keeps it does not write it again.
        self._stamps: dict[str, Stamp | None] = {}
        self._parsed: dict[str, Observed] = {}  # the last listing's lines, parsed

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = tmux_binary()
        return self._binary

    def _ensure_config(self) -> None:
        try:
            if self.config.read_text() == CONFIG:
                return
        except FileNotFoundError:
            pass
        private_dir(self.config.parent)
        write_private(self.config, CONFIG)
        self.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def run(self, *args: str, input: str | None = None, check: bool = True, path: str | None = None) -> CommandResult:
        """Run one tmux command (or `;`-joined sequence) against ao's private server."""
        argv = [self.binary, "-S", str(self.socket), "-f", str(self.config), *args]
        # tmux gives a new pane the PATH of the client that asked for it, whatever `-e PATH=` says.
        env = self._env if path is None else {**self._env, "PATH": path}
        try:
            proc = subprocess.run(
                argv, input=input, capture_output=True, text=True, errors="backslashreplace",
                env=env, timeout=TIMEOUT_SECONDS, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeFailure(f"tmux {args[0]} did not answer within {TIMEOUT_SECONDS}s") from exc
        result = CommandResult(proc.returncode, proc.stdout, proc.stderr.strip())
        if check and result.returncode != 0:
            from .pty import no_pty_left

            raise no_pty_left(result.stderr) or RuntimeFailure(
                f"tmux {args[0]} failed: {result.stderr or f'exit {result.returncode}'}")
        return result

    # ------------------------------------------------------------ observe

    def observe(self) -> dict[str, Observed]:
        sessions = self._list_panes()
        if any(not s.alive and s.exit_status is None and s.exit_signal is None for s in sessions.values()):
            # tmux 3.3a sometimes misses the SIGCHLD of an agent that exits while a client command
            # runs: the pane is dead, the agent a zombie, its status unknown. Any later child exit
            # makes the server reap it, so run a trivial job and look once more.
            self.run("run-shell", "true", check=False)
            sessions = self._list_panes()
        self._stamps = {sid: live.stamp for sid, live in sessions.items()}
        return sessions

    def _list_panes(self) -> dict[str, Observed]:
        result = self.run("list-panes", "-a", "-F", FORMAT, check=False)
        if result.returncode != 0:
            if _NO_SERVER.search(result.stderr):
                return {}  # no server yet: truly no sessions
            raise RuntimeFailure(f"cannot observe tmux sessions: {result.stderr}")
        sessions: dict[str, Observed] = {}
        parsed: dict[str, Observed] = {}
        for line in filter(None, result.stdout.split("\n")):  # not splitlines(): it splits at the stamp's \x1e
            # A pane whose line did not change since the last listing is the same (frozen) Observed.
            live = parsed[line] = self._parsed.get(line) or _parse(line)
            sessions.setdefault(live.session_id, live)  # a user split the window: the first pane is the agent's
        self._parsed = parsed
        return sessions

    def probe(self, session_id: str) -> Observed | None:
        """One session, in one call: None when there is no such session."""
        result = self.run("display-message", "-p", "-t", exact(session_id), FORMAT, check=False)
        if result.returncode != 0:
            return None
        live = _parse(result.stdout.rstrip("\n"))
        # display-message with a target that matches nothing prints empty fields and succeeds.
        return live if live.session_id == session_id else None

    # ------------------------------------------------------------ lifecycle

    @staticmethod
    def _argv(argv: tuple[str, ...]) -> list[str]:
        # tmux hands a single argument to `sh -c`; a fixed wrapper keeps it an exec, not a shell line.
        return ["/bin/sh", "-c", 'exec "$0" "$@"', *argv] if len(argv) == 1 else list(argv)

    @staticmethod
    def _stamp_commands(session_id: str, stamp: Stamp) -> list[list[str]]:
        values = (stamp.owner, stamp.project, stamp.kind, stamp.worker, stamp.spec_hash, stamp.registry)
        return [["set-option", "-t", exact(session_id), STAMP_OPTION, STAMP_SEPARATOR.join(values)]]

    @staticmethod
    def _env_args(env: tuple[tuple[str, str], ...]) -> list[str]:
        return [arg for key, value in env for arg in ("-e", f"{key}={value}")]

    def _launch_commands(self, launch: Launch, *, respawn: bool, capture: int) -> list[list[str]]:
        """The commands that start one launch: (capture the old agent's last lines,) start the agent,
        stamp it, print its pid after the STARTED marker."""
        target = exact(launch.session_id)
        commands: list[list[str]] = []
        if respawn and capture:
            commands += [["capture-pane", "-p", "-J", "-S", f"-{max(capture, 1)}", "-t", target],
                         ["display-message", "-p", CAPTURED]]
        start = ["respawn-pane", "-k", "-t", target] if respawn else ["new-session", "-d", "-s", launch.session_id]
        commands.append([*start, "-c", literal(launch.cwd), *self._env_args(launch.env), "--",
                         *self._argv(launch.argv)])
        if not respawn or self._stamps.get(launch.session_id) != launch.stamp:  # respawn-pane keeps it
            commands += self._stamp_commands(launch.session_id, launch.stamp)
        commands.append(["display-message", "-p", "-t", target, STARTED + "#{pane_pid}"])
        return commands

    def _start_many(self, launches: Sequence[Launch], *, respawn: bool, capture: int = 0) -> list[Started]:
        """Start the launches a batch per tmux call. A batch stops at its first failing launch: those
        before it started, that one is tried alone (so its error is its own), the rest go on batched."""
        self._ensure_config()
        verb = "respawn-pane" if respawn else "new-session"
        results: list[Started] = []
        pending = list(launches)
        alone = False
        while pending:
            path = dict(pending[0].env).get("PATH")
            chunk: list[Launch] = []
            argv: list[str] = []
            for launch in pending[:1 if alone else LAUNCHES_PER_CALL]:
                # tmux gives new panes the client's PATH: one call serves launches of one PATH only.
                if chunk and dict(launch.env).get("PATH") != path:
                    break
                commands = self._launch_commands(launch, respawn=respawn, capture=capture)
                more = sequence(commands)
                if chunk and _size(argv) + 1 + _size(more) > BATCH_BYTES:
                    break
                argv += [";", *more] if argv else more
                chunk.append(launch)
            try:
                result = self.run(*argv, check=False, path=path)
            except RuntimeFailure as exc:  # no answer: what happened to the batch is unknown
                results += [Started(launch.session_id, error=exc) for launch in chunk]
                pending, alone = pending[len(chunk):], False
                continue
            started = _parse_batch(result.stdout, capture)[:len(chunk)]
            self._stamps.update((launch.session_id, launch.stamp) for launch in chunk[:len(started)])
            results += [Started(launch.session_id, pid, last_output=output)
                        for launch, (pid, output) in zip(chunk, started, strict=False)]
            pending = pending[len(started):]
            if len(started) == len(chunk):
                alone = False
            elif len(chunk) == 1:
                from .pty import no_pty_left

                error = no_pty_left(result.stderr) or RuntimeFailure(
                    f"tmux {verb} failed: {result.stderr or f'exit {result.returncode}'}")
                results.append(Started(chunk[0].session_id, error=error))
                pending, alone = pending[1:], False
            else:
                alone = True  # the launch that stopped the batch, on its own
        return results

    @staticmethod
    def _one(started: Started) -> int | None:
        if started.error is not None:
            raise started.error
        return started.pid

    def create(self, launch: Launch) -> int | None:
        return self._one(self._start_many([launch], respawn=False)[0])

    def respawn(self, launch: Launch) -> int | None:
        return self._one(self._start_many([launch], respawn=True)[0])

    def create_many(self, launches: Sequence[Launch]) -> list[Started]:
        return self._start_many(launches, respawn=False)

    def respawn_many(self, launches: Sequence[Launch], *, capture: int = 0) -> list[Started]:
        return self._start_many(launches, respawn=True, capture=capture)

    def kill(self, session_id: str) -> None:
        self._stamps.pop(session_id, None)
        result = self.run("kill-session", "-t", f"={session_id}", check=False)
        if result.returncode != 0 and not re.search(r"can't find session|no current target|no server running|error connecting|server exited", result.stderr):
            raise RuntimeFailure(f"tmux kill-session failed: {result.stderr}")

    def screens(self, session_ids: Sequence[str]) -> dict[str, str]:
        """The visible screen of each session, a few sessions per tmux call; a session that has
        gone in the meantime is left out."""
        screens: dict[str, str] = {}
        for start in range(0, len(session_ids), SCREENS_PER_CALL):
            chunk = list(session_ids[start:start + SCREENS_PER_CALL])
            args: list[str] = []
            for sid in chunk:
                args += ["capture-pane", "-p", "-t", exact(sid), ";", "display-message", "-p", SCREEN_END, ";"]
            result = self.run(*args[:-1], check=False)
            parts = result.stdout.split(SCREEN_END + "\n")
            if result.returncode == 0 and len(parts) == len(chunk) + 1:
                screens.update(zip(chunk, parts, strict=False))
                continue
            for sid in chunk:  # one session vanished and stopped the sequence: ask one by one
                single = self.run("capture-pane", "-p", "-t", exact(sid), check=False)
                if single.returncode == 0:
                    screens[sid] = single.stdout
        return screens

    def capture(self, session_id: str, lines: int) -> str:
        result = self.run("capture-pane", "-p", "-J", "-S", f"-{max(lines, 1)}", "-t", exact(session_id))
        return _trimmed(result.stdout.rstrip("\n").split("\n"), lines)

    # ------------------------------------------------------------ typing into the agent

    def paste(self, session_id: str, text: str) -> None:
        """One bracketed paste (`-p`): a multi-line text arrives as one input, not one per line."""
        buffer = f"ao-send-{os.getpid()}"
        self.run("load-buffer", "-b", buffer, "-", ";",
                 "paste-buffer", "-p", "-d", "-b", buffer, "-t", exact(session_id), input=text)

    def press_enter(self, session_id: str) -> None:
        self.run("send-keys", "-t", exact(session_id), "Enter")

    def cursor_line(self, session_id: str) -> str:
        """The agent's input line: the logical line under the cursor, wrapped rows joined."""
        row = _int(self.run("display-message", "-p", "-t", exact(session_id), "#{cursor_y}").stdout.strip())
        if row is None:
            return ""
        # -J joins rows that tmux wrapped, so the last line printed is the cursor's whole line.
        result = self.run("capture-pane", "-p", "-J", "-S", str(max(row - 20, 0)), "-E", str(row),
                          "-t", exact(session_id))
        lines = result.stdout.rstrip("\n").split("\n")
        return lines[-1] if lines else ""

    def attach_argv(self, session_id: str) -> list[str]:
        return [self.binary, "-S", str(self.socket), "attach-session", "-t", f"={session_id}"]

    def kill_server(self) -> None:
        self.run("kill-server", check=False)
