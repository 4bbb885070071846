"""Secrets in `spec.agent.env`: resolved at launch from `valueFrom`, redacted when shown.

    env:
      MODE: fast                                  # a plain value, shown as is
      ANTHROPIC_API_KEY:
        valueFrom: {env: ANTHROPIC_API_KEY}       # from the controller's environment
      GITHUB_TOKEN:
        valueFrom: {file: ~/.config/ao/gh-token}  # from a file (one trailing newline dropped)

So a manifest kept in Git needs no secret in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SessionProblem

REDACTED = "<redacted>"
# Key names that usually hold credentials.
_SECRET_KEY = re.compile(r"KEY|TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|SESSION_ID|PRIVATE", re.I)
MAX_FILE_BYTES = 64 * 1024


class EnvValueMissing(SessionProblem):
    def __init__(self, message: str) -> None:
        super().__init__("EnvValueMissing", message)


def looks_secret(name: str) -> bool:
    return bool(_SECRET_KEY.search(name))


def _from_file(name: str, raw: str) -> str:
    path = Path(raw).expanduser()
    try:
        data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise EnvValueMissing(f"env {name}: cannot read {path}: {exc.strerror or exc}; create it or fix valueFrom.file") from None
    if len(data) > MAX_FILE_BYTES or b"\0" in data:
        raise EnvValueMissing(f"env {name}: {path} is not a short text file")
    text = data.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\n") else text


def resolve_env(env: Mapping[str, Any]) -> dict[str, str]:
    """Plain values as they are; `valueFrom` read now, from the environment or a file."""
    resolved: dict[str, str] = {}
    for name, value in env.items():
        if isinstance(value, str):
            resolved[name] = value
            continue
        source = (value or {}).get("valueFrom") or {}
        if source.get("env"):
            found = os.environ.get(source["env"])
            if found is None:
                raise EnvValueMissing(
                    f"env {name}: variable {source['env']} is not set in the environment of ao; "
                    "export it where the controller (or `ao apply`) runs")
            resolved[name] = found
        elif source.get("file"):
            resolved[name] = _from_file(name, source["file"])
    return resolved


def redact_env(env: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if isinstance(v, str) and looks_secret(k) else v) for k, v in env.items()}


def redact(value: Any) -> Any:
    """A copy of a spec (or any view) with every `env` mapping's secret-looking values hidden."""
    if isinstance(value, list):
        return [redact(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: (redact_env(v) if k == "env" and isinstance(v, dict) else redact(v)) for k, v in value.items()}
