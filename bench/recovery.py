"""Recovery and idle cost of a real `ao controller`.

- recovery: N sessions and an orchestrator run under the controller; the tmux server is killed;
  seconds until every session runs again (polled every 50 ms with `tmux list-panes`).
- idle: N sessions run, nothing changes; CPU the controller process (and the tmux clients it
  runs) uses over a window, in % of one core.

Sessions run `sleep` in the repository itself (`workspace: none`): this measures ao, not agents or git.

    python bench/recovery.py [--sessions 100] [--idle-sessions 1000] [--repeat 3] [--window 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import kill_server, tmux_version_or_exit

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile import limits
from reconciler.reconcile.service import Service

AO = str(Path(sys.executable).parent / "ao")
AGENT = '["sleep", "1000000"]'
TARGETS = {"recovery": 3.0, "idle": 1.0}  # seconds; % of a core


def manifest(n: int, repo: Path, *, orchestrator: bool) -> str:
    workers = "\n".join(f"    - name: w{i}" for i in range(n))
    return ("apiVersion: ao/v1\nkind: Project\nmetadata: {name: bench}\nspec:\n"
            f"  repo: {repo}\n  agent: {{command: {AGENT}}}\n  workspace: none\n"
            f"  orchestrator: {{enabled: {str(orchestrator).lower()}}}\n  workers:\n{workers}\n")


def _converge(root: Path, n: int, *, orchestrator: bool) -> DataDir:
    data_dir = DataDir.resolve(root / "d").ensure()
    limits.update(data_dir, memory_reserve="0")  # other fleets on the machine must not hold starts back
    ao = Service(data_dir)
    loaded, issues = load_text(manifest(n, root, orchestrator=orchestrator), str(root / "bench.yaml"), root)
    assert not issues, issues
    report = ao.apply(loaded)
    ao.close()
    assert report.reconcile.ok, "did not converge"
    return data_dir


def _alive(socket: Path) -> int:
    out = subprocess.run(["tmux", "-S", str(socket), "list-panes", "-a", "-F", "#{pane_dead}"],
                         capture_output=True, text=True, check=False).stdout
    return out.split().count("0")


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Controller:
    def __init__(self, data_dir: DataDir, *args: str) -> None:
        self.log = (data_dir.root / "controller.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AO_") and k not in ("TMUX", "TMUX_PANE")}
        self.proc = subprocess.Popen([AO, "controller", *args], env={**env, "AO_DATA_DIR": str(data_dir.root)},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.path = data_dir.root / "controller.log"
        _wait(lambda: " started" in self.path.read_text() or self.proc.poll() is not None, 60, "controller start")

    def cpu_seconds(self) -> float:
        """User and system time of the controller and of the children it has waited for (tmux clients)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def recovery_once(n: int) -> float:
    """Seconds from `kill-server` until all N workers and the orchestrator run again."""
    root = Path(tempfile.mkdtemp(prefix="ao-bench-recovery-", dir="/tmp"))
    controller = None
    try:
        data_dir = _converge(root, n, orchestrator=True)
        controller = _Controller(data_dir)
        _wait(lambda: _alive(data_dir.tmux_socket) == n + 1, 60, "all sessions before the kill")
        _wait(lambda: (data_dir.root / "controller-health.json").exists(), 60, "the controller's first pass")
        start = time.perf_counter()
        kill_server(data_dir.tmux_socket)
        _wait(lambda: _alive(data_dir.tmux_socket) == n + 1, 120, "all sessions after the kill")
        return time.perf_counter() - start
    finally:
        if controller is not None:
            controller.stop()
        _cleanup(root)


def idle_once(n: int, window: float) -> float:
    """% of one core the controller uses over `window` seconds while N sessions run and nothing changes."""
    root = Path(tempfile.mkdtemp(prefix="ao-bench-idle-", dir="/tmp"))
    controller = None
    try:
        data_dir = _converge(root, n, orchestrator=False)
        controller = _Controller(data_dir)
        _wait(lambda: _alive(data_dir.tmux_socket) == n, 120, "all sessions running")
        _wait(lambda: (data_dir.root / "controller-health.json").exists(), 120, "the first pass")
        settle = time.monotonic() + 6  # the next passes record every agent's activity once
        while time.monotonic() < settle:
            time.sleep(0.5)  # measuring an interval, not waiting for a condition
        before, wall = controller.cpu_seconds(), time.monotonic()
        while time.monotonic() < wall + window:
            time.sleep(0.5)
        return 100 * (controller.cpu_seconds() - before) / (time.monotonic() - wall)
    finally:
        if controller is not None:
            controller.stop()
        _cleanup(root)


def _cleanup(root: Path) -> None:
    data_dir = DataDir.resolve(root / "d")
    kill_server(data_dir.tmux_socket)
    shutil.rmtree(root, ignore_errors=True)


def figures(sessions: int = 100, idle_sessions: int = 1000, repeat: int = 3, window: float = 20.0) -> dict[str, dict]:
    """{"recovery": {...}, "idle": {...}}, each with runs, min, median, target and unit."""
    recovery = [recovery_once(sessions) for _ in range(repeat)]
    idle = [idle_once(idle_sessions, window) for _ in range(repeat)]
    return {
        "recovery": {"what": f"tmux server killed, {sessions} sessions + orchestrator running again",
                     "unit": "s", "runs": recovery, "min": min(recovery), "median": statistics.median(recovery),
                     "target": TARGETS["recovery"]},
        "idle": {"what": f"idle controller CPU, {idle_sessions} sessions", "unit": "% of a core", "runs": idle,
                 "min": min(idle), "median": statistics.median(idle), "target": TARGETS["idle"]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="workers for the recovery figure")
    parser.add_argument("--idle-sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=float, default=20.0, help="seconds of idle CPU measured per run")
    args = parser.parse_args()
    version = tmux_version_or_exit()
    result = figures(args.sessions, args.idle_sessions, args.repeat, args.window)
    print(f"# recovery and idle controller ({version}, {os.cpu_count()} CPUs), {args.repeat} runs each")
    header = f"{'figure':<62} {'min':>7} {'median':>7} {'target':>7}  unit"
    print(header)
    print("-" * len(header))
    for row in result.values():
        print(f"{row['what']:<62} {row['min']:>7.2f} {row['median']:>7.2f} {row['target']:>7.2f}  {row['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
