"""One reconcile pass at a time per data dir: an OS file lock, released by the kernel on crash."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import AoError

WAIT_SECONDS = 300.0


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return "another ao process"
    return f"ao process {pid}" if pid else "another ao process"


@contextlib.contextmanager
def pass_lock(
    path: Path, *, on_wait: Callable[[str], None] | None = None, timeout: float = WAIT_SECONDS
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait:
                    on_wait(f"waiting for {_holder(path)} to finish its pass")
                    told = True
                if time.monotonic() > deadline:
                    raise AoError(
                        f"{_holder(path)} has held {path} for over {timeout:.0f}s",
                        hint="check that it is not stuck, or stop it",
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
