"""A fleet for a figure: one project of N workers converged in-process, in a scratch data dir."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

from harness import AO, SLEEPER, BenchError, Scratch, clean_env, poll

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile import health, limits
from reconciler.reconcile.service import Service

PROJECT = "bench"


def manifest(n: int, repo: Path, *, workspace: str = "none", orchestrator: bool = False,
              policy: str = "OnFailure") -> str:
    """N sleeping workers; the orchestrator, when enabled, is the demo agent (it takes notices)."""
    workers = "".join(f"    - name: w{i}\n" for i in range(n)) or "    []\n"
    lines = [
        "apiVersion: ao/v1", "kind: Project", f"metadata: {{name: {PROJECT}}}", "spec:",
        f"  repo: {json.dumps(str(repo))}", "  runtime: tmux", f"  workspace: {workspace}",
        f"  agent: {{command: {json.dumps(SLEEPER)}}}", f"  restartPolicy: {policy}",
        f"  orchestrator: {{enabled: {str(orchestrator).lower()}, agent: {{preset: demo}}}}",
        "  workers:",
    ]
    return "\n".join(lines) + "\n" + workers


def data_dir(scratch: Scratch, name: str = "d") -> DataDir:
    """A fresh data dir whose tmux server the scratch kills. Sleeping agents take no memory, so the
    memory reserve (which counts about 256 MiB per agent) is off: it would hold back most of 1000."""
    path = DataDir.resolve(scratch.root / name).ensure()
    scratch.socket(path.tmux_socket)
    limits.update(path, memory_reserve="0")
    return path


def apply(ao: Service, n: int, repo: Path, **options: object) -> float:
    """Record the manifest and converge it; returns the seconds `apply` took. Every declared
    session must then be running."""
    loaded, issues = load_text(manifest(n, repo, **options), str(repo.parent / "bench.yaml"), repo.parent)  # type: ignore[arg-type]
    if issues:
        raise BenchError(f"bench manifest rejected: {issues}")
    expected = n + int(bool(options.get("orchestrator")))
    _enough_ptys(expected)
    start = time.perf_counter()
    report = ao.apply(loaded)
    elapsed = time.perf_counter() - start
    alive = sum(1 for live in ao.observe().values() if live.alive)
    if not report.reconcile.ok or alive != expected:
        why = Counter(f"{s.phase} {s.reason}: {(s.message or '').splitlines()[0][:120]}"
                      for s in ao.sessions(PROJECT) if s.phase != "Running").most_common(1)
        raise BenchError(f"the fleet did not converge: {alive}/{expected} running"
                         + (f"; {why[0][1]}× {why[0][0]}" if why else ""))
    return elapsed


def _enough_ptys(needed: int) -> None:
    """Each session holds a pty and the kernel has a fixed number: say so rather than fail midway."""
    try:
        used, most = (int(Path(f"/proc/sys/kernel/pty/{name}").read_text()) for name in ("nr", "max"))
    except OSError:
        return  # not Linux: nothing to check
    if most - used < needed:
        raise BenchError(f"only {most - used} ptys are free (kernel.pty.max {most}, {used} in use by other "
                         f"programs); this figure needs {needed}")


def session_ids(ao: Service) -> list[str]:
    return [s.id for s in ao.sessions(PROJECT)]


def tmux(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-S", str(socket), *args], capture_output=True, text=True, check=False)


def panes(socket: Path) -> list[tuple[str, int, bool]]:
    """(session, pane pid, dead) of every pane on the server; empty when no server runs."""
    out = tmux(socket, "list-panes", "-a", "-F", "#{session_name} #{pane_pid} #{pane_dead}").stdout
    rows = []
    for line in out.splitlines():
        name, pid, dead = line.rsplit(" ", 2)
        rows.append((name, int(pid), dead == "1"))
    return rows


def kill_every_agent(socket: Path, expected: int) -> None:
    """Every agent dies at once (SIGKILL to each pane's process group); returns once tmux shows
    every pane dead."""
    for _, pid, dead in panes(socket):
        if not dead:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    poll(lambda: sum(dead for _, _, dead in panes(socket)) >= expected, 60, f"{expected} dead panes")


def start_controller(scratch: Scratch, path: DataDir) -> subprocess.Popen[bytes]:
    """`ao controller` (default settings) on the data dir, once its first pass is done."""
    log = scratch.root / f"controller-{path.root.name}.log"
    controller = scratch.spawn([AO, "controller"], clean_env(AO_DATA_DIR=str(path.root)), log)

    def first_pass_done() -> bool:
        if controller.poll() is not None:
            raise BenchError(f"ao controller exited ({controller.returncode}): {log.read_text()[-300:]}")
        record = health.read(path)
        return bool(record and record.get("pid") == controller.pid and record.get("ok"))

    poll(first_pass_done, 120, "the controller's first pass")
    return controller


def ran_for_an_hour(path: DataDir) -> None:
    """Make every agent look started an hour ago, so its next death is an old agent's first
    (restarted at once), not a quick failure that backs off: each repeat then measures the same."""
    with contextlib.closing(sqlite3.connect(path.db_path, timeout=30)) as db, db:
        db.execute("update sessions set started_at = started_at - 3600, backoff_step = 0, quick_failures = 0 "
                   "where started_at is not null")
