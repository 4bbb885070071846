"""The orchestrator/worker team: role prompts, worktrees, ao send, ao spawn, the canonical orchestrator."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from tests.conftest import (
    CART,
    LOGIN_BUG,
    ao_sessions,
    demo_manifest,
    git,
    needs_tmux,
    retry_until,
    tmux,
)

pytestmark = needs_tmux


def team(repo, orchestrator="true"):
    return demo_manifest(repo, [LOGIN_BUG, CART], orchestrator=orchestrator,
                         rules="Never merge without a green test run.")


def up(ao, write_manifest, repo, orchestrator="true"):
    path = write_manifest(team(repo, orchestrator))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    return path


def screen(ao, sid, lines=400):
    return ao("logs", sid, "-n", str(lines)).stdout


def ready(ao, sid):
    retry_until(lambda: screen(ao, sid, 5).rstrip().endswith(">"), message=f"{sid} shows its input prompt")


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_team_comes_up_with_role_prompts(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    orchestrator_role = (data_dir.session_dir("shop-orchestrator") / "role.md").read_text()
    assert "the live team, with what\neach is doing right now" in orchestrator_role  # never only a stale list
    assert "`ao get sessions -p shop`" in orchestrator_role
    found = ao_sessions(ao)
    assert set(found) == {"shop-orchestrator", "shop-1", "shop-2"}
    for sid in ("shop-1", "shop-2"):
        role = (data_dir.session_dir(sid) / "role.md").read_text()
        assert "## Talking to the Orchestrator" in role
        assert 'ao send --session shop-orchestrator --message "..."' in role
        assert "[from <session-id>]" in role
        assert f"`{data_dir.worktree_dir('shop', sid)}`" in role
        assert f"`ao/{sid}`" in role
    assert "Fix the login redirect loop" in (data_dir.session_dir("shop-1") / "task.md").read_text()
    orchestrator = (data_dir.session_dir("shop-orchestrator") / "role.md").read_text()
    assert "Delegate; do not implement" in orchestrator
    for command in ("ao get sessions -p shop", "ao spawn", "ao send", "ao logs", "ao apply", "ao diff"):
        assert command in orchestrator, command
    assert "`shop-1` (login-bug): issue 123; Fix the login redirect loop" in orchestrator
    assert orchestrator.rstrip().endswith("Never merge without a green test run.")
    # Each worker runs in its own worktree, on its own branch, created from main.
    for sid, branch in (("shop-1", "ao/shop-1"), ("shop-2", "ao/shop-2"), ("shop-orchestrator", "orchestrator/shop-orchestrator")):
        path = data_dir.worktree_dir("shop", sid)
        assert found[sid]["workspace"] == str(path) and found[sid]["branch"] == branch
        assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == branch
        assert git(path, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")
        assert Path(f"/proc/{found[sid]['pid']}/cwd").resolve() == path.resolve()
    describe = ao("describe", "session", "shop-1").stdout
    assert "command: " in describe and "reconciler.sessions.demo_agent --prompt-file" in describe


def test_send_from_inside_a_worker_reaches_the_orchestrator_with_provenance(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    ready(ao, "shop-orchestrator")
    env = environ_of(ao_sessions(ao)["shop-1"]["pid"])
    # The worker's own environment: its identity, its data dir, and this ao first on PATH.
    assert env["AO_SESSION_ID"] == "shop-1" and env["AO_DATA_DIR"] == str(data_dir.root)
    assert Path(env["PATH"].split(os.pathsep)[0], "ao").exists()
    one = subprocess.run(["ao", "send", "--session", "shop-orchestrator", "--message", "blocked on the login API"],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "message/shop-orchestrator delivered"
    multi = subprocess.run(["ao", "send", "shop-orchestrator", "-"], input="done: fixed the loop\nbranch ao/shop-1\ntests pass",
                           env=env, capture_output=True, text=True)
    assert multi.returncode == 0, multi.stderr
    text = retry_until(lambda: (s := screen(ao, "shop-orchestrator")) and "tests pass" in s and s)
    assert "  | [from shop-1] blocked on the login API" in text
    # Three lines, one message: received once, as a whole.
    assert text.count("received (3 lines):") == 1
    assert "  | [from shop-1] done: fixed the loop\n  | branch ao/shop-1\n  | tests pass" in text
    messages = json.loads(ao("get", "messages", "-s", "shop-orchestrator", "-o", "json").stdout)
    assert [(m["from"], m["to"], m["outcome"]) for m in messages] == [
        ("shop-1", "shop-orchestrator", "delivered"), ("shop-1", "shop-orchestrator", "delivered")]


def test_send_typed_into_a_worker_shell(ao, data_dir, repo, write_manifest):
    path = write_manifest(team(repo, "true").replace(
        "      prompt: Speed up the cart page\n", "      prompt: Speed up the cart page\n      agent: {preset: shell}\n"))
    assert ao("apply", "-f", str(path)).returncode == 0
    ready(ao, "shop-orchestrator")
    tmux(data_dir, "send-keys", "-t", "=shop-2:", "-l", 'ao send shop-orchestrator "hello from the shell"')
    tmux(data_dir, "send-keys", "-t", "=shop-2:", "Enter")
    assert retry_until(lambda: "  | [from shop-2] hello from the shell" in screen(ao, "shop-orchestrator"))


def test_send_errors_have_distinct_exit_codes(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, orchestrator="false")
    ready(ao, "shop-1")
    assert ao("send", "nope-9", "hi").returncode == 3
    assert ao("send", "shop-1", "").returncode == 2
    long = ao("send", "shop-1", "x" * 10_001)
    assert long.returncode == 2 and "the limit is 10000" in long.stderr
    sent = ao("send", "shop-1", "\x1b[31mred\x07 text\tok")
    assert sent.returncode == 0, sent.stderr
    body = json.loads(ao("get", "messages", "-o", "json").stdout)[-1]["body"]
    assert body == "[31mred text\tok"
    os.kill(ao_sessions(ao)["shop-1"]["pid"], 9)
    retry_until(lambda: ao_sessions(ao)["shop-1"]["agent"] == "killed (9)")
    dead = ao("send", "shop-1", "anyone there?")
    assert dead.returncode == 5 and "is not running" in dead.stderr
    path = write_manifest(team(repo, "false").split("    - name: login-bug")[0] + CART)
    assert ao("apply", "-f", str(path)).returncode == 0
    gone = ao("send", "shop-1", "still there?")
    assert gone.returncode == 4 and "terminated" in gone.stderr
    outcomes = [m["outcome"] for m in json.loads(ao("get", "messages", "-o", "json").stdout)]
    assert outcomes == ["delivered", "rejected", "rejected"]


def test_five_concurrent_ensures_yield_one_orchestrator(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    tmux(data_dir, "kill-session", "-t", "=shop-orchestrator")
    results: list[subprocess.CompletedProcess[str]] = []
    threads = [threading.Thread(target=lambda: results.append(ao("orchestrator", "ensure", "-p", "shop")))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    lines = sorted(r.stdout.strip() for r in results)
    assert lines == ["session/shop-orchestrator relaunched"] + ["session/shop-orchestrator reused"] * 4
    names = tmux(data_dir, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert names.count("shop-orchestrator") == 1 and sorted(names) == ["shop-1", "shop-2", "shop-orchestrator"]
    # Workers never take the orchestrator's number: the next worker is shop-3.
    spawned = json.loads(ao("spawn", "-p", "shop", "--prompt", "x", "-o", "json").stdout)
    assert spawned["id"] == "shop-3"


def test_spawned_worker_survives_a_reapply_and_can_be_deleted(ao, data_dir, repo, write_manifest):
    path = up(ao, write_manifest, repo)
    result = ao("spawn", "-p", "shop", "--issue", "77", "--prompt", "Write the changelog")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [  # what the spawn did, not the rest of the project's pass
        "session/shop-3 created",
        "worker issue-77 is session shop-3",
        'its orchestrator is shop-orchestrator; message it with: ao send --session shop-orchestrator --message "..."',
    ]
    reapply = ao("apply", "-f", str(path))
    assert "session/shop-3 unchanged" in reapply.stdout
    assert ao_sessions(ao)["shop-3"]["phase"] == "Running"
    refused = ao("delete", "session", "shop-1")
    assert refused.returncode == 2 and "is declared by the manifest" in refused.stderr
    deleted = ao("delete", "session", "shop-3")
    assert deleted.returncode == 0, deleted.stderr
    assert "session/shop-3 reaped" in deleted.stdout
    assert "shop-3" not in ao_sessions(ao)


def test_reaping_preserves_uncommitted_work_and_removes_clean_worktrees(ao, data_dir, repo, write_manifest):
    path = up(ao, write_manifest, repo, orchestrator="false")
    dirty, clean = data_dir.worktree_dir("shop", "shop-1"), data_dir.worktree_dir("shop", "shop-2")
    (dirty / "README.md").write_text("hello\nwork in progress\n")
    (dirty / "notes.txt").write_text("untracked notes\n")
    path.write_text(team(repo, "false").split("  workers:")[0] + "  workers: []\n")
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert "session/shop-1 reaped" in result.stdout and "refs/ao/preserved/shop-1" in result.stdout
    # The dirty worktree stays, untouched; its work is also in a ref of the repository.
    assert (dirty / "notes.txt").read_text() == "untracked notes\n"
    assert git(repo, "show", "refs/ao/preserved/shop-1:notes.txt") == "untracked notes"
    assert "work in progress" in git(repo, "show", "refs/ao/preserved/shop-1:README.md")
    assert git(repo, "rev-parse", "refs/ao/preserved/shop-1^") == git(repo, "rev-parse", "ao/shop-1")
    # The clean one is gone; its branch stays.
    assert not clean.exists()
    assert git(repo, "rev-parse", "--verify", "ao/shop-2")
    events = json.loads(ao("events", "-s", "shop-1", "-o", "json").stdout)
    assert "snapshot at refs/ao/preserved/shop-1" in events[-1]["message"]


def test_workspace_errors_fail_only_their_session(ao, data_dir, repo, write_manifest, tmp_path):
    path = write_manifest(team(repo, "false").replace(
        "      prompt: Speed up the cart page\n", "      prompt: Speed up the cart page\n      branch: main\n"))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 1
    assert "session/shop-1 created" in result.stdout
    assert "session/shop-2 failed: branch main is already checked out at" in result.stderr
    assert ao_sessions(ao)["shop-2"]["phase"] == "Failed" and ao_sessions(ao)["shop-2"]["reason"] == "BranchInUse"
    plain = tmp_path / "plain"
    plain.mkdir()
    other = write_manifest(team(plain, "false").replace("name: shop", "name: notgit"), "b.yaml")
    result = ao("apply", "-f", str(other))  # caught before anything is recorded (see test_preflight.py)
    assert result.returncode == 2 and f"spec.repo: {plain} is not a git repository" in result.stderr
    third = write_manifest(team(repo, "false").replace("name: shop", "name: nobase")
                           .replace("  agent:", "  defaultBranch: trunk\n  agent:"), "c.yaml")
    result = ao("apply", "-f", str(third))
    assert "session/nobase-1 failed: default branch 'trunk' does not exist" in result.stderr
    none = write_manifest(team(plain, "false").replace("name: shop", "name: inplace")
                          .replace("  agent:", "  workspace: none\n  agent:"), "d.yaml")
    result = ao("apply", "-f", str(none))
    assert result.returncode == 0, result.stderr
    assert ao_sessions(ao)["inplace-1"]["workspace"] == str(plain)


def test_relaunch_keeps_worktree_and_learns_of_a_new_orchestrator(ao, data_dir, repo, write_manifest):
    path = up(ao, write_manifest, repo, orchestrator="false")
    role = data_dir.session_dir("shop-1") / "role.md"
    assert "Talking to the Orchestrator" not in role.read_text()
    (data_dir.worktree_dir("shop", "shop-1") / "wip.txt").write_text("keep me\n")
    path.write_text(team(repo, "true"))
    result = ao("apply", "-f", str(path))
    assert "session/shop-orchestrator created" in result.stdout and "session/shop-1 unchanged" in result.stdout
    os.kill(ao_sessions(ao)["shop-1"]["pid"], 9)
    retry_until(lambda: ao_sessions(ao)["shop-1"]["agent"] == "killed (9)")
    assert "session/shop-1 relaunched" in ao("reconcile").stdout
    assert 'ao send --session shop-orchestrator --message "..."' in role.read_text()
    after = ao_sessions(ao)["shop-1"]
    assert after["restarts"] == 1 and after["branch"] == "ao/shop-1"
    assert (Path(after["workspace"]) / "wip.txt").read_text() == "keep me\n"
    assert retry_until(lambda: "Talking to the Orchestrator" in screen(ao, "shop-1"))
