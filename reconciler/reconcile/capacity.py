"""What the planner knows about capacity: the limits, the machine's memory, each session's memory.

Pure values and arithmetic (part of the planner, like `backoff`); the pass measures them
(`reconcile/memory.py`) and reads the data dir's limits (`reconcile/limits.py`).

Declared is not running: a new agent starts only when its project's limit
(`spec.limits.maxRunningWorkers`), the data dir's limit (`--max-running`) and the machine's
available memory (above the reserve) all leave room for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..wording import MIB

# What a new agent is expected to take when no running agent can be measured to learn from
# (Claude Code averages about 335 MB; shells and small tools take far less).
DEFAULT_AGENT_BYTES = 256 * MIB


@dataclass(frozen=True)
class Memory:
    """The machine's memory, read once per pass, and how much of it ao keeps free."""

    total: int
    available: int
    reserve: int


@dataclass(frozen=True)
class Capacity:
    """The limits and memory a pass plans with."""

    max_running: int | None = None  # workers of all projects running at once (the data dir's limit)
    memory: Memory | None = None  # None: unknown on this platform, so memory never holds a start back
    rss: Mapping[str, int] = field(default_factory=dict)  # session ID -> resident memory of its process tree

    def agent_estimate(self, running: Iterable[str]) -> int:
        """What one more agent is expected to take: the mean of the running agents measured now."""
        sizes = [self.rss[sid] for sid in running if self.rss.get(sid)]
        return sum(sizes) // len(sizes) if sizes else DEFAULT_AGENT_BYTES
