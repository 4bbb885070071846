"""Wake the controller the moment its tmux server exits, instead of at the next tick.

A killed server takes every session with it; the sooner the controller looks, the sooner they run
again. The server's pid is asked once (after a pass, when unknown) and watched through a pidfd
(Linux): a thread blocked in `select` costs nothing until the server exits. Where pidfds do not
exist, the next tick notices the restart as before.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable
from typing import Any


def _tmux(runtime: Any) -> Any | None:
    """The tmux runtime behind `runtime` (itself, or the fleet's), if any."""
    if getattr(runtime, "name", None) == "tmux":
        return runtime
    runtimes = getattr(runtime, "runtimes", None)
    return runtimes.get("tmux") if isinstance(runtimes, dict) else None


class ServerWatch:
    def __init__(self, runtime: Any, wake: Callable[[], None]) -> None:
        self.runtime, self.wake = runtime, wake
        self._watching: int | None = None  # the server pid being watched
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Start watching the current server, unless it is already watched. Best effort."""
        pidfd_open = getattr(os, "pidfd_open", None)
        tmux = _tmux(self.runtime)
        if pidfd_open is None or tmux is None:
            return
        with self._lock:
            if self._watching is not None:
                return
        try:
            result = tmux.run("display-message", "-p", "#{pid}", check=False)
            pid = int(result.stdout.strip()) if result.returncode == 0 else None
            fd = pidfd_open(pid) if pid else None
        except (OSError, ValueError, AttributeError):
            return
        if fd is None:
            return
        with self._lock:
            self._watching = pid
        threading.Thread(target=self._wait, args=(fd,), name="ao-server-watch", daemon=True).start()

    def _wait(self, fd: int) -> None:
        try:
            select.select([fd], [], [])  # readable once the process has exited
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
            with self._lock:
                self._watching = None
        self.wake()
