"""Activity and the send rules, end to end with ao's demo agent in real tmux and the real `ao`.

The demo agent shows the states ao must tell apart: `/work N` keeps it busy (and it does not
queue typed input), `/ask Q` opens a y/n question that only a person should answer (Enter
answers it, as a real permission prompt does). The same rules against the real Claude Code are
in tests/agents/.
"""

from __future__ import annotations

import json
import threading

from tests.conftest import (
    LOGIN_BUG,
    ao_sessions,
    demo_manifest,
    needs_tmux,
    retry_until,
    tmux,
)

pytestmark = needs_tmux


def up(ao, write_manifest, repo, orchestrator: str | bool = False):  # type: ignore[no-untyped-def]
    path = write_manifest(demo_manifest(repo, [LOGIN_BUG], orchestrator=orchestrator))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr


def activity(ao, sid: str) -> dict:  # type: ignore[no-untyped-def]
    ao("reconcile")  # one pass looks at every agent
    return ao_sessions(ao)[sid]


def wait_activity(ao, sid: str, wanted: str, timeout: float = 20.0) -> dict:  # type: ignore[no-untyped-def]
    return retry_until(lambda: (v := activity(ao, sid))["activity"] == wanted and v, timeout=timeout,
                       message=f"{sid} becomes {wanted}")


def screen(data_dir, sid: str) -> str:  # type: ignore[no-untyped-def]
    return tmux(data_dir, "capture-pane", "-p", "-J", "-S", "-200", "-t", f"={sid}:").stdout


def messages(ao, sid: str) -> list[dict]:  # type: ignore[no-untyped-def]
    result = ao("get", "messages", "-s", sid, "-o", "json")
    assert result.returncode == 0, result.stderr
    return [m for m in json.loads(result.stdout) if m["to"] == sid]


def test_idle_working_and_waiting_are_seen_and_shown(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    idle = wait_activity(ao, "shop-1", "idle")
    assert idle["activityReason"] == "" and idle["activitySince"]
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "/work 600", "Enter")
    wait_activity(ao, "shop-1", "working")
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "Escape")
    wait_activity(ao, "shop-1", "idle")


def test_a_message_is_never_typed_into_a_dialog_and_goes_out_once_it_is_answered(ao, data_dir, repo,
                                                                                   write_manifest):
    up(ao, write_manifest, repo)
    wait_activity(ao, "shop-1", "idle")
    asked = ao("send", "shop-1", "/ask Delete the build folder?")
    # Taken: the agent went from idle to asking, though its text is still echoed above the question.
    assert asked.stdout.strip() == "message/shop-1 delivered", asked.stdout + asked.stderr
    waiting = wait_activity(ao, "shop-1", "waiting")
    assert waiting["activityReason"] == "question: Delete the build folder? (y/n)"

    sent = ao("send", "shop-1", "please rebase on main")
    assert sent.returncode == 6, sent.stderr
    assert "waiting for its user: question: Delete the build folder? (y/n)" in sent.stderr
    assert "answered" not in screen(data_dir, "shop-1")  # nothing was typed: the question is still open
    held = messages(ao, "shop-1")[-1]
    assert (held["outcome"], held["body"]) == ("queued", "please rebase on main")

    table = ao("get", "sessions", "-o", "wide")
    assert "waiting" in table.stdout and "question: Delete the build folder?" in table.stdout
    events = ao("events", "-s", "shop-1", "-o", "json")
    assert any(e["reason"] == "Waiting" for e in json.loads(events.stdout))

    tmux(data_dir, "send-keys", "-t", "=shop-1:", "n")  # a person answers
    retry_until(lambda: "answered no" in screen(data_dir, "shop-1"))
    ao("reconcile")  # a pass sees the agent free and delivers what was held
    retry_until(lambda: "  | please rebase on main" in screen(data_dir, "shop-1"))
    assert screen(data_dir, "shop-1").count("  | please rebase on main") == 1
    assert messages(ao, "shop-1")[-1]["outcome"] == "delivered"
    assert "answered yes" not in screen(data_dir, "shop-1")


def test_a_busy_agent_that_does_not_queue_input_gets_the_message_when_idle(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    wait_activity(ao, "shop-1", "idle")
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "/work 600", "Enter")
    wait_activity(ao, "shop-1", "working")
    sent = ao("send", "shop-1", "after your turn", "-o", "json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["outcome"] == "queued"
    assert "does not queue typed input" in json.loads(sent.stdout)["detail"]
    ao("reconcile")
    assert "after your turn" not in screen(data_dir, "shop-1")  # a pass holds it too
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "Escape")  # the turn ends
    retry_until(lambda: "work interrupted" in screen(data_dir, "shop-1"), timeout=20)
    retry_until(lambda: ao("reconcile") and "  | after your turn" in screen(data_dir, "shop-1"), timeout=20)
    assert screen(data_dir, "shop-1").count("  | after your turn") == 1


