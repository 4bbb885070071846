"""The controller's health record: a small file the controller rewrites after every pass, read by
`ao doctor` and `/healthz`. A file, not the registry, because a broken registry is one of the
things it must be able to report."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..paths import DataDir, write_private

HEALTH_FILE = "controller-health.json"
# A running controller rewrites the record every pass; one this old means it is stuck or was killed.
STALE_AFTER_PASSES = 10
MIN_STALE_SECONDS = 60.0


def _path(data_dir: DataDir):  # type: ignore[no-untyped-def]
    return data_dir.root / HEALTH_FILE


def write(data_dir: DataDir, record: dict[str, Any]) -> None:
    """Best effort: a full disk must not turn a health report into a crash."""
    try:
        write_private(_path(data_dir), json.dumps({**record, "pid": os.getpid()}))
    except OSError:
        pass


def read(data_dir: DataDir, now: float | None = None) -> dict[str, Any] | None:
    """The last record with `healthy` and a one-line `summary`; None when no controller ever ran here."""
    try:
        record = json.loads(_path(data_dir).read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"healthy": False, "summary": f"unreadable health record {_path(data_dir)}: {exc}"}
    now = time.time() if now is None else now
    at = float(record.get("at") or 0)
    age = now - at
    if record.get("state") == "stopped":
        return {**record, "healthy": True, "summary": "stopped"}
    stale = age > max(MIN_STALE_SECONDS, STALE_AFTER_PASSES * float(record.get("resync") or 2.0))
    if stale:
        summary = f"no pass for {int(age)}s (pid {record.get('pid')}): stuck or killed"
    elif not record.get("ok"):
        summary = f"{record.get('failures', 1)} failing pass(es) in a row; last error: {record.get('error')}"
    else:
        summary = f"last pass ok {int(age)}s ago"
    return {**record, "healthy": bool(record.get("ok")) and not stale, "summary": summary}
