"""Holding sessions on purpose, status, waiting, streaming, lifecycle routing and queued messages."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    AO,
    ao_sessions,
    demo_manifest,
    git,
    needs_tmux,
    retry_until,
    tmux,
)

pytestmark = needs_tmux

ONE = "    - name: one\n      issue: \"12\"\n      prompt: first task\n"
TWO = "    - name: two\n      prompt: second task\n"
BROKEN = "    - name: broken\n      prompt: cannot start\n      agent: {command: [no-such-binary]}\n"
NEVER = "    - name: three\n      prompt: third task\n      restartPolicy: Never\n"


def up(ao, write_manifest, repo, *workers: str, orchestrator: str = "false", expect: int = 0) -> Path:
    path = write_manifest(demo_manifest(repo, workers, name="app", orchestrator=orchestrator))
    result = ao("apply", "-f", str(path))
    assert result.returncode == expect, result.stdout + result.stderr
    return path


def sessions(ao) -> dict[str, dict]:
    return ao_sessions(ao, "--all")


def project(ao, name: str = "app") -> dict:
    result = ao("get", "projects", "-o", "json")
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}[name]


def messages(ao, *extra: str) -> list[dict]:
    result = ao("get", "messages", *extra, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def events(ao, sid: str) -> list[dict]:
    return json.loads(ao("events", "-s", sid, "-o", "json").stdout)


def screen(ao, sid: str, lines: int = 400) -> str:
    return ao("logs", sid, "-n", str(lines)).stdout


def wait_for_prompt(ao, sid: str) -> None:
    retry_until(lambda: screen(ao, sid, 5).rstrip().endswith(">"), message=f"{sid} shows its input prompt")


def type_line(data_dir, sid: str, text: str) -> None:
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "-l", text)
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "Enter")


def kill_agent(ao, sid: str) -> int:
    pid = sessions(ao)[sid]["pid"]
    assert pid, f"{sid} has no live agent"
    os.kill(pid, signal.SIGKILL)
    retry_until(lambda: sessions(ao)[sid]["agent"] == "killed (9)", message=f"{sid} agent killed")
    return pid


def tmux_sessions(data_dir) -> set[str]:
    return set(tmux(data_dir, "list-sessions", "-F", "#{session_name}", check=False).stdout.split())


def passes_until(ao, condition: Callable[[], object], timeout: float = 60.0, message: str = "") -> object:
    """Run `ao reconcile` passes (as the controller would) until `condition` holds."""

    def step() -> object:
        ao("reconcile")
        return condition()

    return retry_until(step, timeout=timeout, interval=0.2, message=message)


class Stream:
    """A long-running `ao` command whose stdout lines are read on a thread, with deadlines."""

    def __init__(self, data_dir, *args: str) -> None:
        env = {**os.environ, "AO_DATA_DIR": str(data_dir.root), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([AO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, predicate: Callable[[str], bool], timeout: float = 10.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line {what or predicate} within {timeout}s; saw: {self.seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def stream(data_dir) -> Iterator[Callable[..., Stream]]:
    started: list[Stream] = []

    def start(*args: str) -> Stream:
        started.append(Stream(data_dir, *args))
        return started[-1]

    yield start
    for s in started:
        s.close()


def popen_ao(data_dir, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    return subprocess.Popen([AO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


# ------------------------------------------------------------------ suspend / resume


def test_suspended_project_is_not_reconciled_until_resumed(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO)
    result = ao("suspend", "project", "app")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "project/app suspended"
    old_pid = kill_agent(ao, "app-1")
    for _ in range(2):
        assert ao("reconcile").returncode == 0
    held = sessions(ao)["app-1"]
    assert held["agent"] == "killed (9)" and held["restarts"] == 0 and held["pid"] is None
    assert sessions(ao)["app-2"]["agent"] == "running"  # sessions keep running
    status = project(ao)
    assert status["sync"] == "Suspended" and status["suspended"] is True
    # Not ready while suspended: `ao wait` times out naming why.
    blocked = ao("wait", "project", "app", "--for", "ready", "--timeout", "0.5")
    assert blocked.returncode == 1 and "project app is Suspended" in blocked.stderr, blocked.stderr
    waiter = popen_ao(data_dir, "wait", "project", "app", "--for", "ready", "--timeout", "30")
    try:
        resumed = ao("resume", "project", "app")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == "project/app resumed"
        out, err = waiter.communicate(timeout=40)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert out.strip() == "project/app ready"
    after = sessions(ao)["app-1"]
    assert after["agent"] == "running" and after["restarts"] == 1 and after["pid"] not in (None, old_pid)
    status = project(ao)
    assert (status["sync"], status["health"], status["suspended"]) == ("Synced", "Healthy", False)
    assert [e["reason"] for e in json.loads(ao("events", "-p", "app", "-o", "json").stdout)
            if e["session"] is None][-2:] == ["Suspended", "Resumed"]


def test_suspended_session_is_left_alone_and_resume_hands_it_back(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO)
    pid = sessions(ao)["app-1"]["pid"]
    result = ao("suspend", "session", "app-1")
    assert result.returncode == 0, result.stderr
    held = sessions(ao)["app-1"]
    assert (held["phase"], held["reason"], held["agent"], held["pid"]) == ("Suspended", "SuspendedByUser", "running", pid)
    kill_agent(ao, "app-1")
    kill_agent(ao, "app-2")
    result = ao("reconcile")
    assert result.returncode == 0, result.stderr
    assert "session/app-2 relaunched" in result.stdout and "session/app-1 unchanged" in result.stdout
    held = sessions(ao)["app-1"]
    assert (held["phase"], held["agent"], held["restarts"]) == ("Suspended", "killed (9)", 0)
    assert sessions(ao)["app-2"]["restarts"] == 1
    result = ao("resume", "session", "app-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "session/app-1 resumed"
    back = sessions(ao)["app-1"]
    assert (back["phase"], back["agent"], back["restarts"]) == ("Running", "running", 1)
    assert ao("resume", "session", "app-1").stdout.strip() == "session/app-1 is not suspended (Running)"


# ------------------------------------------------------------------ stop / start


def test_stopped_session_stays_stopped_until_started(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO)
    before = sessions(ao)["app-1"]
    workspace = Path(before["workspace"])
    (workspace / "wip.txt").write_text("keep me\n")
    result = ao("stop", "session", "app-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "session/app-1 stopped"
    assert tmux_sessions(data_dir) == {"app-2"}
    for _ in range(2):  # unlike a crash, nothing resurrects it
        result = ao("reconcile")
        assert result.returncode == 0, result.stderr
        assert "session/app-1 unchanged" in result.stdout
    stopped = sessions(ao)["app-1"]
    assert (stopped["phase"], stopped["reason"], stopped["pid"]) == ("Stopped", "StoppedByUser", None)
    assert tmux_sessions(data_dir) == {"app-2"}
    result = ao("start", "session", "app-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "session/app-1 started"
    after = sessions(ao)["app-1"]
    assert (after["phase"], after["agent"]) == ("Running", "running")
    assert after["pid"] not in (None, before["pid"])
    assert after["workspace"] == before["workspace"] and after["branch"] == before["branch"] == "ao/app-1"
    assert (workspace / "wip.txt").read_text() == "keep me\n"
    assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD") == "ao/app-1"
    assert Path(f"/proc/{after['pid']}/cwd").resolve() == workspace.resolve()
    assert tmux_sessions(data_dir) == {"app-1", "app-2"}
    assert retry_until(lambda: "AO_SESSION_ID=app-1" in screen(ao, "app-1"))
    reasons = [e["reason"] for e in events(ao, "app-1")]
    assert reasons[reasons.index("StoppedByUser"):] == ["StoppedByUser", "Released", "Relaunched"], reasons


def test_queued_message_to_a_stopped_session_is_delivered_once_after_start(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE)
    assert ao("stop", "session", "app-1").returncode == 0
    sent = ao("send", "--queue", "app-1", "start with the failing test")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("message/app-1 queued")
    [row] = messages(ao)
    assert (row["to"], row["outcome"], row["body"]) == ("app-1", "queued", "start with the failing test")
    assert ao("reconcile").returncode == 0  # held: stays queued
    assert [m["outcome"] for m in messages(ao)] == ["queued"]
    assert ao("start", "session", "app-1").returncode == 0
    passes_until(ao, lambda: [m["outcome"] for m in messages(ao)] == ["delivered"], message="queued message delivered")
    text = retry_until(lambda: (s := screen(ao, "app-1")) and "  | start with the failing test" in s and s)
    for _ in range(2):
        ao("reconcile")
    assert [m["outcome"] for m in messages(ao)] == ["delivered"]
    assert text.count("  | start with the failing test") == 1
    assert screen(ao, "app-1").count("  | start with the failing test") == 1


# ------------------------------------------------------------------ status


def test_project_status_generations_and_session_conditions(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE)
    healthy = project(ao)
    assert (healthy["sync"], healthy["health"], healthy["blockers"]) == ("Synced", "Healthy", [])
    assert (healthy["generation"], healthy["observedGeneration"]) == (1, 1)
    table = ao("get", "projects").stdout.splitlines()
    assert table[0].split()[:6] == ["NAME", "SYNC", "HEALTH", "RUNNING", "GENERATION", "OBSERVED"]
    assert table[1].split()[:6] == ["app", "Synced", "Healthy", "1/1", "1", "1"]
    up(ao, write_manifest, repo, ONE)  # same content: same generation
    assert project(ao)["generation"] == 1
    up(ao, write_manifest, repo, ONE, BROKEN, expect=1)
    degraded = project(ao)
    assert (degraded["sync"], degraded["health"]) == ("Synced", "Degraded")
    assert (degraded["generation"], degraded["observedGeneration"]) == (2, 2)
    assert len(degraded["blockers"]) == 1 and degraded["blockers"][0].startswith("app-2: Failed (AgentNotFound)")
    view = json.loads(ao("describe", "session", "app-2", "-o", "json").stdout)
    conditions = {c["type"]: c for c in view["conditions"]}
    for condition in conditions.values():
        assert set(condition) == {"type", "status", "reason", "message", "lastTransitionTime"}
    ready = conditions["Ready"]
    assert ready["status"] is False and ready["reason"] == "AgentNotFound"
    assert "no-such-binary" in ready["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ready["lastTransitionTime"])
    assert conditions["AgentRunning"]["status"] is False
    good = {c["type"]: c for c in json.loads(ao("describe", "session", "app-1", "-o", "json").stdout)["conditions"]}
    assert good["Ready"]["status"] is True and good["Ready"]["reason"] == "Started"
    assert (good["AgentRunning"]["status"], good["AgentRunning"]["reason"]) == (True, "ProcessAlive")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", good["AgentRunning"]["lastTransitionTime"])


def test_apply_wait_returns_when_healthy_and_names_the_blocker_when_not(ao, data_dir, repo, write_manifest):
    path = write_manifest(demo_manifest(repo, ONE, name="app", orchestrator="true"))
    result = ao("apply", "-f", str(path), "--wait", "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert "project/app synced and healthy" in result.stderr + result.stdout
    bad = write_manifest(demo_manifest(repo, ONE + BROKEN, name="app", orchestrator="true"))
    result = ao("apply", "-f", str(bad), "--wait", "--timeout", "5")
    assert result.returncode == 1, result.stdout + result.stderr
    # A missing agent program cannot clear by itself: the wait names it at once instead of timing out.
    assert "timed out" not in result.stderr
    blocker = result.stderr.split("error: project app:")[1]
    assert "app-2" in blocker and "AgentNotFound" in blocker and "does not clear by itself" in blocker, result.stderr


def test_wait_for_a_removed_worker_to_be_deleted(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO)
    blocked = ao("wait", "session", "app-2", "--for", "deleted", "--timeout", "0.5")
    assert blocked.returncode == 1 and "session app-2 is Running" in blocked.stderr, blocked.stderr
    waiter = popen_ao(data_dir, "wait", "session", "app-2", "--for", "deleted", "--timeout", "30")
    try:
        up(ao, write_manifest, repo, ONE)
        out, err = waiter.communicate(timeout=40)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert out.strip() == "session/app-2 deleted"
    assert sessions(ao)["app-2"]["phase"] == "Terminated"
    assert "app-2" not in tmux_sessions(data_dir)
    ready = ao("wait", "project", "app", "--for", "ready", "--timeout", "5")
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.strip() == "project/app ready"


# ------------------------------------------------------------------ streams


def test_get_sessions_watch_streams_changes(ao, data_dir, repo, write_manifest, stream):
    up(ao, write_manifest, repo, ONE)
    watch = stream("get", "sessions", "-w")
    watch.expect(lambda line: "app-1" in line and "Running" in line and "agent running" in line,
                 what="the initial state of app-1")
    kill_agent(ao, "app-1")
    watch.expect(lambda line: "app-1" in line and "agent killed (9)" in line, what="app-1 killed")
    ao("reconcile")
    watch.expect(lambda line: "app-1" in line and "agent running" in line and "restarts 1" in line,
                 what="app-1 relaunched")
    assert watch.proc.poll() is None  # still following


def test_get_sessions_watch_does_not_replay_sessions_that_ended_before_it_began(
        ao, data_dir, repo, write_manifest, stream):
    up(ao, write_manifest, repo, ONE, TWO)
    up(ao, write_manifest, repo, ONE)  # app-2 is reaped: Terminated, long before the watch
    assert sessions(ao)["app-2"]["phase"] == "Terminated"
    watch = stream("get", "sessions", "-w")
    watch.expect(lambda line: "app-1" in line and "agent running" in line, what="the initial state of app-1")
    kill_agent(ao, "app-1")
    # The kill is seen on a later poll than the first one, so a replay of app-2 would already be here.
    watch.expect(lambda line: "app-1" in line and "agent killed (9)" in line, what="app-1 killed")
    assert not [line for line in watch.seen if "app-2" in line], watch.seen


def test_events_follow_streams_new_events(ao, data_dir, repo, write_manifest, stream):
    up(ao, write_manifest, repo, ONE)
    follow = stream("events", "-f")
    follow.expect(lambda line: "Created" in line and "app-1" in line, what="the past Created event")
    assert ao("suspend", "session", "app-1").returncode == 0
    follow.expect(lambda line: "SuspendedByUser" in line and "app-1" in line, what="the new SuspendedByUser event")
    assert ao("resume", "session", "app-1").returncode == 0
    follow.expect(lambda line: "Released" in line and "app-1" in line, what="the new Released event")
    assert sum("Created" in line for line in follow.seen) == 1  # past events are not repeated
    assert follow.proc.poll() is None


# ------------------------------------------------------------------ lifecycle routing


@pytest.mark.timeout(300)  # several passes and deliveries; slow on a loaded 2-core machine
def test_worker_transitions_reach_the_orchestrator_once(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO, NEVER, orchestrator="true")
    for sid in ("app-1", "app-2", "app-3"):
        wait_for_prompt(ao, sid)
    type_line(data_dir, "app-1", "/exit 0")
    type_line(data_dir, "app-2", "/exit 3")
    type_line(data_dir, "app-3", "/exit 4")
    retry_until(lambda: [sessions(ao)[s]["agent"] for s in ("app-1", "app-2", "app-3")]
                == ["exited (0)", "exited (3)", "exited (4)"], message="the three workers to exit")

    def notices() -> list[dict]:
        return [m for m in messages(ao, "-s", "app-orchestrator") if m["from"] == "ao"]

    def lines(found: list[dict]) -> list[str]:
        """The notices' lines: the transitions of one pass come as one message, a line each."""
        return sorted(line for m in found for line in m["body"].splitlines())

    passes_until(ao, lambda: len(lines(notices())) >= 3 and all(m["outcome"] == "delivered" for m in notices()),
                 message="three notices delivered to the orchestrator")
    for _ in range(2):  # later passes announce nothing again
        assert ao("reconcile").returncode == 0
    found = notices()
    bodies = lines(found)
    assert len(bodies) == 3, bodies
    assert all(m["to"] == "app-orchestrator" and m["outcome"] == "delivered" for m in found)
    assert re.fullmatch(r"\[from ao\] app-1 \(issue 12\) exited 0 after \d+[sm]; branch ao/app-1", bodies[0]), bodies
    assert bodies[1].startswith("[from ao] app-2 was relaunched (restart 1): agent exited with status 3"), bodies
    assert re.fullmatch(r"\[from ao\] app-3 failed: exited 4 after \d+[sm]; branch ao/app-3; see `ao logs app-3`",
                        bodies[2]), bodies
    text = retry_until(lambda: (s := screen(ao, "app-orchestrator", 2000)) and "  | [from ao] app-3 failed" in s and s)
    for sid in ("app-1", "app-2", "app-3"):
        assert text.count(f"  | [from ao] {sid} ") == 1, text
    assert "  | [from ao] app-1 (issue 12) exited 0 after" in text
    assert sessions(ao)["app-1"]["phase"] == "Succeeded" and sessions(ao)["app-3"]["phase"] == "Failed"
    # Reaping a worker is announced too, once; the events table has every transition.
    up(ao, write_manifest, repo, ONE, NEVER, orchestrator="true")
    ao("reconcile")
    reaped = [m for m in notices() if "app-2 was stopped and removed" in m["body"]]
    assert [m["body"] for m in reaped] == [
        "[from ao] app-2 was stopped and removed: worker 'two' is no longer declared; branch ao/app-2"]
    assert len(lines(notices())) == 4
    reasons = {sid: [e["reason"] for e in events(ao, sid)] for sid in ("app-1", "app-2", "app-3")}
    assert reasons["app-1"][-1] == "Completed" and reasons["app-3"][-1] == "Failed", reasons
    assert "Relaunched" in reasons["app-2"] and reasons["app-2"][-1] == "Reaped", reasons


