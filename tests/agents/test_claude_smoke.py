"""The real Claude Code, offline in a private tmux server, against the scripted stand-in API.

These pin the facts the activity model and the delivery rules are built on (docs/agents/claude-code.md):
a turn completes and its reply is drawn; a Bash tool use draws the permission prompt and fires the
`PermissionRequest` hook; `--resume <uuid>` after a kill -9 sends the earlier conversation; a long
paste collapses on screen but is submitted whole; text typed while the agent works either becomes a
turn of its own or joins the running turn without any hook.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agents.fake_anthropic import FakeAnthropic, ToolUse
from tests.agents.harness import (
    COLLAPSED_PASTE,
    IDLE_HINT,
    PERMISSION_TEXT,
    WORKING_TEXT,
    Pane,
    hook_events,
    hook_settings,
    input_line_shows,
    poll,
    read_hooks,
)

pytestmark = [pytest.mark.agents, pytest.mark.timeout(300)]  # real CLIs start slowly on a busy machine


def launch(pane: Pane, claude: Path, repo: Path, env: dict[str, str], settings: Path, *extra: str) -> None:
    """Start Claude Code and wait until it is ready: input box drawn and SessionStart fired."""
    log = Path(hook_log_of(settings))
    pane.start([str(claude), "--settings", str(settings), *extra], repo, env)
    pane.wait_for(IDLE_HINT, 30)
    poll(lambda: "SessionStart" in hook_events(log), 15, "SessionStart hook")


def hook_log_of(settings: Path) -> Path:
    return settings.parent / "hooks.jsonl"


def submit(pane: Pane, text: str) -> None:
    """Paste, wait until the text is drawn in the input line, then Enter.

    An Enter sent right after the paste is dropped on a freshly started Claude Code (the text
    stays unsubmitted in the box), so the Enter waits for the paste to be drawn.
    """
    pane.paste(text)
    pane.wait_for(input_line_shows(text), 10)
    pane.keys("Enter")


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    return hook_settings(tmp_path / "settings.json", tmp_path / "hooks.jsonl")


def test_a_text_turn_completes_and_its_reply_is_drawn(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    held = fake_api.slow()
    launch(claude_pane, claude_bin, repo, claude_env(trusted=[repo]), settings)

    submit(claude_pane, "please echo this")
    assert held.started.wait(20), "the stand-in never received the turn"
    claude_pane.wait_for(WORKING_TEXT, 10)
    held.release.set()

    claude_pane.wait_for("ECHO: please echo this", 20)
    claude_pane.wait_for(WORKING_TEXT, 10, absent=True)
    assert fake_api.prompts() == ["please echo this"]
    log = hook_log_of(settings)
    poll(lambda: "Stop" in hook_events(log), 10, "Stop hook")
    submitted = [e["payload"]["prompt"] for e in read_hooks(log)
                 if e["payload"].get("hook_event_name") == "UserPromptSubmit"]
    assert submitted == ["please echo this"]


def test_a_bash_tool_use_draws_the_permission_prompt_and_fires_its_hook(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    fake_api.script(ToolUse("touch created-by-tool", then="TOOL FINISHED"))
    launch(claude_pane, claude_bin, repo, claude_env(trusted=[repo]), settings)

    submit(claude_pane, "run the tool")
    screen = claude_pane.wait_for(PERMISSION_TEXT, 20)
    assert "touch created-by-tool" in screen and "1. Yes" in screen
    log = hook_log_of(settings)
    permission = poll(lambda: [e["payload"] for e in read_hooks(log)
                               if e["payload"].get("hook_event_name") == "PermissionRequest"], 10)
    assert permission[0]["tool_name"] == "Bash"
    assert permission[0]["tool_input"]["command"] == "touch created-by-tool"
    assert not (repo / "created-by-tool").exists(), "the tool ran before anyone answered"

    claude_pane.keys("Escape")  # deny: nothing runs, the prompt goes, the input box is back
    claude_pane.wait_for(PERMISSION_TEXT, 10, absent=True)
    claude_pane.wait_for(IDLE_HINT, 10)
    assert not (repo / "created-by-tool").exists()


def test_resume_after_kill_9_sends_the_earlier_conversation(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    conversation = str(uuid.uuid4())
    env = claude_env(trusted=[repo])
    launch(claude_pane, claude_bin, repo, env, settings, "--session-id", conversation)
    submit(claude_pane, "remember the word pineapple")
    claude_pane.wait_for("ECHO: remember the word pineapple", 20)
    # The transcript is written a moment after the turn; resume needs the turn to be in it.
    transcript = Path(env["CLAUDE_CONFIG_DIR"]) / "projects"
    poll(lambda: any("ECHO: remember the word pineapple" in p.read_text()
                     for p in transcript.rglob(f"{conversation}.jsonl")), 10, "transcript holds the turn")

    claude_pane.kill9()
    log = hook_log_of(settings)
    claude_pane.respawn([str(claude_bin), "--settings", str(settings), "--resume", conversation], repo, env)
    claude_pane.wait_for(IDLE_HINT, 30)
    starts = poll(lambda: [e["payload"] for e in read_hooks(log)
                           if e["payload"].get("hook_event_name") == "SessionStart"][1:],
                  15, "SessionStart after resume")
    assert (starts[0]["session_id"], starts[0]["source"]) == (conversation, "resume")
    assert "remember the word pineapple" in claude_pane.capture()

    submit(claude_pane, "what was the word")
    claude_pane.wait_for("ECHO: what was the word", 20)
    last = fake_api.main_requests()[-1]
    assert last.user_texts() == ["remember the word pineapple", "what was the word"]


def test_a_long_multiline_paste_is_collapsed_on_screen_and_submitted_whole(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    launch(claude_pane, claude_bin, repo, claude_env(trusted=[repo]), settings)
    message = "[from ao] " + "\n".join(f"step {n}: do the thing" for n in range(12))

    claude_pane.paste(message)
    claude_pane.wait_for(COLLAPSED_PASTE, 10)  # `[Pasted text #1 +11 lines]`, not the text itself
    claude_pane.keys("Enter")

    log = hook_log_of(settings)
    submitted = poll(lambda: [e["payload"]["prompt"] for e in read_hooks(log)
                              if e["payload"].get("hook_event_name") == "UserPromptSubmit"], 15)
    assert submitted == [message]
    fake_api.wait_for(lambda api: api.prompts(), 15)
    assert fake_api.prompts() == [message]


def test_text_typed_during_a_tool_turn_joins_that_turn_without_a_prompt_hook(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    held = fake_api.slow(ToolUse("ls", then="AFTER LS"))  # `ls` runs without asking
    launch(claude_pane, claude_bin, repo, claude_env(trusted=[repo]), settings)
    submit(claude_pane, "list the files")
    assert held.started.wait(20)

    submit(claude_pane, "typed while it works")
    claude_pane.wait_for("  ❯ typed while it works", 10)  # shown as queued under the spinner
    held.release.set()

    claude_pane.wait_for("AFTER LS", 20)
    log = hook_log_of(settings)
    poll(lambda: "Stop" in hook_events(log), 15, "Stop hook")
    # Claude Code hands the text to the model inside the running turn, as a system message...
    assert fake_api.mid_turn_messages() == ["typed while it works"]
    assert fake_api.prompts() == ["list the files"]
    # ...and no UserPromptSubmit ever reports it.
    submitted = [e["payload"]["prompt"] for e in read_hooks(log)
                 if e["payload"].get("hook_event_name") == "UserPromptSubmit"]
    assert submitted == ["list the files"]


def test_text_typed_during_a_text_reply_is_queued_and_becomes_its_own_turn(
    claude_bin: Path, fake_api: FakeAnthropic, claude_env: Callable[..., dict[str, str]], claude_pane: Pane,
    repo: Path, settings: Path,
) -> None:
    held = fake_api.slow()
    launch(claude_pane, claude_bin, repo, claude_env(trusted=[repo]), settings)
    submit(claude_pane, "first")
    assert held.started.wait(20)

    submit(claude_pane, "second")
    claude_pane.wait_for("Press up to edit queued messages", 10)
    held.release.set()

    claude_pane.wait_for("ECHO: second", 20)
    assert fake_api.turns() == [["first"], ["second"]]
    log = hook_log_of(settings)
    poll(lambda: hook_events(log).count("Stop") == 2, 15, "two Stop hooks")
    submitted = [e["payload"]["prompt"] for e in read_hooks(log)
                 if e["payload"].get("hook_event_name") == "UserPromptSubmit"]
    assert submitted == ["first", "second"]
