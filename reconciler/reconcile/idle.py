"""When an idle controller may skip its pass.

Every tick the controller looks at what a pass would read, as cheaply as it can: one listing of the
sessions (one tmux call), the registry's change counter (`PRAGMA data_version`: it moves when any
other process or connection commits, e.g. `ao send`, `ao stop`, an agent's hook, the API) and the
capacity settings file. A pass runs when any of them changed since the last tick, when the last
pass did something or left something waiting on time (a back-off due, a start waiting for room,
an agent still starting, a waiting agent not yet announced), and at least every
`FULL_PASS_SECONDS` whatever happened: level-triggered, a change this misses is corrected then.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from ..activity.decide import STARTING_LIMIT_SECONDS
from ..activity.model import Activity
from ..activity.observe import WAITING_NOTICE_SECONDS
from .limits import SETTINGS_FILE
from .plan import NO_OP, BlockReason, Verb

if TYPE_CHECKING:
    from .service import PassReport, Service

FULL_PASS_SECONDS = 60.0
# Activity that changes with time alone: an agent still starting, a waiting one not yet announced.
_SETTLING_SQL = ("select 1 from activity where (activity = ? and since > ?) "
                 "or (activity = ? and waiting_notified = 0 and since > ?) limit 1")


class IdleWatch:
    def __init__(self, ao: Service, *, full_pass_seconds: float = FULL_PASS_SECONDS) -> None:
        self.ao = ao
        self.full_pass_seconds = full_pass_seconds
        self._seen: Any = None
        self._last_full = -math.inf
        self._busy = True
        self._due: float | None = None

    def _fingerprint(self) -> tuple[Any, ...]:
        try:
            stat = os.stat(self.ao.data_dir.root / SETTINGS_FILE)
            limits = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            limits = None
        version = self.ao.registry.conn.execute("PRAGMA data_version").fetchone()[0]
        return self.ao.observe(), version, limits

    def _settling(self, now: float) -> bool:
        row = self.ao.registry.conn.execute(_SETTLING_SQL, [
            str(Activity.STARTING), now - STARTING_LIMIT_SECONDS,
            str(Activity.WAITING), now - WAITING_NOTICE_SECONDS - FULL_PASS_SECONDS]).fetchone()
        return row is not None

    def why_pass(self, now: float) -> str | None:
        """Why this tick needs a pass; None when nothing a pass reads has changed."""
        seen = self._fingerprint()
        changed, self._seen = seen != self._seen, seen
        if changed:
            return "something changed"
        if self._busy:
            return "the last pass acted or waits on time"
        if self._due is not None and now >= self._due:
            return "a back-off is due"
        if now - self._last_full >= self.full_pass_seconds:
            return "periodic full pass"
        if self._settling(now):
            return "an agent's activity is settling"
        return None

    def passed(self, report: PassReport, now: float) -> None:
        """Remember what the pass left waiting on time."""
        self._last_full = now
        waits = [a for a in report.actions if a.verb == Verb.WAIT]
        self._busy = (any(a.verb not in NO_OP for a in report.actions)
                      or any(a.block == BlockReason.CAPACITY for a in report.actions))
        due = [a.record.next_retry_at for a in waits if a.record is not None and a.record.next_retry_at is not None]
        self._due = min(due) if due else None

    def failed(self) -> None:
        self._busy = True
