"""`ao apply`, `ao diff`, `ao delete` end to end: real ao executable, real tmux, real SQLite."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import ao_sessions, needs_tmux, retry_until, tmux

pytestmark = needs_tmux

SHOP = """\
apiVersion: ao/v1
kind: Project
metadata:
  name: shop
spec:
  repo: {repo}
  agent:
    preset: demo
  workers:
    - name: login-bug
      issue: 123
      prompt: Fix the login redirect loop
    - name: cart
      issue: 124
      prompt: Speed up the cart page
    - name: search
      prompt: Add search suggestions
"""


def live_names(data_dir) -> set[str]:
    out = tmux(data_dir, "list-sessions", "-F", "#{session_name}", check=False)
    return set(out.stdout.split()) if out.returncode == 0 else set()


def db_dump(data_dir) -> list[tuple]:
    """Every row of every table: 'registry untouched' means this does not change."""
    conn = sqlite3.connect(data_dir.db_path)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table' order by name")]
        return [(t, *row) for t in tables for row in conn.execute(f"select * from {t}")]
    finally:
        conn.close()


def test_apply_brings_up_orchestrator_and_workers(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "project/shop created",
        "session/shop-orchestrator created",
        "session/shop-1 created",
        "session/shop-2 created",
        "session/shop-3 created",
    ]
    found = ao_sessions(ao)
    assert set(found) == {"shop-orchestrator", "shop-1", "shop-2", "shop-3"}
    assert live_names(data_dir) == set(found)
    for s in found.values():
        assert s["phase"] == "Running" and s["agent"] == "running" and s["pid"], s
    assert found["shop-1"]["name"] == "login-bug" and found["shop-1"]["issue"] == "123"
    assert found["shop-orchestrator"]["kind"] == "orchestrator"
    # The agent really runs with ao's environment (the demo agent prints it).
    screen = retry_until(lambda: (out := ao("logs", "shop-1", "-n", "200").stdout) and "AO_SESSION_ID" in out and out)
    assert "AO_SESSION_ID=shop-1" in screen
    assert "AO_PROJECT_ID=shop" in screen
    assert "AO_ISSUE_ID=123" in screen
    assert "AO_ORCHESTRATOR_ID=shop-orchestrator" in screen
    assert f"AO_DATA_DIR={data_dir.root}" in screen
    assert "Fix the login redirect loop" in screen


def test_reapply_is_unchanged_and_changes_nothing(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    assert ao("apply", "-f", str(path)).returncode == 0
    pids = {sid: s["pid"] for sid, s in ao_sessions(ao).items()}
    again = ao("apply", "-f", str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "project/shop unchanged"
    assert all(line.endswith("unchanged") for line in again.stdout.splitlines())
    assert {sid: s["pid"] for sid, s in ao_sessions(ao).items()} == pids


def test_removing_a_worker_reaps_exactly_that_worker(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    assert ao("apply", "-f", str(path)).returncode == 0
    before = ao_sessions(ao)
    text = SHOP.format(repo=repo).replace("    - name: cart\n      issue: 124\n      prompt: Speed up the cart page\n", "")
    path.write_text(text)
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert "project/shop configured" in result.stdout
    assert "session/shop-2 reaped: worker 'cart' is no longer declared" in result.stdout
    after = ao_sessions(ao)
    assert set(after) == {"shop-orchestrator", "shop-1", "shop-3"}
    assert live_names(data_dir) == set(after)
    for sid in after:
        assert after[sid]["pid"] == before[sid]["pid"], f"{sid} was disturbed"
    history = ao_sessions(ao, "--all")
    assert history["shop-2"]["phase"] == "Terminated"
    # Declaring it again gives a new number: IDs are never reused.
    path.write_text(SHOP.format(repo=repo))
    result = ao("apply", "-f", str(path))
    assert "session/shop-4 created" in result.stdout
    assert ao_sessions(ao)["shop-4"]["name"] == "cart"


def test_invalid_manifest_changes_nothing_and_points_at_the_line(ao, data_dir, repo, write_manifest):
    good = write_manifest(SHOP.format(repo=repo))
    assert ao("apply", "-f", str(good)).returncode == 0
    before, live_before = db_dump(data_dir), live_names(data_dir)
    bad = write_manifest(
        SHOP.format(repo=repo).replace("    - name: search\n", "    - name: search\n      restartPolicy: Sometimes\n")
        + "---\napiVersion: ao/v1\nkind: Project\nmetadata: {name: other}\nspec: {repo: ., colour: red}\n",
        name="bad.yaml",
    )
    result = ao("apply", "-f", str(good), "-f", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"{bad}:17:22: spec.workers[2].restartPolicy: expected one of Always, OnFailure, Never; got 'Sometimes'" in lines[0]
    assert f"{bad}:23:17: spec.colour: unknown field 'colour'" in result.stderr
    assert "nothing was applied" in result.stderr
    assert db_dump(data_dir) == before
    assert live_names(data_dir) == live_before


def test_dry_run_and_diff_change_nothing(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    dry = ao("apply", "-f", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "session/shop-1 created (dry run)" in dry.stdout
    assert live_names(data_dir) == set()
    assert ao("get", "projects", "-o", "json").stdout.strip() == "[]"
    assert ao("diff", "-f", str(path)).returncode == 1
    assert ao("apply", "-f", str(path)).returncode == 0
    same = ao("diff", "-f", str(path))
    assert same.returncode == 0, same.stdout + same.stderr
    path.write_text(SHOP.format(repo=repo).replace("Add search suggestions", "Add search history"))
    changed = ao("diff", "-f", str(path))
    assert changed.returncode == 1
    assert "-  prompt: Add search suggestions" in changed.stdout
    assert "+  prompt: Add search history" in changed.stdout
    assert "session/shop-3 recreated (dry run): spec changed: prompt" in changed.stdout
    assert ao("diff", "-f", str(path.parent / "missing.yaml")).returncode == 2


def test_apply_from_stdin_and_json_output(ao, repo):
    result = ao("apply", "-f", "-", "-o", "json", input=SHOP.format(repo=repo))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["projects"] == [{"name": "shop", "status": "created"}]
    assert {s["id"]: s["result"] for s in data["sessions"]} == {
        "shop-orchestrator": "created", "shop-1": "created", "shop-2": "created", "shop-3": "created"}


def test_spec_change_recreates_in_place(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    assert ao("apply", "-f", str(path)).returncode == 0
    old = ao_sessions(ao)["shop-3"]
    path.write_text(SHOP.format(repo=repo).replace("Add search suggestions", "Add search history"))
    result = ao("apply", "-f", str(path))
    assert "session/shop-3 recreated: spec changed: prompt" in result.stdout
    new = ao_sessions(ao)["shop-3"]
    assert new["pid"] != old["pid"] and new["phase"] == "Running"
    assert retry_until(lambda: "Add search history" in ao("logs", "shop-3", "-n", "200").stdout)


def test_delete_project_reaps_all_sessions(ao, data_dir, repo, write_manifest):
    path = write_manifest(SHOP.format(repo=repo))
    assert ao("apply", "-f", str(path)).returncode == 0
    result = ao("delete", "project", "shop")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "project/shop deleted"
    assert "session/shop-1 reaped: its project was deleted" in result.stdout
    # Workers are reaped before their orchestrator.
    order = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert order[-1] == "session/shop-orchestrator"
    assert live_names(data_dir) == set()
    assert ao_sessions(ao) == {}
    assert ao("get", "projects", "-o", "json").stdout.strip() == "[]"
    missing = ao("delete", "project", "shop")
    assert missing.returncode == 1 and "no project named shop" in missing.stderr
    # Re-creating the project continues the numbering.
    assert ao("apply", "-f", str(path)).returncode == 0
    assert set(ao_sessions(ao)) == {"shop-orchestrator", "shop-4", "shop-5", "shop-6"}


def test_prefix_collision_with_registered_project(ao, repo, write_manifest):
    assert ao("apply", "-f", str(write_manifest(SHOP.format(repo=repo)))).returncode == 0
    other = write_manifest(
        f"apiVersion: ao/v1\nkind: Project\nmetadata: {{name: shop2}}\nspec:\n  repo: {repo}\n"
        "  sessionPrefix: shop\n  agent: {preset: demo}\n", name="other.yaml")
    result = ao("apply", "-f", str(other))
    assert result.returncode == 2
    assert f"{other}:6:18: spec.sessionPrefix: session prefix 'shop' is already used by project 'shop'" in result.stderr


@pytest.mark.parametrize("args", [["get", "sessions", "-p", "nope"], ["logs", "nope-1"], ["describe", "session", "x"]])
def test_unknown_names_fail_with_one_line(ao, args):
    result = ao(*args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")