def test_project_without_orchestrator_gets_no_notice_but_the_event(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE)
    wait_for_prompt(ao, "app-1")
    type_line(data_dir, "app-1", "/exit 0")
    retry_until(lambda: sessions(ao)["app-1"]["agent"] == "exited (0)", message="app-1 exits 0")
    result = ao("reconcile")
    assert "session/app-1 succeeded" in result.stdout, result.stdout + result.stderr
    ao("reconcile")
    assert messages(ao) == []
    history = events(ao, "app-1")
    assert [e["reason"] for e in history] == ["Created", "Completed"]
    assert "exited 0" in history[-1]["message"] or "status 0" in history[-1]["message"], history[-1]


def test_a_worker_that_fails_to_start_is_announced_once(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, BROKEN, orchestrator="true", expect=1)
    assert sessions(ao)["app-2"]["phase"] == "Failed"
    for _ in range(2):  # retries of the launch are not new transitions
        ao("reconcile")
    # A notice is recorded (queued or delivered) in the same transaction as the transition.
    about = [m for m in messages(ao, "-s", "app-orchestrator")
             if m["from"] == "ao" and m["body"].startswith("[from ao] app-2 ")]
    assert len(about) == 1 and "fail" in about[0]["body"], about


@pytest.mark.timeout(300)  # three back-offs (about 1 + 2 + 4 s) plus a pass each, under load
def test_entering_crash_loop_is_announced_once_while_it_lasts(ao, data_dir, repo, write_manifest):
    crash = '    - name: crash\n      agent: {command: [sh, -c, "sleep 0.3; exit 3"]}\n'
    up(ao, write_manifest, repo, crash, orchestrator="true")

    def looping_again() -> bool:
        record = sessions(ao)["app-1"]
        return record["phase"] == "CrashLoopBackOff" and record["restarts"] >= 3

    # Restart 3 is a relaunch from CrashLoopBackOff that dies quickly: the worker is still crash-looping.
    passes_until(ao, looping_again, timeout=240, message="app-1 back in CrashLoopBackOff after restart 3")
    bodies = [m["body"] for m in messages(ao, "-s", "app-orchestrator") if m["from"] == "ao"]
    assert sum("is crash-looping" in b for b in bodies) == 1, bodies


def test_a_stopped_worker_removed_from_the_manifest_is_reaped(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, ONE, TWO)
    assert ao("stop", "session", "app-2").returncode == 0
    up(ao, write_manifest, repo, ONE)
    waited = ao("wait", "session", "app-2", "--for", "deleted", "--timeout", "2")
    assert waited.returncode == 0, waited.stderr
    assert sessions(ao)["app-2"]["phase"] == "Terminated"
