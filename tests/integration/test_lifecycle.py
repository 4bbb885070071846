"""What happens when agents die, registries forget and strangers share the server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading

import pytest

from tests.conftest import (
    TMUX,
    ao_sessions,
    crashes_once_shown,
    demo_manifest,
    needs_tmux,
    retry_until,
    tmux,
)

pytestmark = needs_tmux

WORKERS = "    - name: one\n      prompt: first task\n    - name: two\n      prompt: second task\n"


def manifest(repo, *, agent="{preset: demo}", policy="OnFailure", orchestrator="false"):
    return demo_manifest(repo, WORKERS, name="app", agent=agent, policy=policy, orchestrator=orchestrator)


def apply(ao, write_manifest, repo, **options):
    path = write_manifest(manifest(repo, **options))
    result = ao("apply", "-f", str(path))
    return path, result


def session(ao, sid):
    return ao_sessions(ao, "--all")[sid]


def type_line(data_dir, sid, text):
    """Type into the agent's terminal the way a person would."""
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "-l", text)
    tmux(data_dir, "send-keys", "-t", f"={sid}:", "Enter")


def wait_for_prompt(ao, sid):
    retry_until(lambda: ao("logs", sid, "-n", "5").stdout.rstrip().endswith(">"), message=f"{sid} input prompt")


def test_killed_agent_is_relaunched_under_the_same_id(ao, data_dir, repo, write_manifest):
    _, result = apply(ao, write_manifest, repo)
    assert result.returncode == 0, result.stderr
    before = session(ao, "app-1")
    os.kill(before["pid"], signal.SIGKILL)
    retry_until(lambda: session(ao, "app-1")["agent"] == "killed (9)")
    result = ao("reconcile")
    assert result.returncode == 0, result.stderr
    assert "session/app-1 relaunched: agent was killed by signal 9; restartPolicy OnFailure" in result.stdout
    assert "session/app-2 unchanged" in result.stdout
    after = session(ao, "app-1")
    assert after["restarts"] == 1 and after["phase"] == "Running" and after["agent"] == "running"
    assert after["pid"] != before["pid"]
    assert session(ao, "app-2")["restarts"] == 0
    # Same tmux session, same ID; the new agent prints the same identity.
    assert retry_until(lambda: "AO_SESSION_ID=app-1" in ao("logs", "app-1", "-n", "200").stdout)
    events = json.loads(ao("events", "-s", "app-1", "-o", "json").stdout)
    assert [e["reason"] for e in events] == ["Created", "Relaunched"]


def test_exit_codes_follow_the_restart_policy(ao, data_dir, repo, write_manifest):
    _, result = apply(ao, write_manifest, repo)
    assert result.returncode == 0, result.stderr
    for sid in ("app-1", "app-2"):
        wait_for_prompt(ao, sid)
    type_line(data_dir, "app-1", "/exit 0")
    type_line(data_dir, "app-2", "/exit 3")
    # Observing while the agents exit is deliberate: tmux 3.3a can miss an exit status then,
    # and observe() must recover it.
    retry_until(lambda: session(ao, "app-1")["agent"] == "exited (0)" and session(ao, "app-2")["agent"] == "exited (3)",
                message="both agents to exit with their status")
    result = ao("reconcile")
    assert "session/app-1 succeeded" in result.stdout
    assert "session/app-2 relaunched: agent exited with status 3; restartPolicy OnFailure" in result.stdout
    assert session(ao, "app-1")["phase"] == "Succeeded"
    assert session(ao, "app-1")["exitCode"] == 0
    assert session(ao, "app-2")["restarts"] == 1
    # A finished worker stays finished: the next pass leaves it alone.
    assert "session/app-1 unchanged" in ao("reconcile").stdout


