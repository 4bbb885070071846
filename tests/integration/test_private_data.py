"""Private data: the data dir and ao's files are owner-only, secrets are not printed, and
manifests can take env values from ao's environment or a file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import needs_tmux, retry_until

pytestmark = needs_tmux


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def manifest(repo: Path, out: Path, secret_file: Path) -> str:
    script = f'printf "%s|%s|%s" "$API_TOKEN" "$FROM_FILE" "$MODE" > {out}; exec sleep 100'
    return (
        "apiVersion: ao/v1\nkind: Project\nmetadata:\n  name: shop\nspec:\n"
        f"  repo: {repo}\n"
        "  orchestrator: {enabled: false}\n"
        "  agent:\n"
        f"    command: [sh, -c, {json.dumps(script)}]\n"
        "    env:\n"
        "      MODE: fast\n"
        "      API_TOKEN:\n        valueFrom: {env: AO_TEST_SECRET_SOURCE}\n"
        f"      FROM_FILE:\n        valueFrom: {{file: {secret_file}}}\n"
        "      OPENAI_API_KEY: sk-inline-secret\n"
        "  workers:\n    - name: w\n"
    )


def test_files_are_private_secrets_resolved_at_launch_and_redacted(ao, repo, tmp_path) -> None:
    root = tmp_path / "fresh-data"
    out = tmp_path / "env.txt"
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file\n")
    path = tmp_path / "m.yaml"
    path.write_text(manifest(repo, out, secret_file))
    env = {"AO_DATA_DIR": str(root), "AO_TEST_SECRET_SOURCE": "from-the-env"}

    result = ao("apply", "-f", str(path), env=env)
    assert result.returncode == 0, result.stderr

    assert retry_until(lambda: out.exists() and out.read_text()) == "from-the-env|from-a-file|fast"
    assert mode(root) == 0o700
    assert mode(root / "ao.db") == 0o600
    prompts = list((root / "sessions").glob("*/*.md"))
    assert prompts and all(mode(p) == 0o600 for p in prompts)
    doctor = ao("doctor", env=env)
    assert not [line for line in doctor.stdout.splitlines() if line.split()[:2] == ["WARN", "permissions"]]

    described = ao("describe", "session", "shop-1", env=env).stdout + ao("describe", "project", "shop", "-o", "json", env=env).stdout
    assert "sk-inline-secret" not in described and "<redacted>" in described
    assert "from-the-env" not in described and "AO_TEST_SECRET_SOURCE" in described

    root.chmod(0o755)
    (root / "ao.db").chmod(0o644)
    doctor = ao("doctor", env=env)
    warning = next(line for line in doctor.stdout.splitlines() if line.split()[:2] == ["WARN", "permissions"])
    assert f"{root} (0755)" in warning and f"{root / 'ao.db'} (0644)" in warning
    assert doctor.returncode == 0
    ao("delete", "project", "shop", env=env)


def test_a_missing_env_source_fails_only_that_session(ao, repo, tmp_path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest(repo, tmp_path / "out", tmp_path / "token"))

    result = ao("apply", "-f", str(path))

    assert result.returncode == 1
    assert "env API_TOKEN: variable AO_TEST_SECRET_SOURCE is not set" in result.stderr
    assert "Traceback" not in result.stderr
