"""All the multiplexers of one data dir behind the one runtime protocol.

Sessions may live on tmux or on zellij (a project chooses; `auto` picks zellij when it is
installed). The fleet observes each installed runtime once per pass, remembers where each session
lives, and sends every operation to the right one. Moving a session to another runtime is a
respawn: it is stopped where it is and started where it should be.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..errors import AoError, RuntimeMissing
from ..paths import DataDir
from .base import Launch, Observed, Runtime, Started


class Fleet:
    name = "fleet"

    def __init__(self, runtimes: Mapping[str, Runtime], *, installed: Mapping[str, bool] | None = None) -> None:
        self.runtimes = dict(runtimes)
        self._installed = dict(installed) if installed is not None else {
            name: shutil.which(name) is not None for name in self.runtimes}
        self._where: dict[str, str] = {}

    def installed(self, name: str) -> bool:
        return self._installed.get(name, False)

    def resolve(self, declared: str) -> str:
        """`auto` is zellij when it is installed, else tmux; explicit names stay as they are."""
        if declared != "auto":
            return declared
        return "zellij" if self.installed("zellij") and "zellij" in self.runtimes else "tmux"

    def _runtime(self, name: str) -> Runtime:
        runtime = self.runtimes.get(name)
        if runtime is None:
            raise RuntimeMissing(f"unknown runtime {name!r}")
        return runtime

    def observe(self) -> dict[str, Observed]:
        seen: dict[str, Observed] = {}
        usable = [name for name in self.runtimes if self.installed(name)]
        if not usable:
            self._runtime("tmux").observe()  # raises the one-line "tmux is not installed" error
        for name in usable:
            for sid, live in self.runtimes[name].observe().items():
                seen.setdefault(sid, live)
        self._where = {sid: live.runtime for sid, live in seen.items()}
        return seen

    def where(self, session_id: str) -> str | None:
        """The runtime hosting `session_id`: from the last observation, else by asking each."""
        if session_id in self._where:
            return self._where[session_id]
        for name, runtime in self.runtimes.items():
            if self.installed(name) and runtime.probe(session_id) is not None:
                self._where[session_id] = name
                return name
        return None

    def _host(self, session_id: str) -> Runtime:
        name = self.where(session_id)
        if name is None:
            raise AoError(f"session {session_id} has no live {' or '.join(self.runtimes)} session")
        return self.runtimes[name]

    # ------------------------------------------------------------ lifecycle

    def create(self, launch: Launch) -> int | None:
        pid = self._runtime(launch.runtime).create(launch)
        self._where[launch.session_id] = launch.runtime
        return pid

    def respawn(self, launch: Launch) -> int | None:
        current = self.where(launch.session_id)
        if current is not None and current != launch.runtime:
            self.runtimes[current].kill(launch.session_id)
            return self.create(launch)
        pid = self._runtime(launch.runtime).respawn(launch)
        self._where[launch.session_id] = launch.runtime
        return pid

    def create_many(self, launches: Sequence[Launch]) -> list[Started]:
        """Each runtime starts its own launches in one batch; the results come back in launch order."""
        by_runtime: dict[str, list[Launch]] = {}
        for launch in launches:
            by_runtime.setdefault(launch.runtime, []).append(launch)
        results: dict[str, Started] = {}
        for name, batch in by_runtime.items():
            try:
                started = self._runtime(name).create_many(batch)
            except AoError as exc:  # an unknown runtime: each of its launches fails with the reason
                started = [Started(launch.session_id, error=exc) for launch in batch]
            for one in started:
                results[one.session_id] = one
                if one.ok:
                    self._where[one.session_id] = name
        return [results[launch.session_id] for launch in launches]

    def respawn_many(self, launches: Sequence[Launch], *, capture: int = 0) -> list[Started]:
        """In place where the session already runs on the right runtime; a session that moves to another
        runtime is stopped where it is (its last lines read first) and created on the new one."""
        results: dict[str, Started] = {}
        in_place: dict[str, list[Launch]] = {}
        moving: list[Launch] = []
        last_words: dict[str, str] = {}
        for launch in launches:
            current = self.where(launch.session_id)
            if current is not None and current != launch.runtime:
                if capture:
                    try:
                        last_words[launch.session_id] = self.runtimes[current].capture(launch.session_id, capture)
                    except AoError:
                        pass
                try:
                    self.runtimes[current].kill(launch.session_id)
                except AoError as exc:
                    results[launch.session_id] = Started(launch.session_id, error=exc)
                    continue
                moving.append(launch)
            else:
                in_place.setdefault(launch.runtime, []).append(launch)
        for name, batch in in_place.items():
            try:
                started = self._runtime(name).respawn_many(batch, capture=capture)
            except AoError as exc:
                started = [Started(launch.session_id, error=exc) for launch in batch]
            for one in started:
                results[one.session_id] = one
                if one.ok:
                    self._where[one.session_id] = name
        for one in self.create_many(moving):
            results[one.session_id] = replace(one, last_output=last_words.get(one.session_id, ""))
        return [results[launch.session_id] for launch in launches]

    def kill(self, session_id: str) -> None:
        name = self.where(session_id)
        if name is not None:
            self.runtimes[name].kill(session_id)
        self._where.pop(session_id, None)

    def probe(self, session_id: str) -> Observed | None:
        name = self.where(session_id)
        return self.runtimes[name].probe(session_id) if name else None

    def capture(self, session_id: str, lines: int) -> str:
        return self._host(session_id).capture(session_id, lines)

    def screens(self, session_ids: Sequence[str]) -> dict[str, str]:
        by_runtime: dict[str, list[str]] = {}
        for sid in session_ids:
            name = self.where(sid)
            if name is not None:
                by_runtime.setdefault(name, []).append(sid)
        screens: dict[str, str] = {}
        for name, ids in by_runtime.items():
            screens.update(self.runtimes[name].screens(ids))
        return screens

    def paste(self, session_id: str, text: str) -> None:
        self._host(session_id).paste(session_id, text)

    def press_enter(self, session_id: str) -> None:
        self._host(session_id).press_enter(session_id)

    def cursor_line(self, session_id: str) -> str:
        return self._host(session_id).cursor_line(session_id)

    def attach_argv(self, session_id: str) -> list[str]:
        return self._host(session_id).attach_argv(session_id)


def fleet_for(data_dir: DataDir) -> Fleet:
    """tmux and zellij, each on its private server of this data dir."""
    from .tmux import TmuxRuntime
    from .zellij import ZellijRuntime

    return Fleet({
        "tmux": TmuxRuntime(data_dir.tmux_socket, data_dir.tmux_config),
        "zellij": ZellijRuntime(data_dir.zellij_socket_dir, data_dir.zellij_state_dir),
    })