def test_never_policy_records_failure_with_last_output(ao, data_dir, repo, write_manifest):
    crash = crashes_once_shown("working on $AO_SESSION_ID", "fatal error here", status=4)
    agent = f'{{command: [sh, -c, "{crash}"]}}'
    _, result = apply(ao, write_manifest, repo, agent=agent, policy="Never")
    assert result.returncode == 0, result.stderr
    retry_until(lambda: session(ao, "app-1")["agent"] == "exited (4)")
    result = ao("reconcile", "-p", "app")
    assert "session/app-1 failed: agent exited with status 4; restartPolicy Never" in result.stdout
    record = session(ao, "app-1")
    assert record["phase"] == "Failed" and record["restarts"] == 0
    event = json.loads(ao("events", "-s", "app-1", "-o", "json").stdout)[-1]
    assert event["type"] == "Warning" and event["reason"] == "Failed"
    assert "fatal error here" in event["message"]


@pytest.mark.timeout(300)  # three quick failures with back-off between them, under load
def test_crash_loop_backs_off_with_the_reason(ao, data_dir, repo, write_manifest):
    agent = f'{{command: [sh, -c, "{crashes_once_shown("boom from $AO_SESSION_ID", status=3)}"]}}'
    _, result = apply(ao, write_manifest, repo, agent=agent)
    assert result.returncode == 0, result.stderr

    def crash_looping():
        ao("reconcile")
        return session(ao, "app-1")["phase"] == "CrashLoopBackOff"

    retry_until(crash_looping, timeout=240, interval=0.2, message="app-1 in CrashLoopBackOff")
    record = session(ao, "app-1")
    assert record["reason"] == "CrashLoopBackOff"
    assert "exited with status 3; restarting in" in record["message"]
    assert record["nextRetryAt"] is not None
    events = json.loads(ao("events", "-s", "app-1", "-o", "json").stdout)
    loop = [e for e in events if e["reason"] == "CrashLoopBackOff"]
    assert loop and "boom from app-1" in loop[-1]["message"]
    # While backing off, a pass does nothing for it.
    assert "session/app-1 waiting" in ao("reconcile").stdout or session(ao, "app-1")["restarts"] >= 2