def test_a_draft_on_the_input_line_is_never_merged_with(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    wait_activity(ao, "shop-1", "idle")
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "half a thought")  # a person is typing
    sent = ao("send", "shop-1", "from ao", "-o", "json")
    assert sent.returncode == 0 and json.loads(sent.stdout)["outcome"] == "queued"
    assert "draft" in json.loads(sent.stdout)["detail"]
    assert "from ao" not in screen(data_dir, "shop-1")
    tmux(data_dir, "send-keys", "-t", "=shop-1:", "Enter")  # the person submits their draft
    retry_until(lambda: ao("reconcile") and "  | from ao" in screen(data_dir, "shop-1"))
    assert "  | half a thought" in screen(data_dir, "shop-1")


def test_a_message_sent_while_the_agent_starts_is_delivered_once(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    assert ao("stop", "session", "shop-1").returncode == 0
    assert ao("start", "session", "shop-1").returncode == 0  # a fresh agent, starting right now
    sent = ao("send", "shop-1", "hello early bird")
    assert sent.returncode == 0, sent.stderr
    retry_until(lambda: "  | hello early bird" in screen(data_dir, "shop-1"))
    assert screen(data_dir, "shop-1").count("  | hello early bird") == 1


def test_concurrent_senders_never_merge(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    wait_activity(ao, "shop-1", "idle")
    results: list[int] = []

    def send(n: int) -> None:
        results.append(ao("send", "shop-1", f"note number {n}", env={"AO_SESSION_ID": f"s{n}"}).returncode)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0] * 5
    text = retry_until(lambda: (s := screen(data_dir, "shop-1")).count("received (1 line)") == 5 and s)
    for n in range(5):
        assert text.count(f"  | [from s{n}] note number {n}") == 1
    assert not [line for line in text.splitlines() if line.count("[from") > 1]  # no glued inputs


def test_the_orchestrator_hears_once_that_a_worker_waits(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo, orchestrator=True)
    wait_activity(ao, "shop-1", "idle")
    wait_activity(ao, "shop-orchestrator", "idle")
    assert ao("send", "shop-1", "/ask Run the migration?").returncode == 0
    wait_activity(ao, "shop-1", "waiting")
    env = {"AO_WAITING_NOTICE_SECONDS": "0"}
    for _ in range(3):
        ao("reconcile", env=env)
    text = retry_until(lambda: ao("reconcile", env=env) and "is waiting for" in (s := screen(data_dir, "shop-orchestrator"))
                       and s)
    assert "[from ao] shop-1 is waiting for its user: question: Run the migration? (y/n)" in text
    for _ in range(3):
        ao("reconcile", env=env)
    assert screen(data_dir, "shop-orchestrator").count("  | [from ao] shop-1 is waiting for") == 1


def test_ao_hook_records_an_agents_signal_at_once_and_proves_a_submission(ao, data_dir, repo, write_manifest):
    up(ao, write_manifest, repo)
    wait_activity(ao, "shop-1", "idle")
    env = {"AO_SESSION_ID": "shop-1"}
    ask = {"hook_event_name": "PermissionRequest", "session_id": "c-1", "tool_name": "Bash",
           "tool_input": {"command": "rm -rf build"}}
    hooked = ao("hook", "claude-code", input=json.dumps(ask), env=env)
    assert (hooked.returncode, hooked.stdout, hooked.stderr) == (0, "", "")  # a hook never speaks to the agent
    view = ao_sessions(ao)["shop-1"]  # no pass in between: the signal is the activity at once
    assert (view["activity"], view["activityReason"]) == ("waiting", "permission: Bash(rm -rf build)")

    stop = {"hook_event_name": "Stop", "session_id": "c-1"}
    assert ao("hook", "claude-code", input=json.dumps(stop), env=env).returncode == 0
    assert ao_sessions(ao)["shop-1"]["activity"] == "idle"

    assert ao("send", "shop-1", "is the build green?").stdout.strip() == "message/shop-1 delivered"
    submit = {"hook_event_name": "UserPromptSubmit", "session_id": "c-1", "prompt": "is the build green?"}
    assert ao("hook", "claude-code", input=json.dumps(submit), env=env).returncode == 0
    assert ao_sessions(ao)["shop-1"]["activity"] == "working"
    proven = messages(ao, "shop-1")[-1]
    assert proven["outcome"] == "submitted" and proven["submittedAt"]  # the agent's own word

    for junk in ("not json", "[]", json.dumps({"hook_event_name": "Stop"})):
        assert ao("hook", "claude-code", input=junk, env={"AO_SESSION_ID": "no-such"}).returncode == 0
    assert ao("hook", "claude-code", input="{}", env={}).returncode == 0  # outside any session
