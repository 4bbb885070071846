"""The README's promises: the demo project comes up, every command is documented."""

from __future__ import annotations

import json
import os
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


@needs_tmux
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "ao").exists(), reason="scripts/demo.sh uses the checkout's .venv")
def test_demo_script_works_in_a_scratch_repository_under_the_data_dir(data_dir, tmp_path):
    def demo_branches() -> str:
        return subprocess.run(["git", "-C", str(ROOT), "branch", "--list", "ao/demo-*", "orchestrator/demo-*"],
                              capture_output=True, text=True, check=False).stdout

    before = demo_branches()
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    # Run from elsewhere: the script finds its checkout itself.
    result = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    scratch = data_dir.root / "demo" / "repo"
    assert f"The demo's data lives in {data_dir.root / 'demo'}" in result.stdout
    branches = subprocess.run(["git", "-C", str(scratch), "branch", "--list"], capture_output=True, text=True,
                              check=True).stdout
    assert "ao/demo-1" in branches and "orchestrator/demo-orchestrator" in branches
    assert demo_branches() == before, "the demo created branches in the user's checkout"
    ao = [str(ROOT / ".venv" / "bin" / "ao")]
    sessions = subprocess.run([*ao, "get", "sessions", "-o", "json"], env=env, capture_output=True, text=True,
                              check=True).stdout
    assert {s["workspace"] for s in json.loads(sessions)} <= {
        str(data_dir.worktree_dir("demo", sid)) for sid in ("demo-orchestrator", "demo-1", "demo-2")}
    # Running it again reuses the scratch repository.
    again = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "creating the demo's scratch repository" not in again.stdout


def test_the_demo_installs_ao_without_the_test_tools_and_the_tests_add_them():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    test = (ROOT / "scripts" / "test.sh").read_text()
    assert "bash scripts/setup.sh\n" in demo
    assert "bash scripts/setup.sh --test\n" in test
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'extras=""' in setup and 'extras="[test]"' in setup and 'install --quiet -e ".$extras"' in setup
