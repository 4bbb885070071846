"""`ao doctor` checks each agent CLI an applied project uses: found, its version, its first-run screens."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import demo_manifest, needs_tmux

pytestmark = needs_tmux


def test_doctor_names_a_missing_agent_and_the_first_run_screen_it_would_stop_on(ao, repo, write_manifest, tmp_path):
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    codex = bin_dir / "codex"  # an installed CLI that was never signed in
    codex.write_text("#!/bin/sh\necho 'codex-cli 0.171.0'\n")
    codex.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(home), "CODEX_HOME": str(home / ".codex")}
    workers = ["    - name: a\n      agent: {preset: gemini}\n",
               f"    - name: b\n      agent: {json.dumps({'preset': 'codex', 'env': env})}\n"]
    ao("apply", "-f", str(write_manifest(demo_manifest(repo, workers, orchestrator=False))))
    result = ao("doctor", "-o", "json")
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.returncode == 1
    assert not checks["agent gemini"]["ok"] and "`gemini` is not on the agents' PATH" in checks["agent gemini"]["detail"]
    codex_check = checks["agent codex"]
    assert codex_check["ok"] and codex_check.get("warning")
    assert "codex-cli 0.171.0" in codex_check["detail"]
    assert "codex login --with-api-key" in codex_check["detail"]
    assert str(Path(home / ".codex" / "auth.json")) in codex_check["detail"]
