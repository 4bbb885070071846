"""Figures of a fleet at rest: read commands and `ao reconcile` as whole processes (1, 2), the
in-process no-op pass (3), and the idle controller's CPU (8)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fleet import apply, data_dir, session_ids, start_controller
from harness import (
    AO,
    BenchError,
    Row,
    Scratch,
    Sizes,
    Target,
    clean_env,
    progress,
    ticking,
    timed_call,
    timed_process,
)

from reconciler.reconcile.service import Service

FLOOR = [sys.executable, "-c", "pass"]  # the same interpreter ao runs on, doing nothing
FLOOR_WHAT = "`python -c pass`"


def _fleet(scratch: Scratch, n: int) -> tuple[Path, Service]:
    """A converged fleet with nothing left to do (checked), and its service."""
    path = data_dir(scratch)
    ao = Service(path)
    with ticking(f"converging {n} sessions"):
        apply(ao, n, scratch.root)
    if (leftover := ao.reconcile().actions):
        raise BenchError(f"a pass after converging still acts: {leftover[:3]}")
    return path.root, ao


def _interleaved(cases: dict[str, list[str]], env: dict[str, str], rounds: int, what: str) -> dict[str, list[float]]:
    """Wall times of each command, run in turn round after round, so drift hits every case alike."""
    for argv in cases.values():  # warm the page cache once
        timed_process(argv, env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(rounds):
        progress(f"  {what}: round {round_ + 1}/{rounds}")
        for name, argv in cases.items():
            times[name].append(timed_process(argv, env))
    return times


def commands(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 1: read commands, whole process, above the bare interpreter."""
    n = sizes.commands
    with Scratch("fig1") as scratch:
        root, ao = _fleet(scratch, n)
        first = session_ids(ao)[0]
        ao.close()
        env = clean_env(AO_DATA_DIR=str(root))
        cases = {"floor": FLOOR, "get": [AO, "get", "sessions"], "help": [AO, "--help"],
                 "describe": [AO, "describe", "session", first]}
        times = _interleaved(cases, env, sizes.cheap_per_repeat * repeat, "read commands")
    target = Target("delta", 0.080)
    return [Row("1", what, "ms", target, ao=times[name], baseline=times["floor"], baseline_what=FLOOR_WHAT,
                compare_kind="delta")
            for name, what in (("get", f"`ao get sessions`, whole process ({n} sessions)"),
                               ("help", "`ao --help`, whole process"),
                               ("describe", f"`ao describe session {first}`, whole process ({n} sessions)"))]


def reconcile_noop(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 2: `ao reconcile` with nothing to do, whole process."""
    n = sizes.commands
    with Scratch("fig2") as scratch:
        root, ao = _fleet(scratch, n)
        ao.close()
        env = clean_env(AO_DATA_DIR=str(root))
        times = _interleaved({"floor": FLOOR, "ao": [AO, "reconcile"]}, env, sizes.cheap_per_repeat * repeat,
                             "ao reconcile")
    return [Row("2", f"`ao reconcile`, nothing to do, {n} sessions, whole process", "ms", Target("ao", 0.120),
                ao=times["ao"], baseline=times["floor"], baseline_what=FLOOR_WHAT, compare_kind="delta")]


def noop_pass(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 3: one in-process pass over a fleet with nothing to do, against the one tmux listing
    that any pass must make (`list-panes -a`, as a whole tmux client process)."""
    n = sizes.passes
    with Scratch("fig3") as scratch:
        root, ao = _fleet(scratch, n)
        listing = ["tmux", "-S", str(ao.data_dir.tmux_socket), "list-panes", "-a", "-F",
                   "#{session_name} #{pane_pid} #{pane_dead} #{pane_dead_status}"]
        passes: list[float] = []
        listings: list[float] = []
        rounds = sizes.cheap_per_repeat * repeat
        for round_ in range(rounds):
            progress(f"  no-op pass over {n}: round {round_ + 1}/{rounds}")
            passes.append(timed_call(ao.reconcile))
            listings.append(timed_process(listing, clean_env()))
        ao.close()
    return [Row("3", f"In-process no-op pass, {n} sessions", "ms", Target("ao", 0.025), ao=passes,
                baseline=listings, baseline_what="one `tmux list-panes -a` of that server")]


def _cpu_seconds(pid: int, *, children: bool) -> float:
    """CPU time of a process from /proc (utime+stime, plus its reaped children's when asked)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, so utime..cstime (fields 14-17) are at 11..14.
    ticks = sum(int(v) for v in fields[11:15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_controller(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 8: CPU share of an idle `ao controller` over a fleet, with the tmux server's share in
    the same windows beside it."""
    n = sizes.idle
    with Scratch("fig8") as scratch:
        root, ao = _fleet(scratch, n)
        ao.close()
        path = ao.data_dir
        controller = start_controller(scratch, path)
        server = int(subprocess.run(["tmux", "-S", str(path.tmux_socket), "display-message", "-p", "#{pid}"],
                                    capture_output=True, text=True, check=True).stdout)
        ao_share: list[float] = []
        tmux_share: list[float] = []
        for sample in range(repeat):
            progress(f"  idle CPU over {n} sessions: window {sample + 1}/{repeat} ({sizes.cpu_window:g} s)")
            start, ao_cpu, tmux_cpu = time.monotonic(), _cpu_seconds(controller.pid, children=True), _cpu_seconds(server, children=False)
            time.sleep(sizes.cpu_window)  # the measurement window itself, not a synchronisation
            wall = time.monotonic() - start
            ao_share.append(100 * (_cpu_seconds(controller.pid, children=True) - ao_cpu) / wall)
            tmux_share.append(100 * (_cpu_seconds(server, children=False) - tmux_cpu) / wall)
    return [Row("8", f"Idle `ao controller` CPU, {n} sessions (with its tmux client calls)", "%", Target("ao", 1.0),
                ao=ao_share, baseline=tmux_share, baseline_what="the tmux server, same windows", compare_kind="")]
