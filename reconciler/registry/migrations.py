"""Schema of the registry as ordered, named migrations (never edit one that has shipped)."""

from __future__ import annotations

import secrets

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("ao")


@migrations()
def m001_initial(db: Database) -> None:
    db["projects"].create(
        {
            "name": str,
            "prefix": str,
            "spec": str,  # resolved spec as JSON (repo path absolute)
            "spec_hash": str,
            "generation": int,
            "observed_generation": int,
            "source": str,  # manifest file the project was last applied from
            "suspended": int,
            "deleted": int,
            "created_at": float,
            "updated_at": float,
        },
        pk="name",
        not_null={"prefix", "spec", "spec_hash", "generation", "observed_generation", "suspended", "deleted"},
        defaults={"observed_generation": 0, "suspended": 0, "deleted": 0},
        strict=True,
    )
    # Worker numbers are counted per session prefix, so an ID is never handed out twice,
    # even when a deleted project's prefix is reused by a new project.
    db["counters"].create({"prefix": str, "next_number": int}, pk="prefix", not_null={"next_number"}, strict=True)
    db["workers"].create(
        {
            "project": str,
            "name": str,
            "owner": str,  # "manifest", "spawn" or "api": who may prune it
            "spec": str,
            "position": int,
            "created_at": float,
        },
        pk=("project", "name"),
        not_null={"owner", "spec", "position"},
        strict=True,
    )
    db["sessions"].create(
        {
            "id": str,
            "project": str,
            "kind": str,
            "worker": str,
            "number": int,
            "runtime": str,
            "spec": str,
            "spec_hash": str,
            "restart_policy": str,
            "phase": str,
            "reason": str,
            "message": str,
            "restarts": int,
            "exit_code": int,
            "exit_signal": int,
            "backoff_step": int,
            "quick_failures": int,
            "next_retry_at": float,
            "started_at": float,
            "pid": int,
            "branch": str,
            "workspace": str,
            "argv": str,
            "created_at": float,
            "last_transition_at": float,
            "terminated_at": float,
            "updated_at": float,
        },
        pk="id",
        not_null={"project", "kind", "phase", "restarts", "backoff_step", "quick_failures"},
        defaults={"restarts": 0, "backoff_step": 0, "quick_failures": 0},
        strict=True,
    )
    db["sessions"].create_index(["project", "phase"])
    db["events"].create(
        {
            "id": int,
            "at": float,
            "project": str,
            "session": str,
            "type": str,  # Normal or Warning
            "reason": str,
            "message": str,
        },
        pk="id",
        not_null={"at", "type", "reason", "message"},
        strict=True,
    )
    db["events"].create_index(["project", "id"])
    db["events"].create_index(["session", "id"])


@migrations()
def m002_messages(db: Database) -> None:
    # Every read and write of this table is in registry/messages.py (plain SQL, shared by `ao send`).
    db["messages"].create(
        {
            "id": int,
            "at": float,
            "sender": str,  # session ID, "ao" for ao's own notices, or null when sent from outside
            "target": str,
            "project": str,
            "body": str,
            "outcome": str,  # delivered | unconfirmed | rejected | failed | queued
            "detail": str,
            "enter_presses": int,
        },
        pk="id",
        not_null={"at", "target", "body", "outcome"},
        strict=True,
    )
    db["messages"].create_index(["target", "id"])
    db["messages"].create_index(["outcome"])  # each pass looks for queued messages


@migrations()
def m003_sources(db: Database) -> None:
    # What the controller last applied from each watched manifest file, so that a restart knows
    # which projects a deleted or edited file declared.
    db["sources"].create(
        {"path": str, "digest": str, "projects": str, "error": str, "applied_at": float},
        pk="path",
        not_null={"digest", "projects"},
        strict=True,
    )


# Each session's current activity and its agent's last signal; owned by activity/store.py.
ACTIVITY_TABLE = """
create table if not exists activity (
    session text primary key,
    activity text not null,
    reason text not null default '',
    source text not null default '',
    since real not null,
    observed_at real not null,
    signal_activity text,
    signal_reason text,
    signal_at real,
    conversation text,
    waiting_notified integer not null default 0
)
"""


@migrations()
def m004_activity(db: Database) -> None:
    db.execute(ACTIVITY_TABLE)
    db["messages"].add_column("submitted_at", float)  # when the agent itself reported taking it


@migrations()
def m005_registry_identity(db: Database) -> None:
    # Created once with the registry and stamped on every session it creates: a registry that was
    # lost or replaced gets a new identity, so its passes know the running sessions are not theirs to reap.
    db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"}, strict=True)
    db["meta"].insert({"key": "registry_id", "value": secrets.token_hex(8)})
