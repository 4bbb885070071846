"""Exclusive file locks per data dir, released by the kernel when their process dies.

Two users: the pass lock (one reconcile pass at a time; others wait for it) and the controller
lease (one controller per data dir; a second one is refused at once). The file holds a line
naming the holder, for the message that the waiting or refused process prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import AoError
from ..polling import poll

WAIT_SECONDS = 300.0
RETRY_SECONDS = 0.02


def _holder(fd: int) -> str | None:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or None


def _try(fd: int) -> bool | None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return None


@contextlib.contextmanager
def file_lock(path: Path, *, holder: str, timeout: float, busy: Callable[[str | None], AoError],
              on_wait: Callable[[str | None], None] | None = None) -> Iterator[None]:
    """Hold `path`'s lock, waiting up to `timeout` seconds (0: refuse at once) before raising `busy(holder)`.

    `holder` is written into the file while it is held; `on_wait` is told once who is holding it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try(fd):
            if on_wait is not None and timeout > 0:
                on_wait(_holder(fd))
            if not poll(lambda: _try(fd), timeout=timeout, interval=RETRY_SECONDS):
                raise busy(_holder(fd))
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def pass_lock(path: Path, *, on_wait: Callable[[str], None] | None = None,
              timeout: float = WAIT_SECONDS) -> contextlib.AbstractContextManager[None]:
    """One reconcile pass at a time per data dir; a second one waits for the first."""

    def name(holder: str | None) -> str:
        return f"ao process {holder}" if holder else "another ao process"

    def busy(holder: str | None) -> AoError:
        return AoError(f"{name(holder)} has held {path} for over {timeout:.0f}s",
                       hint="check that it is not stuck, or stop it")

    tell = (lambda holder: on_wait(f"waiting for {name(holder)} to finish its pass")) if on_wait else None
    return file_lock(path, holder=str(os.getpid()), timeout=timeout, busy=busy, on_wait=tell)


def started_by_me() -> str:
    return f"pid {os.getpid()}, started {time.strftime('%Y-%m-%dT%H:%M:%S')}"
