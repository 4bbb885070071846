"""Exclusive file locks, released by the kernel when their process dies.

One mechanism for every "one at a time" of ao: the pass lock and the controller lease
(reconcile/lock.py), and the lock per agent that keeps two messages from being typed at once
(messaging/typing.py). The file holds a line naming the holder, for the message that a waiting or
refused process prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import AoError
from .polling import poll

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
