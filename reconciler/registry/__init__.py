"""The SQLite registry: desired state, sessions, events and messages in `$AO_DATA_DIR/ao.db`.

Light on import: the record types and the table owners (`messages`, `sources`) need only the
standard library; `Registry` (sqlite-utils) is loaded when first asked for, so importing the pure
planner or the light `ao send` path never loads the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import (
    EventRecord,
    MessageRecord,
    ProjectRecord,
    SessionRecord,
    WorkerRecord,
)

if TYPE_CHECKING:
    from .store import Registry

__all__ = ["EventRecord", "MessageRecord", "ProjectRecord", "Registry", "SessionRecord", "WorkerRecord"]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from .store import Registry

        return Registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