def test_lost_registry_rows_are_adopted_not_duplicated(ao, data_dir, repo, write_manifest):
    _, result = apply(ao, write_manifest, repo, orchestrator="true")
    assert result.returncode == 0, result.stderr
    pids = {sid: session(ao, sid)["pid"] for sid in ("app-orchestrator", "app-1", "app-2")}
    conn = sqlite3.connect(data_dir.db_path)
    conn.execute("delete from sessions")
    conn.commit()
    conn.close()
    result = ao("reconcile")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "session/app-1 adopted", "session/app-2 adopted", "session/app-orchestrator adopted"]
    assert {sid: session(ao, sid)["pid"] for sid in pids} == pids
    names = tmux(data_dir, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert sorted(names) == ["app-1", "app-2", "app-orchestrator"]
    # The counter moved past the adopted numbers: a new worker gets app-3.
    path = write_manifest(manifest(repo, orchestrator="true") + "    - name: three\n")
    assert "session/app-3 created" in ao("apply", "-f", str(path)).stdout


def test_orphans_are_reaped_strangers_are_untouched(ao, data_dir, repo, write_manifest, tmp_path):
    _, result = apply(ao, write_manifest, repo)
    assert result.returncode == 0, result.stderr
    # A session on ao's server with ao's stamp that nothing declares: an orphan.
    tmux(data_dir, "new-session", "-d", "-s", "app-9", "--", "sleep", "1000")
    tmux(data_dir, "set-option", "-t", "=app-9:", "@ao-owner", data_dir.owner_id)
    tmux(data_dir, "set-option", "-t", "=app-9:", "@ao-project", "app")
    with sqlite3.connect(data_dir.db_path) as conn:  # made by this registry (another's is left alone)
        identity = conn.execute("select value from meta where key = 'registry_id'").fetchone()[0]
    tmux(data_dir, "set-option", "-t", "=app-9:", "@ao-registry", identity)
    # A session a user started by hand on ao's server, and one on the user's own server.
    tmux(data_dir, "new-session", "-d", "-s", "scratch", "--", "sleep", "1000")
    other = tmp_path / "other.sock"
    subprocess.run([TMUX, "-S", str(other), "new-session", "-d", "-s", "app-1", "--", "sleep", "1000"], check=True)
    try:
        result = ao("reconcile")
        assert result.returncode == 0, result.stderr
        assert "session/app-9 reaped: orphaned session with ao's stamp; nothing declares it" in result.stdout
        names = set(tmux(data_dir, "list-sessions", "-F", "#{session_name}").stdout.split())
        assert names == {"app-1", "app-2", "scratch"}
        theirs = subprocess.run([TMUX, "-S", str(other), "list-sessions", "-F", "#{session_name}"],
                                capture_output=True, text=True, check=True).stdout.split()
        assert theirs == ["app-1"]
        assert "scratch" not in ao("get", "sessions").stdout
    finally:
        subprocess.run([TMUX, "-S", str(other), "kill-server"], capture_output=True)


def test_a_stranger_holding_a_declared_name_blocks_only_that_session(ao, data_dir, repo, write_manifest):
    tmux(data_dir, "-f", "/dev/null", "new-session", "-d", "-s", "app-orchestrator", "--", "sleep", "1000")
    _, result = apply(ao, write_manifest, repo, orchestrator="true")
    assert result.returncode == 1
    assert "session/app-orchestrator blocked: a session named app-orchestrator exists on ao's tmux server" in result.stderr
    assert "session/app-1 created" in result.stdout
    assert session(ao, "app-orchestrator")["reason"] == "NameTaken"
    tmux(data_dir, "kill-session", "-t", "=app-orchestrator")
    result = ao("reconcile")
    assert "session/app-orchestrator created" in result.stdout, result.stdout + result.stderr


def test_missing_agent_is_a_clear_session_failure(ao, data_dir, repo, write_manifest):
    _, result = apply(ao, write_manifest, repo, agent="{command: [no-such-agent-binary, --flag]}")
    assert result.returncode == 1
    assert ("session/app-1 failed: agent command 'no-such-agent-binary' was not found on PATH; "
            "install it or change spec.agent") in result.stderr
    record = session(ao, "app-1")
    assert record["phase"] == "Failed" and record["reason"] == "AgentNotFound"
    describe = ao("describe", "session", "app-1").stdout
    assert "AgentNotFound" in describe and "no-such-agent-binary" in describe


def test_two_concurrent_applies_both_succeed_without_duplicates(ao, data_dir, repo, write_manifest):
    first = write_manifest(manifest(repo, orchestrator="true"), "a.yaml")
    second = write_manifest(manifest(repo, orchestrator="true").replace("name: app", "name: web"), "b.yaml")
    results = {}

    def run(name, path):
        results[name] = ao("apply", "-f", str(path))

    threads = [threading.Thread(target=run, args=(n, p)) for n, p in (("a", first), ("b", second), ("c", first))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results.values()), {k: r.stderr for k, r in results.items()}
    names = sorted(tmux(data_dir, "list-sessions", "-F", "#{session_name}").stdout.split())
    assert names == ["app-1", "app-2", "app-orchestrator", "web-1", "web-2", "web-orchestrator"]
    records = json.loads(ao("get", "sessions", "--all", "-o", "json").stdout)
    assert sorted(r["id"] for r in records) == names


def test_missing_tmux_is_one_clear_line(ao, repo, write_manifest):
    path = write_manifest(manifest(repo, orchestrator="false"))
    result = ao("apply", "-f", str(path), env={"PATH": "/nonexistent"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: tmux is not installed; install it with `apt-get install tmux` (Debian/Ubuntu) "
        "or `brew install tmux` (macOS)")
