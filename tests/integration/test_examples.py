"""The README's promises: the demo project comes up, every command is documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import AO, ao_sessions, needs_tmux, retry_until

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _commands() -> list[list[str]]:
    out = subprocess.run([AO, "--help"], capture_output=True, text=True, check=True).stdout
    names = re.findall(r"^  (\w[\w-]*)\s{2,}", out.split("Commands:")[1], flags=re.M)
    commands = [[n] for n in names if n != "get"]
    get = subprocess.run([AO, "get", "--help"], capture_output=True, text=True, check=True).stdout
    commands += [["get", n] for n in re.findall(r"^  (\w+)\s{2,}", get.split("Commands:")[1], flags=re.M)]
    return commands


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help_with_examples_and_is_in_the_readme(command):
    result = subprocess.run([AO, *command, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout, f"`ao {' '.join(command)} --help` shows no examples"
    assert f"ao {' '.join(command)}" in README, f"`ao {' '.join(command)}` is not documented in README.md"


@needs_tmux
def test_demo_manifest_comes_up_with_the_demo_agent(ao, data_dir, repo, tmp_path):
    # The example as shipped, except that its worktrees and branches go to a scratch repository.
    text = (ROOT / "examples" / "demo.yaml").read_text()
    assert "  repo: ..  " in text
    demo = tmp_path / "demo.yaml"
    demo.write_text(text.replace("  repo: ..  ", f"  repo: {repo}  "))
    result = ao("apply", "-f", str(demo))
    assert result.returncode == 0, result.stderr
    sessions = ao_sessions(ao)
    assert set(sessions) == {"demo-orchestrator", "demo-1", "demo-2"}
    assert all(s["phase"] == "Running" and s["agent"] == "running" for s in sessions.values())
    screen = retry_until(lambda: (out := ao("logs", "demo-orchestrator", "-n", "300").stdout)
                         and "end of prompt" in out and out)
    assert "ao demo agent" in screen and "AO_SESSION_ID=demo-orchestrator" in screen
