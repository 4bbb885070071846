"""Session identity: `{prefix}-orchestrator` and `{prefix}-{n}`."""

from __future__ import annotations

ORCHESTRATOR = "orchestrator"
# What a session ID may look like; checked where one arrives from outside (URL paths, CLI arguments).
SESSION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,80}$"


def orchestrator_id(prefix: str) -> str:
    return f"{prefix}-{ORCHESTRATOR}"


def worker_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def split_id(session_id: str) -> tuple[str, str]:
    """(prefix, suffix): the suffix after the last dash is a number or `orchestrator`."""
    prefix, _, suffix = session_id.rpartition("-")
    return prefix, suffix


# `{prefix}-orchestrator` or `{prefix}-{n}`, prefix a project name or spec.sessionPrefix.
SESSION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,80}$"
