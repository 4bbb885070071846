"""The data dir's capacity settings: how many workers of all projects may run at once, and how much
memory ao keeps free.

They are a setting of the data dir, kept in `capacity.json`, so that every pass honours them
whoever runs it (the controller, `ao apply`, `ao spawn`, `ao stop`, the API): `--max-running` and
`--memory-reserve` on `ao controller`, `ao reconcile` and `ao apply` (or AO_MAX_RUNNING and
AO_MEMORY_RESERVE) change them, and they stay until changed again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import UsageError
from ..paths import DataDir, read_json_object, write_private
from .capacity import Memory
from .memory import machine_memory

SETTINGS_FILE = "capacity.json"
DEFAULT_RESERVE = "10%"  # of the machine's total memory
UNLIMITED = ("none", "unlimited")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class Limits:
    """The data dir's capacity settings."""

    max_running: int | None = None  # workers of every project together; None: no limit
    memory_reserve: str = DEFAULT_RESERVE  # "10%" of MemTotal, "2G", or "0" (memory never holds starts back)

    def reserve_bytes(self, total: int) -> int:
        return reserve_bytes(self.memory_reserve, total)


def reserve_bytes(text: str, total: int) -> int:
    value = text.strip().lower()
    if value.endswith("%"):
        number = value[:-1].strip()
        try:
            percent = float(number)
        except ValueError:
            raise UsageError(f"memory reserve {text!r} is not a percentage", hint="e.g. 10%, 2G or 0") from None
        if not 0 <= percent <= 100:
            raise UsageError(f"memory reserve {text!r} is not between 0% and 100%")
        return int(total * percent / 100)
    match = _SIZE.match(value)
    if match is None:
        raise UsageError(f"memory reserve {text!r} is not a size", hint="e.g. 10% (of total memory), 2G, 512M or 0")
    unit = (match.group(2) or "")[:1]
    return int(float(match.group(1)) * _UNITS[unit])


def parse_max_running(text: str) -> int | None:
    value = text.strip().lower()
    if value in UNLIMITED:
        return None
    if not value.isdigit():
        raise UsageError(f"--max-running {text!r} is not a number of workers", hint="e.g. 3, or none for no limit")
    return int(value)


def _path(data_dir: DataDir):  # type: ignore[no-untyped-def]
    return data_dir.root / SETTINGS_FILE


def load(data_dir: DataDir) -> Limits:
    """The stored settings; defaults when none were ever given (or the file cannot be read)."""
    raw = read_json_object(_path(data_dir))
    if raw is None:
        return Limits()
    max_running = raw.get("maxRunning")
    reserve = raw.get("memoryReserve")
    return Limits(max_running=max_running if isinstance(max_running, int) else None,
                  memory_reserve=reserve if isinstance(reserve, str) else DEFAULT_RESERVE)


def update(data_dir: DataDir, *, max_running: str | None = None, memory_reserve: str | None = None) -> Limits:
    """Change the settings given (as typed by a user; validated first); the others stay."""
    current = load(data_dir)
    new_max = parse_max_running(max_running) if max_running is not None else current.max_running
    new_reserve = current.memory_reserve
    if memory_reserve is not None:
        reserve_bytes(memory_reserve, 1 << 40)  # validates
        new_reserve = memory_reserve.strip()
    limits = Limits(max_running=new_max, memory_reserve=new_reserve)
    if limits != current:
        write_private(_path(data_dir.ensure()),
                      json.dumps({"maxRunning": limits.max_running, "memoryReserve": limits.memory_reserve}))
    return limits


def machine(limits: Limits) -> Memory | None:
    """The machine's memory now, with the reserve in bytes; None where the platform does not say."""
    figures = machine_memory()
    if figures is None:
        return None
    total, available = figures
    try:
        reserve = limits.reserve_bytes(total)
    except UsageError:
        reserve = reserve_bytes(DEFAULT_RESERVE, total)  # a hand-edited file never stops the passes
    return Memory(total=total, available=available, reserve=reserve)
