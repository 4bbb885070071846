"""The pass lock (one reconcile pass at a time per data dir; others wait for it), on the shared
file lock of `reconciler/locks.py`, which the controller lease uses too."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import AoError
from ..locks import file_lock

WAIT_SECONDS = 300.0


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
