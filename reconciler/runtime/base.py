"""The runtime protocol (see docs/architecture.md) and the values that cross it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Stamp:
    """What ao writes on every session it creates, so it can recognise its own after a crash."""

    owner: str
    project: str
    kind: str
    worker: str
    spec_hash: str
    # The identity of the registry that created it: a session of another registry (ao.db lost or
    # replaced) is never reaped as an orphan. Empty on sessions of older versions.
    registry: str = ""


@dataclass(frozen=True)
class Observed:
    """One session as the runtime sees it right now. A live session does not mean a live agent."""

    session_id: str
    alive: bool  # the agent process (the pane's process) is running
    pid: int | None = None
    exit_status: int | None = None  # None while alive, or when the status is unknown
    exit_signal: int | None = None
    dead_at: float | None = None
    stamp: Stamp | None = None
    runtime: str = "tmux"  # which multiplexer hosts it
    active_at: float | None = None  # when the session last printed anything (whole seconds), if known
    server_started: float | None = None  # when the server hosting it started (whole seconds), if known

    def owned_by(self, owner: str) -> bool:
        return self.stamp is not None and self.stamp.owner == owner


@dataclass(frozen=True)
class CommandResult:
    """What one multiplexer command returned."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Launch:
    """Everything needed to start an agent: argv (never a shell string), cwd, env, stamp."""

    session_id: str
    argv: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str, str], ...]
    stamp: Stamp
    runtime: str = "tmux"  # which multiplexer should host it


@dataclass(frozen=True)
class Started:
    """What one launch of a batch (`create_many`, `respawn_many`) came to, for that session alone."""

    session_id: str
    pid: int | None = None  # the agent's pid when known
    error: Exception | None = None  # why this session did not start (the others of the batch may have)
    last_output: str = ""  # respawn_many with `capture`: the last lines of the agent it replaced

    @property
    def ok(self) -> bool:
        return self.error is None


class Runtime(Protocol):
    name: str

    def observe(self) -> dict[str, Observed]:
        """Every session of this runtime's private server, in one call."""
        ...

    def create(self, launch: Launch) -> int | None:
        """Start a new session running the agent; returns the agent's pid when known."""
        ...

    def respawn(self, launch: Launch) -> int | None:
        """Replace the session's agent in place (same session, new process)."""
        ...

    def create_many(self, launches: Sequence[Launch]) -> list[Started]:
        """`create` for each launch, in as few multiplexer calls as the runtime allows; one result per
        launch, in order. A launch that fails fails alone: the others still start."""
        ...

    def respawn_many(self, launches: Sequence[Launch], *, capture: int = 0) -> list[Started]:
        """`respawn` for each launch, batched like `create_many`. With `capture`, each result also holds
        the last `capture` lines the replaced agent printed, read in the same call that restarts it."""
        ...

    def kill(self, session_id: str) -> None:
        """Remove the session; a session that is already gone is not an error."""
        ...

    def capture(self, session_id: str, lines: int) -> str:
        """The last `lines` lines of the session's screen and scrollback."""
        ...

    def screens(self, session_ids: Sequence[str]) -> dict[str, str]:
        """The visible screen of each session, in as few calls as the runtime allows."""
        ...

    def probe(self, session_id: str) -> Observed | None:
        """One session, in one call; None when it does not exist."""
        ...

    def paste(self, session_id: str, text: str) -> None:
        """Type `text` into the session as one bracketed paste (no Enter)."""
        ...

    def press_enter(self, session_id: str) -> None: ...

    def cursor_line(self, session_id: str) -> str:
        """The screen line under the cursor (the agent's input line)."""
        ...

    def attach_argv(self, session_id: str) -> list[str]:
        """The command a user runs to attach a terminal to the session."""
        ...
