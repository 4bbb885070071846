"""ao with the real Claude Code: what the agent is doing, and messages that never type blind.

Claude Code runs in ao's own tmux sessions (started by `ao apply`, its hooks calling `ao hook`)
against the scripted stand-in for the Messages API. Each test drives ao only through the real
`ao` executable, and a person only through tmux keys.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agents.fake_anthropic import FakeAnthropic, ToolUse
from tests.conftest import ao_sessions, demo_manifest, retry_until, tmux

pytestmark = [pytest.mark.agents, pytest.mark.timeout(300)]  # real CLIs start slowly on a busy machine
STARTUP_SECONDS = 120.0


@pytest.fixture
def claude_project(ao, repo: Path, write_manifest, claude_bin: Path, claude_env: Callable[..., dict[str, str]]):
    """`claude_project(trusted=True, prompt=...)`: applies a one-worker project running the real Claude Code."""

    def apply(*, trusted: bool = True, prompt: str = "say hello", orchestrator: bool = False) -> str:
        env = claude_env(trusted=[repo] if trusted else [])
        env["PATH"] = f"{claude_bin.parent}{os.pathsep}{os.environ['PATH']}"
        agent = json.dumps({"preset": "claude-code", "env": env})
        worker = f"    - name: task\n      issue: 7\n      prompt: {json.dumps(prompt)}\n"
        path = write_manifest(demo_manifest(repo, [worker], agent=agent, orchestrator=orchestrator))
        result = ao("apply", "-f", str(path))
        assert result.returncode == 0, result.stderr
        return "shop-1"

    return apply


def activity(ao, sid: str, *, passes: bool = False) -> dict:  # type: ignore[no-untyped-def]
    if passes:
        ao("reconcile")
    return ao_sessions(ao)[sid]


def wait_activity(ao, sid: str, wanted: str, *, timeout: float = STARTUP_SECONDS, passes: bool = False) -> dict:  # type: ignore[no-untyped-def]
    return retry_until(lambda: (v := activity(ao, sid, passes=passes))["activity"] == wanted and v, timeout=timeout,
                       interval=0.2, message=f"{sid} becomes {wanted}")


def messages_to(ao, sid: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [m for m in json.loads(ao("get", "messages", "-s", sid, "-o", "json").stdout) if m["to"] == sid]


def test_idle_working_idle_from_the_agents_own_signals(ao, fake_api: FakeAnthropic, claude_project):
    held = fake_api.slow()  # the task's turn stays open until released
    sid = claude_project(prompt="count the files")
    assert held.started.wait(STARTUP_SECONDS), "the task never reached the model"
    working = wait_activity(ao, sid, "working", timeout=20)  # no pass needed: the hooks record it
    held.release.set()
    idle = wait_activity(ao, sid, "idle", timeout=30)
    assert idle["activitySince"] >= working["activitySince"]
    assert "count the files" in fake_api.prompts()[0]


def test_a_permission_prompt_is_waiting_and_a_send_approves_nothing(ao, data_dir, repo, fake_api: FakeAnthropic,
                                                                     claude_project):
    fake_api.script(ToolUse("touch approved-by-someone", then="TOOL FINISHED"))
    sid = claude_project(prompt="make the file")
    waiting = wait_activity(ao, sid, "waiting", timeout=STARTUP_SECONDS)
    assert waiting["activityReason"] == "permission: Bash(touch approved-by-someone)"
    workspace = Path(waiting["workspace"])

    sent = ao("send", sid, "please rebase on main")
    assert sent.returncode == 6, (sent.returncode, sent.stdout, sent.stderr)
    assert "waiting for its user: permission: Bash(touch approved-by-someone)" in sent.stderr
    ao("reconcile")  # a pass holds it too
    assert not (workspace / "approved-by-someone").exists()  # nothing approved the tool call
    assert all("please rebase" not in p for p in fake_api.prompts())
    assert messages_to(ao, sid)[-1]["outcome"] == "queued"

    tmux(data_dir, "send-keys", "-t", f"={sid}:", "Enter")  # a person approves
    retry_until(lambda: (workspace / "approved-by-someone").exists(), timeout=30)
    retry_until(lambda: ao("reconcile") and any("please rebase on main" in p for p in fake_api.prompts()),
                timeout=60, interval=0.5, message="the held message reaches the model")
    retry_until(lambda: messages_to(ao, sid)[-1]["outcome"] == "submitted", timeout=20)
    assert sum("please rebase on main" in p for p in fake_api.prompts()) == 1


def test_the_trust_dialog_is_waiting_and_nothing_answers_it(ao, data_dir, claude_project):
    sid = claude_project(trusted=False)
    waiting = wait_activity(ao, sid, "waiting", timeout=STARTUP_SECONDS, passes=True)
    assert waiting["activityReason"] == "trust dialog"
    sent = ao("send", sid, "hello?")
    assert sent.returncode == 6 and "trust dialog" in sent.stderr
    screen = tmux(data_dir, "capture-pane", "-p", "-t", f"={sid}:").stdout
    assert "Quick safety check" in screen  # still asking: the Enter that would trust the folder never came


def test_a_message_sent_during_start_up_is_submitted_exactly_once(ao, fake_api: FakeAnthropic, claude_project):
    sid = claude_project(prompt="first the task")
    sent = ao("send", sid, "and then this", "-o", "json", timeout=120)
    assert sent.returncode == 0, sent.stderr
    outcome = json.loads(sent.stdout)
    # ao waits out the start; by then the agent may be busy with its task: then the message is held
    # for its next idle moment (a pass, here; the controller's in real use).
    assert outcome["outcome"] == "submitted" or (outcome["outcome"], outcome["detail"]) == (
        "queued", "the agent is working and does not queue typed input; delivered once the agent is free"), outcome
    retry_until(lambda: ao("reconcile") and any("and then this" in p for p in fake_api.prompts()), timeout=60,
                interval=0.5)
    retry_until(lambda: messages_to(ao, sid)[-1]["outcome"] == "submitted", timeout=30)
    assert sum("and then this" in p for p in fake_api.prompts()) == 1


def test_five_concurrent_sends_are_five_separate_submissions(ao, fake_api: FakeAnthropic, claude_project):
    sid = claude_project(prompt="wait for notes")
    wait_activity(ao, sid, "idle", timeout=STARTUP_SECONDS)
    codes: list[int] = []

    def send(n: int) -> None:
        codes.append(ao("send", sid, f"note {n} of five", env={"AO_SESSION_ID": f"peer-{n}"}, timeout=120).returncode)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [0] * 5  # each typed, or queued while the agent worked on an earlier one
    # Queued ones go out one per turn, as the agent becomes idle again (here: at each pass).
    texts = retry_until(lambda: ao("reconcile") and (found := [p for p in fake_api.prompts() if "of five" in p])
                        and len(found) >= 5 and found, timeout=120, interval=0.5)
    assert sorted(texts) == sorted(f"[from peer-{n}] note {n} of five" for n in range(5))  # five turns, none merged
    retry_until(lambda: [m["outcome"] for m in messages_to(ao, sid)].count("submitted") == 5, timeout=30)


def test_a_killed_agent_is_relaunched_into_its_own_conversation(ao, fake_api: FakeAnthropic, claude_project):
    sid = claude_project(prompt="remember the word pineapple")
    wait_activity(ao, sid, "idle", timeout=STARTUP_SECONDS)
    first = ao_sessions(ao)[sid]
    os.kill(first["pid"], signal.SIGKILL)
    retry_until(lambda: ao("reconcile") and (s := ao_sessions(ao)[sid])["restarts"] == 1 and s["agent"] == "running",
                timeout=30)
    wait_activity(ao, sid, "idle", timeout=STARTUP_SECONDS)
    assert ao("send", sid, "what was the word?").returncode == 0
    request = retry_until(lambda: next((r for r in fake_api.main_requests()
                                        if "what was the word?" in r.last_user_text()), None), timeout=60)
    history = json.dumps(request.messages)
    assert "remember the word pineapple" in history  # the earlier conversation came back
    described = json.loads(ao("describe", "session", sid, "-o", "json").stdout)
    assert "--resume" in described["command"]
