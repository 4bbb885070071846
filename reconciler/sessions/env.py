"""The environment every session gets."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path


@functools.cache
def ao_bin_dir() -> str | None:
    """The folder holding this installation's `ao`, so agents run the same ao as the controller."""
    beside_python = Path(sys.executable).parent / "ao"
    if beside_python.exists():
        return str(beside_python.parent)
    argv0 = Path(sys.argv[0])
    if argv0.name == "ao" and argv0.exists():
        return str(argv0.resolve().parent)
    found = shutil.which("ao")
    return str(Path(found).parent) if found else None


def search_path(base: str | None = None) -> str:
    entries = [e for e in (base if base is not None else os.environ.get("PATH", "")).split(os.pathsep) if e]
    first = ao_bin_dir()
    if first:
        entries = [first, *[e for e in entries if e != first]]
    return os.pathsep.join(entries)


def session_env(
    *,
    session_id: str,
    project: str,
    issue: str | None,
    data_dir: Path,
    orchestrator_id: str | None,
    prompt_file: Path,
    user_env: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    """User env first, then ao's own variables, which a manifest cannot override."""
    env = dict(user_env)
    env.update(
        AO_SESSION_ID=session_id,
        AO_PROJECT_ID=project,
        AO_ISSUE_ID=issue or "",
        AO_DATA_DIR=str(data_dir),
        AO_ORCHESTRATOR_ID=orchestrator_id or "",
        AO_PROMPT_FILE=str(prompt_file),
        PATH=search_path(user_env.get("PATH")),
    )
    return tuple(env.items())
