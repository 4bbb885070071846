"""Everyday commands say what is true: options anywhere, tmux missing named as such, whole messages."""

from __future__ import annotations

import json
import re

from tests.conftest import (
    ao_sessions,
    crashes_once_shown,
    demo_manifest,
    needs_tmux,
    retry_until,
)

pytestmark = needs_tmux

ONE = "    - name: one\n      prompt: first task\n"


def up(ao, write_manifest, repo, *workers: str, agent: str = "{preset: demo}") -> None:
    path = write_manifest(demo_manifest(repo, workers, name="app", orchestrator=False, agent=agent))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_send_takes_its_options_after_the_session(ao, repo, write_manifest):
    up(ao, write_manifest, repo, ONE)
    assert ao("stop", "session", "app-1").returncode == 0
    # The form `ao send --help` shows: options may come after the positional arguments.
    result = ao("send", "app-1", "--queue", "start with the failing test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "message/app-1 queued: delivered once the agent runs"
    queued = json.loads(ao("get", "messages", "-s", "app-1", "-o", "json").stdout)
    assert [m["body"] for m in queued] == ["start with the failing test"]


def test_without_tmux_reads_and_send_say_tmux_is_not_found(ao, repo, write_manifest, tmp_path):
    up(ao, write_manifest, repo, ONE)
    no_tmux = {"PATH": str(tmp_path / "empty-bin")}
    listed = ao("get", "sessions", env=no_tmux)
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("app-1 "))
    assert row[6] == "?" and "missing" not in listed.stdout, listed.stdout
    assert "tmux is not installed" in listed.stderr
    sent = ao("send", "app-1", "hello", env=no_tmux)
    assert sent.returncode == 1
    assert sent.stderr.startswith("error: tmux is not installed"), sent.stderr
    assert "no live session" not in sent.stderr
    # With tmux back, the same session is plainly running.
    assert ao_sessions(ao)["app-1"]["agent"] == "running"


def test_events_table_shows_the_first_line_of_output_and_wide_shows_all(ao, repo, write_manifest):
    agent = f'{{command: [sh, -c, "{crashes_once_shown("first words", "second words", status=3)}"]}}'
    up(ao, write_manifest, repo, ONE, agent=agent)

    def relaunched() -> bool:
        ao("reconcile")
        return ao_sessions(ao, "--all")["app-1"]["restarts"] >= 1

    retry_until(relaunched, timeout=60, interval=0.2, message="app-1 relaunched after exiting")
    table = ao("events", "-s", "app-1").stdout
    line = next(line for line in table.splitlines() if "Relaunched" in line)
    assert "last output: first words (+1 more line; -o wide)" in line, table
    wide = ao("events", "-s", "app-1", "-o", "wide").stdout
    assert "  first words\n  second words" in wide, wide


def test_doctor_on_a_healthy_setup_has_no_fail_and_aligned_columns(ao):
    result = ao("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and not [line for line in lines if line.startswith("FAIL")], result.stdout
    assert any(line.split()[1] == "runtime" for line in lines), result.stdout
    # The detail column starts at one offset on every line.
    starts = {re.match(r"(ok|FAIL|WARN)\s+\S+(?: \S+)?\s{2,}", line).end() for line in lines}  # WARN: ptys near the limit on a busy machine
    assert len(starts) == 1, result.stdout


def test_help_metavars_name_what_to_type():
    import subprocess

    from tests.conftest import AO

    top = subprocess.run([AO, "--help"], capture_output=True, text=True, check=True).stdout
    names = re.findall(r"^  (\w[\w-]*)\s{2,}", top.split("Commands:")[1], flags=re.M)
    commands = [[n] for n in names if n not in ("get", "send")] + [["get", "sessions"], ["get", "projects"]]
    for command in commands:
        text = subprocess.run([AO, *command, "--help"], capture_output=True, text=True, check=True).stdout
        assert "list[" not in text and "{" not in text.splitlines()[0], f"ao {' '.join(command)} --help:\n{text}"
    wait = subprocess.run([AO, "wait", "--help"], capture_output=True, text=True, check=True).stdout
    assert wait.startswith("Usage: ao wait [OPTIONS] KIND NAME")
    apply = subprocess.run([AO, "apply", "--help"], capture_output=True, text=True, check=True).stdout
    assert "-f, --filename PATH" in apply
