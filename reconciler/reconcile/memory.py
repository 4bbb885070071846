"""Measuring memory: the machine's, and each session's process tree.

On Linux everything comes from /proc: `MemTotal` and `MemAvailable` from /proc/meminfo (one read),
and each process's parent and resident set size from /proc/PID/stat (one scan per pass). A
session's memory is the RSS of its pane's process and all its descendants, summed (pages shared
between them are counted once per process, so it errs high, which is the safe side for a limit).
Elsewhere (macOS, BSD) one `ps` call gives the same per-process figures; the machine's memory is
then unknown and never holds a start back. No dependency: the figures needed are two files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")


def machine_memory(proc: Path = PROC) -> tuple[int, int] | None:
    """(total, available) bytes, or None where the platform does not say."""
    try:
        text = (proc / "meminfo").read_text()
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    if "MemTotal" not in fields or "MemAvailable" not in fields:
        return None
    return fields["MemTotal"], fields["MemAvailable"]


def _proc_table(proc: Path) -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, RSS bytes) of every process, from /proc/PID/stat."""
    page = os.sysconf("SC_PAGE_SIZE")
    table: dict[int, tuple[int, int]] = {}
    base = str(proc)
    for entry in os.scandir(base):
        if not entry.name.isdigit():
            continue
        try:  # plain string paths: thousands of processes, and pathlib would double the time
            with open(f"{base}/{entry.name}/stat", "rb") as file:
                raw = file.read()
        except OSError:
            continue  # it ended while we looked
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        rest = raw[raw.rfind(b")") + 2:].split()
        if len(rest) > 21:
            table[int(entry.name)] = (int(rest[1]), int(rest[21]) * page)
    return table


def _ps_table() -> dict[int, tuple[int, int]]:
    try:
        out = subprocess.run(["ps", "-axo", "pid=,ppid=,rss="], capture_output=True, text=True, check=False,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            table[int(parts[0])] = (int(parts[1]), int(parts[2]) * 1024)
    return table


def process_table(proc: Path = PROC) -> dict[int, tuple[int, int]]:
    return _proc_table(proc) if proc.is_dir() and sys.platform.startswith("linux") else _ps_table()


def tree_rss(roots: Mapping[str, int], table: Mapping[int, tuple[int, int]]) -> dict[str, int]:
    """Each session's RSS: its root process and every descendant, summed."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    result = {}
    for sid, root in roots.items():
        if root not in table:
            continue
        total, stack, seen = 0, [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            total += table[pid][1]
            stack.extend(children.get(pid, ()))
        result[sid] = total
    return result


class MeasuredWhenRead(Mapping[str, int]):
    """`sessions_rss`, measured the first time it is read: a pass that starts no agent never needs it."""

    def __init__(self, pids: Iterable[tuple[str, int | None]], proc: Path = PROC) -> None:
        self._pids, self._proc = list(pids), proc
        self._measured: dict[str, int] | None = None

    def _values(self) -> dict[str, int]:
        if self._measured is None:
            self._measured = sessions_rss(self._pids, self._proc)
        return self._measured

    def __getitem__(self, sid: str) -> int:
        return self._values()[sid]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def sessions_rss(pids: Iterable[tuple[str, int | None]], proc: Path = PROC) -> dict[str, int]:
    """RSS of each running session's process tree, given (session ID, pane pid) pairs."""
    roots = {sid: pid for sid, pid in pids if pid}
    if not roots:
        return {}
    return tree_rss(roots, process_table(proc))
