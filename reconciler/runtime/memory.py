"""An in-memory runtime for unit tests of the planner and executor. Never used by `ao` itself."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..errors import RuntimeFailure
from .base import Launch, Observed, Started

_pids = itertools.count(1000)


@dataclass
class MemorySession:
    """A session of the in-memory runtime and what was typed into it."""

    launch: Launch
    live: Observed
    output: list[str] = field(default_factory=list)
    launches: int = 1


def _started(launch: Launch, start) -> Started:
    try:
        return Started(launch.session_id, start(launch))
    except RuntimeFailure as exc:
        return Started(launch.session_id, error=exc)


class MemoryRuntime:
    name = "memory"

    def __init__(self) -> None:
        self.sessions: dict[str, MemorySession] = {}
        self.calls: list[tuple[str, str]] = []

    def observe(self) -> dict[str, Observed]:
        self.calls.append(("observe", ""))
        return {sid: s.live for sid, s in self.sessions.items()}

    def _start(self, launch: Launch) -> Observed:
        return Observed(launch.session_id, alive=True, pid=next(_pids), stamp=launch.stamp)

    def create(self, launch: Launch) -> int | None:
        self.calls.append(("create", launch.session_id))
        if launch.session_id in self.sessions:
            raise RuntimeFailure(f"duplicate session: {launch.session_id}")
        self.sessions[launch.session_id] = MemorySession(launch, self._start(launch))
        return self.sessions[launch.session_id].live.pid

    def respawn(self, launch: Launch) -> int | None:
        self.calls.append(("respawn", launch.session_id))
        session = self.sessions.get(launch.session_id)
        if session is None:
            raise RuntimeFailure(f"can't find session: {launch.session_id}")
        session.launch, session.live = launch, self._start(launch)
        session.launches += 1
        return session.live.pid

    def create_many(self, launches: Sequence[Launch]) -> list[Started]:
        return [_started(launch, self.create) for launch in launches]

    def respawn_many(self, launches: Sequence[Launch], *, capture: int = 0) -> list[Started]:
        results = []
        for launch in launches:
            session = self.sessions.get(launch.session_id)
            output = "\n".join(session.output[-capture:]) if session and capture else ""
            results.append(replace(_started(launch, self.respawn), last_output=output))
        return results

    def kill(self, session_id: str) -> None:
        self.calls.append(("kill", session_id))
        self.sessions.pop(session_id, None)

    def capture(self, session_id: str, lines: int) -> str:
        if session_id not in self.sessions:
            raise RuntimeFailure(f"can't find session: {session_id}")
        return "\n".join(self.sessions[session_id].output[-lines:])

    def screens(self, session_ids: Sequence[str]) -> dict[str, str]:
        return {sid: "\n".join(self.sessions[sid].output) for sid in session_ids if sid in self.sessions}

    def probe(self, session_id: str) -> Observed | None:
        session = self.sessions.get(session_id)
        return session.live if session else None

    def paste(self, session_id: str, text: str) -> None:
        self.calls.append(("paste", session_id))
        self.sessions[session_id].output.append(text)

    def press_enter(self, session_id: str) -> None:
        self.calls.append(("enter", session_id))

    def cursor_line(self, session_id: str) -> str:
        return ""

    def attach_argv(self, session_id: str) -> list[str]:
        return ["true", session_id]

    # ------------------------------------------------------------ test controls

    def exit(self, session_id: str, status: int | None = 0, *, signal: int | None = None, at: float | None = None) -> None:
        """Make the agent of `session_id` exit, as a crash or a clean finish would."""
        session = self.sessions[session_id]
        session.live = replace(session.live, alive=False, exit_status=status, exit_signal=signal, dead_at=at)

    def add_foreign(self, live: Observed) -> None:
        """A session ao did not create (no stamp, or another owner's)."""
        self.sessions[live.session_id] = MemorySession(
            Launch(live.session_id, ("true",), "/", (), live.stamp), live  # type: ignore[arg-type]
        )
