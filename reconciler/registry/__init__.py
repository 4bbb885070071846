"""The SQLite registry: desired state, sessions, events and messages in `$AO_DATA_DIR/ao.db`."""

from .records import (
    EventRecord,
    MessageRecord,
    ProjectRecord,
    SessionRecord,
    WorkerRecord,
)
from .store import Registry

__all__ = ["EventRecord", "MessageRecord", "ProjectRecord", "Registry", "SessionRecord", "WorkerRecord"]
