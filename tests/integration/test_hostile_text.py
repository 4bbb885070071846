"""Hostile text through the real `ao` and a real tmux server."""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.registry.records import ProjectRecord, SessionRecord
from reconciler.registry.store import Registry
from reconciler.runtime.base import Launch, Stamp
from reconciler.runtime.tmux import TmuxRuntime
from tests.conftest import needs_tmux, retry_until

ESC = "\x1b]0;owned\x07\x1b[2J"


def test_send_refuses_a_smuggling_sender(ao) -> None:
    result = ao("send", "shop-1", "hi", env={"AO_SESSION_ID": "x\x1b[201~\rexit 9\r"})

    assert result.returncode == 2
    assert "AO_SESSION_ID" in result.stderr
    assert "\x1b" not in result.stderr and "Traceback" not in result.stderr


def test_stored_escape_sequences_are_printed_escaped(ao, data_dir) -> None:
    registry = Registry.open(data_dir.db_path)
    with registry.transaction():
        registry.save_project(ProjectRecord(name="shop", prefix="shop", spec={}, spec_hash="h", generation=1))
        registry.save_session(SessionRecord(id="shop-1", project="shop", kind="worker", phase="Failed",
                                            worker="w", spec={"issue": f"9{ESC}"}, reason=f"Bad{ESC}"))
        registry.add_event("Failed", f"boom{ESC}", project="shop", session="shop-1", warning=True)
        registry.db["messages"].insert({"at": 1.0, "sender": "ao", "target": "shop-1", "project": "shop",
                                        "body": f"hello{ESC}", "outcome": "queued", "detail": None,
                                        "enter_presses": 0})
    registry.close()

    for command in (["get", "sessions", "-o", "wide"], ["get", "messages"], ["events"]):
        result = ao(*command)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, command
        assert "\\x1b]0;owned\\x07" in result.stdout, command


@needs_tmux
def test_tmux_does_not_expand_formats_in_the_working_directory(data_dir, tmp_path: Path) -> None:
    marker = tmp_path / "expanded"
    cwd = tmp_path / f"w#(touch {marker})#S"
    cwd.mkdir(parents=True)
    runtime = TmuxRuntime(data_dir.tmux_socket, data_dir.tmux_config)
    record = tmp_path / "pwd.txt"
    argv = (sys.executable, "-c", f"import os; open({str(record)!r}, 'w').write(os.getcwd()); input()")
    launch = Launch("t-1", argv, str(cwd), (), Stamp("o", "p", "worker", "w", "h"))

    runtime.create(launch)
    assert retry_until(lambda: record.exists() and record.read_text()) == str(cwd)
    record.unlink()
    runtime.respawn(launch)
    assert retry_until(lambda: record.exists() and record.read_text()) == str(cwd)
    assert not marker.exists()


def test_spawn_refuses_an_issue_with_control_characters(ao, repo, tmp_path) -> None:
    path = tmp_path / "sp.yaml"
    path.write_text(f"apiVersion: ao/v1\nkind: Project\nmetadata: {{name: sp}}\nspec:\n  repo: {repo}\n"
                    "  orchestrator: {enabled: false}\n  workers: []\n")
    assert ao("apply", "-f", str(path)).returncode == 0

    result = ao("spawn", "-p", "sp", "--issue", "77\x1b[201~\r/exit 7\r", "--prompt", "x")

    assert result.returncode == 2
    assert "issue" in result.stderr and "\x1b" not in result.stderr
    assert ao("get", "sessions", "-o", "json").stdout.strip() == "[]"
