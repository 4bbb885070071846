"""The `sources` table's one owner: what the controller last applied from each watched manifest file.

Created by migration `m003_sources` in `migrations.py`. A restart of the controller reads it to know
which projects a deleted or edited file declared.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A manifest file the controller applied, and what it held."""

    path: str
    digest: str
    projects: list[str]
    error: str | None
    applied_at: float | None


def all_sources(conn: sqlite3.Connection) -> dict[str, Source]:
    rows = conn.execute("select path, digest, projects, error, applied_at from sources").fetchall()
    return {path: Source(path, digest, json.loads(projects), error, at) for path, digest, projects, error, at in rows}


def save(conn: sqlite3.Connection, source: Source) -> None:
    conn.execute(
        "insert into sources (path, digest, projects, error, applied_at) values (?, ?, ?, ?, ?) "
        "on conflict(path) do update set digest = excluded.digest, projects = excluded.projects, "
        "error = excluded.error, applied_at = excluded.applied_at",
        [source.path, source.digest, json.dumps(source.projects), source.error, source.applied_at],
    )


def forget(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("delete from sources where path = ?", [path])
