"""A real `ao controller` subprocess against real tmux: GitOps watching, self-healing, crash safety,
recovery from a killed tmux server, and an idle loop that skips passes until something changes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import (
    AO,
    ao_sessions,
    crashes_once_shown,
    needs_tmux,
    retry_until,
    tmux,
)

pytestmark = needs_tmux


def manifest(repo: Path, workers: list[str], *, name: str = "web", orchestrator: bool = True, agent: str = "{preset: demo}") -> str:
    lines = [f"    - name: {w}" for w in workers]
    return (f"apiVersion: ao/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec:\n  repo: {repo}\n"
            f"  agent: {agent}\n  orchestrator: {{enabled: {str(orchestrator).lower()}}}\n"
            "  workers:" + ("\n" + "\n".join(lines) if lines else " []") + "\n")


def save(path: Path, text: str) -> None:
    """Save the way editors do: write a temporary file, then rename it over the original."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class ControllerProcess:
    def __init__(self, data_dir, *args: str) -> None:
        env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
        self.log_path = data_dir.root / f"controller-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen([AO, "controller", *args], stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_started(self) -> None:
        retry_until(lambda: " started" in self.output() or self.proc.poll() is not None, message="controller start")
        assert self.proc.poll() is None, self.output()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


@pytest.fixture
def controllers(data_dir):
    started: list[ControllerProcess] = []

    def start(*args: str) -> ControllerProcess:
        process = ControllerProcess(data_dir, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def live(data_dir) -> dict[str, str]:
    out = tmux(data_dir, "list-panes", "-a", "-F", "#{session_name} #{pane_dead}", check=False)
    return dict(line.split() for line in out.stdout.splitlines()) if out.returncode == 0 else {}


def running(data_dir) -> set[str]:
    return {sid for sid, dead in live(data_dir).items() if dead == "0"}


def test_watched_manifest_edits_start_and_reap_sessions(ao, data_dir, repo, tmp_path, controllers):
    folder = tmp_path / "manifests"
    folder.mkdir()
    path = folder / "web.yaml"
    path.write_text(manifest(repo, ["a"]))
    controller = controllers("--watch", str(folder), "--resync", "1")
    controller.wait_started()
    retry_until(lambda: running(data_dir) == {"web-orchestrator", "web-1"}, message="initial sessions")
    save(path, manifest(repo, ["a", "b"]))
    retry_until(lambda: running(data_dir) == {"web-orchestrator", "web-1", "web-2"}, message="added worker")
    pid_b = ao_sessions(ao)["web-2"]["pid"]
    save(path, manifest(repo, ["b"]))
    retry_until(lambda: set(live(data_dir)) == {"web-orchestrator", "web-2"}, message="removed worker reaped")
    # A save that does not change the content does nothing; the next real change is applied once.
    save(path, manifest(repo, ["b"]))
    save(path, manifest(repo, ["b", "c"]))
    retry_until(lambda: running(data_dir) == {"web-orchestrator", "web-2", "web-3"}, message="worker c")
    retry_until(lambda: controller.output().count("project/web configured") >= 3, message="third configure logged")
    assert controller.output().count("project/web configured") == 3  # +b, -a, +c: not the no-op save
    assert ao_sessions(ao)["web-2"]["pid"] == pid_b
    path.unlink()
    retry_until(lambda: live(data_dir) == {}, message="project reaped with its file")
    assert json.loads(ao("get", "projects", "-o", "json").stdout) == []
    assert controller.stop() == 0
    log = controller.output()
    assert "project/web configured: from" in log and "session/web-1 reaped" in log
    assert "project/web deleted: " in log and "was deleted" in log


def test_a_broken_save_keeps_the_last_good_state(ao, data_dir, repo, tmp_path, controllers):
    folder = tmp_path / "manifests"
    folder.mkdir()
    path = folder / "web.yaml"
    path.write_text(manifest(repo, ["a", "b"]))
    controller = controllers("--watch", str(folder), "--resync", "1")
    controller.wait_started()
    retry_until(lambda: running(data_dir) == {"web-orchestrator", "web-1", "web-2"})
    save(path, manifest(repo, ["a"]).replace("  workers:", "  wrkers:"))
    retry_until(lambda: "invalid" in controller.output(), message="invalid manifest reported")
    assert f"{path.resolve()}:8:3: spec.wrkers: unknown field 'wrkers'" in controller.output()
    assert "last good state of this file stays in force" in controller.output()
    assert running(data_dir) == {"web-orchestrator", "web-1", "web-2"}
    save(path, manifest(repo, ["a"]))
    retry_until(lambda: set(live(data_dir)) == {"web-orchestrator", "web-1"}, message="fixed file applied")


def test_a_dead_agent_is_relaunched_without_any_command(ao, data_dir, repo, write_manifest, controllers):
    assert ao("apply", "-f", str(write_manifest(manifest(repo, ["a"], orchestrator=False)))).returncode == 0
    controller = controllers("--resync", "0.5")
    controller.wait_started()
    before = ao_sessions(ao)["web-1"]
    os.kill(before["pid"], signal.SIGKILL)
    after = retry_until(lambda: (r := ao_sessions(ao)["web-1"]) and r["restarts"] == 1 and r["agent"] == "running"
                        and r)
    assert after["pid"] != before["pid"]
    assert "session/web-1 relaunched: agent was killed by signal 9" in controller.output()
    # Stopping the controller never stops sessions.
    assert controller.stop() == 0
    assert running(data_dir) == {"web-1"}
    assert "controller stopped; sessions keep running" in controller.output()


def test_a_second_controller_refuses_and_a_stale_lease_is_taken_over(ao, data_dir, controllers):
    first = controllers()
    first.wait_started()
    second = ao("controller")
    assert second.returncode == 1
    assert f"another ao controller holds {data_dir.root / 'controller.lock'} (pid {first.proc.pid}" in second.stderr
    first.stop(signal.SIGKILL)
    third = controllers()
    third.wait_started()
    assert third.stop() == 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_crash_looping_agent_backs_off_without_spinning(ao, data_dir, repo, write_manifest, controllers):
    agent = f'{{command: [sh, -c, "{crashes_once_shown("failing fast", status=7)}"]}}'
    assert ao("apply", "-f", str(write_manifest(manifest(repo, ["a"], orchestrator=False, agent=agent)))).returncode == 0
    controller = controllers("--resync", "0.2")
    controller.wait_started()
    retry_until(lambda: ao_sessions(ao)["web-1"]["phase"] == "CrashLoopBackOff", timeout=120, message="crash loop")
    record = ao_sessions(ao)["web-1"]
    assert record["reason"] == "CrashLoopBackOff" and "exited with status 7; restarting in" in record["message"]
    # Backing off: over the next seconds the restarts grow slowly and the controller stays idle.
    restarts, cpu, wall = record["restarts"], _cpu_seconds(controller.proc.pid), time.monotonic()
    deadline = wall + 3
    while time.monotonic() < deadline:
        time.sleep(0.5)  # measuring an interval of time, not waiting for a condition
    assert ao_sessions(ao)["web-1"]["restarts"] - restarts <= 2
    used = _cpu_seconds(controller.proc.pid) - cpu
    assert used < 0.5 * (time.monotonic() - wall), f"controller used {used:.2f}s CPU in {time.monotonic() - wall:.1f}s"
    events = json.loads(ao("events", "-s", "web-1", "-o", "json").stdout)
    assert any(e["reason"] == "CrashLoopBackOff" and "failing fast" in e["message"] for e in events)


def _assert_exact(ao, data_dir, expected: set[str], history: set[str]) -> None:
    found = ao_sessions(ao)
    assert set(found) == expected, f"registry: {sorted(found)}"
    assert running(data_dir) == expected, f"tmux: {sorted(live(data_dir))}"
    assert all(s["phase"] == "Running" for s in found.values())
    # Numbers are never handed out twice, even across crashes.
    everything = json.loads(ao("get", "sessions", "--all", "-o", "json").stdout)
    ids = [s["id"] for s in everything]
    assert len(ids) == len(set(ids)) and set(ids) <= history | expected


# Nine crash-and-converge rounds of up to 21 sessions: minutes, not the global 120 s, on a loaded machine.
@pytest.mark.timeout(1200)
def test_killing_the_controller_at_random_moments_leaves_a_world_the_next_one_completes(
        ao, data_dir, repo, tmp_path, controllers):
    folder = tmp_path / "manifests"
    folder.mkdir()
    rng = random.Random(int(os.environ.get("AO_TEST_SEED", "7")))
    workers = [f"w{i}" for i in range(20)]
    history: set[str] = set()  # every ID expected so far: no other may ever appear

    def crash_then_converge(expected: set[str]) -> None:
        history.update(expected)
        killer = controllers("--watch", str(folder), "--resync", "0.5")
        time.sleep(rng.uniform(0.2, 2.5))  # the random moment of the crash is the point of this test
        killer.stop(signal.SIGKILL)
        survivor = controllers("--watch", str(folder), "--resync", "0.5")
        survivor.wait_started()
        retry_until(lambda: ao_sessions(ao).keys() == expected and running(data_dir) == expected, timeout=120,
                    message=f"converged to {len(expected)} sessions after a crash")
        survivor.stop()
        _assert_exact(ao, data_dir, expected, history)

    for round_ in range(3):
        name = f"r{round_}"
        path = folder / f"{name}.yaml"
        full = {f"{name}-orchestrator"} | {f"{name}-{i}" for i in range(1, 21)}
        half = {f"{name}-orchestrator"} | {f"{name}-{i}" for i in range(1, 11)}
        path.write_text(manifest(repo, workers, name=name))
        crash_then_converge(full)  # creations interrupted
        save(path, manifest(repo, workers[:10], name=name))
        crash_then_converge(half)  # reaps interrupted
        path.unlink()
        crash_then_converge(set())  # deletion of the whole project interrupted


def test_relaunches_are_spread_by_the_launch_rate(ao, data_dir, repo, write_manifest, controllers):
    names = ["a", "b", "c", "d"]
    assert ao("apply", "-f", str(write_manifest(manifest(repo, names, orchestrator=False)))).returncode == 0
    controller = controllers("--resync", "0.3", "--max-launch-rate", "1")
    controller.wait_started()
    for record in ao_sessions(ao).values():
        os.kill(record["pid"], signal.SIGKILL)
    retry_until(lambda: all(r["restarts"] == 1 and r["agent"] == "running" for r in ao_sessions(ao).values()),
                timeout=90, message="all four relaunched")
    import datetime

    started = sorted(datetime.datetime.fromisoformat(r["startedAt"].replace("Z", "+00:00")).timestamp()
                     for r in ao_sessions(ao).values())
    # One launch per second: the four relaunches cannot all start within two seconds.
    assert started[-1] - started[0] >= 2, started


@pytest.mark.timeout(600)  # three killed applies and a full one of 16 sessions
def test_killing_ao_apply_at_random_moments_leaves_a_world_the_next_pass_completes(ao, data_dir, repo, write_manifest):
    rng = random.Random(int(os.environ.get("AO_TEST_SEED", "11")))
    path = write_manifest(manifest(repo, [f"w{i}" for i in range(15)]))
    expected = {"web-orchestrator"} | {f"web-{i}" for i in range(1, 16)}
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    for _ in range(3):
        apply = subprocess.Popen([AO, "apply", "-f", str(path)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.5))  # the random moment of the crash is the point of this test
        apply.kill()
        apply.wait()
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    _assert_exact(ao, data_dir, expected, expected)


# ---------------------------------------------------------------- server restarts and the idle loop

SLEEPER = '{command: [sleep, "100000"]}'


def crash_counts(data_dir) -> dict[str, tuple[int, int]]:
    """Each session's (back-off step, quick failures), as the registry keeps them."""
    with sqlite3.connect(data_dir.db_path) as conn:
        rows = conn.execute("select id, backoff_step, quick_failures from sessions where phase != 'Terminated'")
        return {sid: (step, quick) for sid, step, quick in rows}


def events(ao, reason: str) -> list[dict]:
    return [e for e in json.loads(ao("events", "-o", "json", "-n", "500").stdout) if e["reason"] == reason]


def test_killing_the_tmux_server_is_one_event_and_never_a_crash_loop(ao, data_dir, repo, write_manifest, controllers):
    workers = ["a", "b", "c", "d", "e"]
    assert ao("apply", "-f", str(write_manifest(manifest(repo, workers, agent=SLEEPER)))).returncode == 0
    everyone = {"web-orchestrator"} | {f"web-{i}" for i in range(1, 6)}
    controller = controllers("--resync", "0.3")
    controller.wait_started()
    retry_until(lambda: running(data_dir) == everyone, message="all running")
    counts = crash_counts(data_dir)
    for kill in range(1, 4):  # three kills in a row, each as soon as everything runs again
        pids = {sid: s["pid"] for sid, s in ao_sessions(ao).items()}
        tmux(data_dir, "kill-server")
        retry_until(lambda: running(data_dir) == everyone
                    and all(s["pid"] != pids[sid] and s["phase"] == "Running" for sid, s in ao_sessions(ao).items()),
                    timeout=60, message=f"everything running again after kill {kill}")
        retry_until(lambda: len(events(ao, "RuntimeRestarted")) == kill, message=f"restart {kill} recorded")
    assert len(events(ao, "RuntimeRestarted")) == 3  # one event per kill, not one per session
    assert crash_counts(data_dir) == counts  # no session counted a crash
    assert not events(ao, "CrashLoopBackOff") and not events(ao, "BackOff")
    assert all(s["restarts"] == 3 for s in ao_sessions(ao).values())
    # The orchestrator hears of each restart in one message, not one per worker.
    bodies = [m["body"] for m in json.loads(ao("get", "messages", "-s", "web-orchestrator", "-o", "json").stdout)]
    assert sorted(bodies) == ["[from ao] relaunched web-1…web-5 after the tmux server restarted"] * 3, bodies


def test_a_crash_loop_is_still_one_when_the_server_lives(ao, data_dir, repo, write_manifest, controllers):
    agent = '{command: [sh, -c, "exit 3"]}'
    text = manifest(repo, ["a"], agent=agent).replace("  workers:", f"  workers:\n    - name: steady\n      agent: {SLEEPER}")
    assert ao("apply", "-f", str(write_manifest(text))).returncode == 0
    controller = controllers("--resync", "0.2")
    controller.wait_started()
    retry_until(lambda: ao_sessions(ao).get("web-2", {}).get("phase") == "CrashLoopBackOff", timeout=120,
                message="crash loop of the agent that exits at once")
    assert not events(ao, "RuntimeRestarted")


def _health(data_dir) -> dict:
    try:
        return json.loads((data_dir.root / "controller-health.json").read_text())
    except (OSError, ValueError):
        return {}


def test_an_idle_controller_skips_passes_yet_sees_every_change(ao, data_dir, repo, write_manifest, controllers):
    assert ao("apply", "-f", str(write_manifest(manifest(repo, ["a", "b"], agent=SLEEPER)))).returncode == 0
    controller = controllers("--resync", "0.2")
    controller.wait_started()
    retry_until(lambda: _health(data_dir).get("idleTicks", 0) >= 5, message="ticks without a pass")
    passes = _health(data_dir)["passes"]
    # A dead agent changes the tmux listing: relaunched.
    os.kill(ao_sessions(ao)["web-1"]["pid"], signal.SIGKILL)
    retry_until(lambda: (s := ao_sessions(ao)["web-1"]) and s["restarts"] == 1 and s["agent"] == "running",
                message="relaunched while idle")
    # Suspending a project changes the registry only (no pass of its own, nothing in tmux): seen at
    # the next tick, well before the periodic full pass (60 s).
    retry_until(lambda: _health(data_dir).get("idleTicks", 0) >= 3, message="idle again")
    passes = _health(data_dir)["passes"]
    assert ao("suspend", "project", "web").returncode == 0
    retry_until(lambda: _health(data_dir)["passes"] > passes, timeout=15, message="a pass after a registry change")


def test_a_project_reconciled_after_the_others_on_a_new_server_is_still_a_restart(ao, data_dir, repo, write_manifest):
    # `ao reconcile -p web` puts web's sessions on a new server first; api's sessions, missing from
    # it, went with the old server: relaunched at once, no crash counted.
    for text in (manifest(repo, ["a", "b"], orchestrator=False, agent=SLEEPER),
                 manifest(repo, ["x"], name="api", orchestrator=False, agent=SLEEPER)):
        assert ao("apply", "-f", str(write_manifest(text))).returncode == 0
    retry_until(lambda: running(data_dir) == {"web-1", "web-2", "api-1"}, message="all running")
    with sqlite3.connect(data_dir.db_path) as conn:
        started = max(at for (at,) in conn.execute("select started_at from sessions"))
    # tmux tells a server's start in whole seconds: the new one must start in a later second.
    retry_until(lambda: time.time() >= int(started) + 1, message="a new second")
    counts = crash_counts(data_dir)
    tmux(data_dir, "kill-server")
    assert "session/web-1 relaunched" in ao("reconcile", "-p", "web").stdout
    result = ao("reconcile")
    assert "session/api-1 relaunched: its tmux server was restarted" in result.stdout, result.stdout
    assert crash_counts(data_dir) == counts
    assert running(data_dir) == {"web-1", "web-2", "api-1"}
