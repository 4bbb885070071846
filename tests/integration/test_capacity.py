"""Capacity with real tmux and the real `ao`: limits, the memory reserve, and a killed controller.

The agents are small Python processes that hold a known amount of memory, so that what ao measures
can be checked against what they allocate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

from tests.conftest import AO, ao_sessions, needs_tmux, retry_until, tmux
from tests.integration.api_server import start_server, stop_server

pytestmark = needs_tmux

MIB = 1024 * 1024
HELD = 24 * MIB  # what each agent allocates and keeps


def manifest(repo: Path, workers: int, *, limit: int | None = None, name: str = "cap") -> str:
    agent = f'["python3", "-c", "b = bytearray({HELD}); import time; time.sleep(3600)"]'
    limits = f"  limits: {{maxRunningWorkers: {limit}}}\n" if limit is not None else ""
    items = "".join(f"    - name: w{i}\n" for i in range(1, workers + 1))
    return (f"apiVersion: ao/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec:\n  repo: {repo}\n"
            f"  workspace: none\n  agent: {{command: {agent}}}\n  orchestrator: {{enabled: false}}\n"
            f"{limits}  workers:\n{items}")


def alive_panes(data_dir) -> dict[str, int]:
    """Session -> pane pid of every session whose agent runs, straight from tmux."""
    out = tmux(data_dir, "list-panes", "-a", "-F", "#{session_name} #{pane_dead} #{pane_pid}", check=False)
    if out.returncode != 0:
        return {}
    rows = (line.split() for line in out.stdout.splitlines())
    return {sid: int(pid) for sid, dead, pid in rows if dead == "0"}


def phases(ao) -> dict[str, tuple[str, str | None]]:
    return {sid: (s["phase"], s["reason"]) for sid, s in ao_sessions(ao).items()}


def waiting(ao) -> list[str]:
    return sorted(sid for sid, (phase, reason) in phases(ao).items() if phase == "Pending" and reason == "Capacity")


def test_a_limit_of_three_runs_three_and_the_rest_start_in_order(ao, data_dir, repo, write_manifest) -> None:
    path = write_manifest(manifest(repo, 6, limit=3))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert sorted(alive_panes(data_dir)) == ["cap-1", "cap-2", "cap-3"]
    sessions = ao_sessions(ao)
    assert waiting(ao) == ["cap-4", "cap-5", "cap-6"]
    assert sessions["cap-4"]["message"] == ("waiting for capacity: project cap runs 3 of at most 3 workers "
                                            "(spec.limits.maxRunningWorkers); 0 ahead of it")
    assert sessions["cap-6"]["message"].endswith("; 2 ahead of it")

    # Memory is measured per session: at least what each agent holds, and nothing for those waiting.
    sizes = retry_until(lambda: (s := ao_sessions(ao)) and all((s[f"cap-{i}"]["rssBytes"] or 0) >= HELD
                                                               for i in (1, 2, 3)) and s, message="rss measured")
    assert sizes["cap-4"]["rssBytes"] is None
    wide = ao("get", "sessions", "-o", "wide")
    assert "MEMORY" in wide.stdout and " MiB" in wide.stdout
    projects = json.loads(ao("get", "projects", "-o", "json").stdout)
    assert (projects[0]["running"], projects[0]["declared"], projects[0]["pending"]) == (3, 6, 3)
    assert projects[0]["sync"] == "Synced"  # waiting for capacity is waiting as declared

    # Passes that change nothing announce nothing new: one Capacity event per waiting worker.
    assert ao("reconcile").returncode == 0
    events = json.loads(ao("events", "-o", "json").stdout)
    assert sorted(e["session"] for e in events if e["reason"] == "Capacity") == ["cap-4", "cap-5", "cap-6"]

    # Stopping one hands its room to the first in line, at once.
    pids = alive_panes(data_dir)
    assert ao("stop", "session", "cap-2").returncode == 0
    assert sorted(alive_panes(data_dir)) == ["cap-1", "cap-3", "cap-4"]
    assert waiting(ao) == ["cap-5", "cap-6"]
    assert ao_sessions(ao)["cap-5"]["message"].endswith("; 0 ahead of it")
    started = [e for e in json.loads(ao("events", "-o", "json").stdout) if e["session"] == "cap-4"]
    assert started[-1]["reason"] == "Created" and "started once there was room for it" in started[-1]["message"]

    # Raising the limit starts the rest; the running ones are not touched.
    path.write_text(manifest(repo, 6, limit=5))
    assert ao("apply", "-f", str(path)).returncode == 0
    now = alive_panes(data_dir)
    assert sorted(now) == ["cap-1", "cap-3", "cap-4", "cap-5", "cap-6"]
    assert now["cap-1"] == pids["cap-1"] and now["cap-3"] == pids["cap-3"]
    assert waiting(ao) == []

    # The API shows the same figures.
    server = start_server(data_dir)
    try:
        with server.client() as client:
            views = {v["id"]: v for v in client.get("/api/v1/sessions").json()}
            project = client.get("/api/v1/projects").json()[0]
    finally:
        stop_server(server)
    assert views["cap-1"]["rssBytes"] >= HELD and views["cap-2"]["rssBytes"] is None
    assert (project["running"], project["declared"], project["pending"], project["maxRunningWorkers"]) == (5, 6, 0, 5)


def test_a_memory_reserve_above_what_is_free_holds_new_agents_and_leaves_running_ones(
        ao, data_dir, repo, write_manifest) -> None:
    path = write_manifest(manifest(repo, 2))
    assert ao("apply", "-f", str(path)).returncode == 0
    before = alive_panes(data_dir)
    assert sorted(before) == ["cap-1", "cap-2"]

    total = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))) * 1024
    path.write_text(manifest(repo, 4))
    result = ao("apply", "-f", str(path), "--memory-reserve", str(total))
    assert result.returncode == 0, result.stderr
    assert waiting(ao) == ["cap-3", "cap-4"]
    message = ao_sessions(ao)["cap-3"]["message"]
    assert message.startswith("waiting for capacity: memory: ") and "stay in reserve" in message
    assert alive_panes(data_dir) == before  # running agents are never touched
    doctor = ao("doctor")
    assert "below the reserve, no new agent starts" in doctor.stdout

    # The reserve is the data dir's setting: a plain pass keeps honouring it.
    assert ao("reconcile").returncode == 0
    assert waiting(ao) == ["cap-3", "cap-4"]
    assert ao("reconcile", "--memory-reserve", "0").returncode == 0
    assert sorted(alive_panes(data_dir)) == ["cap-1", "cap-2", "cap-3", "cap-4"]
    assert "new agents may start" in ao("doctor").stdout


def test_bad_limits_are_refused_and_the_data_dir_limit_stays_until_changed(ao, data_dir, repo, write_manifest) -> None:
    bad = ao("reconcile", "--max-running", "three")
    assert bad.returncode == 2 and "--max-running 'three' is not a number" in bad.stderr
    bad = ao("reconcile", "--memory-reserve", "lots")
    assert bad.returncode == 2 and "memory reserve 'lots' is not a size" in bad.stderr
    assert not (data_dir.root / "capacity.json").exists()
    invalid = write_manifest(manifest(repo, 1, limit=-1))
    result = ao("apply", "-f", str(invalid))
    assert result.returncode == 2 and "maxRunningWorkers" in result.stderr
    assert ao_sessions(ao) == {}

    # The environment variable sets the data dir's limit like the flag; it stays until changed.
    assert ao("reconcile", env={"AO_MAX_RUNNING": "2"}).returncode == 0
    assert "max running  2 workers of all projects at once" in ao("doctor").stdout
    good = write_manifest(manifest(repo, 3))
    assert ao("apply", "-f", str(good)).returncode == 0
    assert sorted(alive_panes(data_dir)) == ["cap-1", "cap-2"]
    assert ao("reconcile", "--max-running", "none").returncode == 0
    assert sorted(alive_panes(data_dir)) == ["cap-1", "cap-2", "cap-3"]
    assert "no data-dir limit on running workers" in ao("doctor").stdout


class Sampler(threading.Thread):
    """Watches tmux the whole time and remembers the most worker agents ever seen running at once."""

    def __init__(self, data_dir) -> None:
        super().__init__(daemon=True)
        self.data_dir, self.most, self.done = data_dir, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.most = max(self.most, len(alive_panes(self.data_dir)))
            self.done.wait(0.02)


def test_a_controller_killed_mid_way_never_leaves_more_than_the_limit_running(ao, data_dir, repo, write_manifest):
    folder = write_manifest(manifest(repo, 8)).parent
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    sampler = Sampler(data_dir)
    sampler.start()
    procs: list[subprocess.Popen] = []
    try:
        def controller() -> subprocess.Popen:
            args = [AO, "controller", "--watch", str(folder), "--resync", "0.2", "--max-running", "3"]
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            return procs[-1]

        first = controller()
        retry_until(lambda: alive_panes(data_dir), timeout=30, message="the first agent started")
        first.send_signal(signal.SIGKILL)  # mid-way: while it launches
        first.wait(timeout=10)
        controller()
        retry_until(lambda: len(alive_panes(data_dir)) == 3 and len(waiting(ao)) == 5, timeout=30,
                    message="3 running, 5 waiting")
        assert "3 of at most 3 workers run in this data dir (--max-running)" in ao_sessions(ao)["cap-4"]["message"]
        # Churn: a stopped worker's room goes to the next, and a crashed one keeps its place.
        assert ao("stop", "session", "cap-1").returncode == 0
        retry_until(lambda: "cap-4" in alive_panes(data_dir), timeout=30, message="cap-4 started")
        os.kill(alive_panes(data_dir)["cap-2"], signal.SIGKILL)
        retry_until(lambda: ao_sessions(ao)["cap-2"]["restarts"] == 1 and "cap-2" in alive_panes(data_dir),
                    timeout=30, message="cap-2 relaunched in its place")
        assert sorted(alive_panes(data_dir)) == ["cap-2", "cap-3", "cap-4"]
    finally:
        sampler.done.set()
        sampler.join(timeout=5)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sampler.most <= 3, f"{sampler.most} agents ran at once"
