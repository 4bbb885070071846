"""The activity model's pure parts: screen tables, signals, the decision, and the activity table."""

from __future__ import annotations

import sqlite3

import pytest

from reconciler.activity import store
from reconciler.activity.decide import SIGNAL_LEAD_SECONDS, decide
from reconciler.activity.model import Activity, Reading
from reconciler.activity.screen import bottom, classify, input_text
from reconciler.activity.signals import claude_signal, tool_summary
from reconciler.registry.migrations import ACTIVITY_TABLE

WAITING, WORKING, IDLE, STARTING = Activity.WAITING, Activity.WORKING, Activity.IDLE, Activity.STARTING


@pytest.mark.parametrize(("screen", "activity", "reason"), [
    ("ao demo agent (pid 1)\n> ", IDLE, ""),
    ("> hello\n[10:00:00] received (1 line):\n  | hello\n> ", IDLE, ""),
    ("> /work 5\ndemo agent working (5s)… esc to interrupt", WORKING, ""),
    ("demo agent working (1s)… esc to interrupt\n[10:00:01] work done\n> ", IDLE, ""),
    ("> /ask Delete build?\nDelete build? (y/n) ", WAITING, "question: Delete build? (y/n)"),
])
def test_demo_screens(screen: str, activity: Activity, reason: str) -> None:
    reading = classify("demo", screen)
    assert reading is not None and (reading.activity, reading.reason) == (activity, reason)


def test_demo_banner_alone_is_not_ready() -> None:
    assert classify("demo", "ao demo agent (pid 1)\n  AO_SESSION_ID=x\n--- end of prompt ---") is None


@pytest.mark.parametrize(("screen", "reason"), [
    ("Overwrite config.yaml? [y/N]", "question: Overwrite config.yaml? [y/N]"),
    ("Which model?\n ❯ 1. Fast\n   2. Careful\n", "dialog: Which model?"),
    ("  › 1. Sign in\n    2. Use an API key", "a choice is on screen"),
    ("Update available.\nPress Enter to continue…", "press enter to continue"),
])
def test_generic_dialogs_for_any_program(screen: str, reason: str) -> None:
    assert classify(None, screen) == Reading(WAITING, reason)


@pytest.mark.parametrize("screen", [
    "Steps:\n1. write the test\n2. make it pass\n$ ",  # a numbered list without a selection marker
    "Did it work? (y/n)\nyes\n$ ",  # a question that was answered: no longer on the last line
    "$ ",
])
def test_no_dialog_where_none_is_open(screen: str) -> None:
    reading = classify(None, screen)
    assert reading is None or reading.activity != WAITING


def test_bottom_strips_borders_rules_and_blank_lines() -> None:
    screen = "old line\n╭────────╮\n│ > draft  │\n╰────────╯\n\n\n"
    assert bottom(screen, 5) == "old line\n> draft"
    assert bottom(screen, 1) == "> draft"


def test_permission_reason_names_the_tool_call() -> None:
    screen = (" Bash command\n\n   rm -rf build\n   Remove the build folder\n Do you want to proceed?\n"
              " ❯ 1. Yes\n   2. Yes, and always allow\n   3. No\n Esc to cancel · Tab to amend")
    assert classify("claude-code", screen) == Reading(WAITING, "permission: Bash(rm -rf build)")


def test_input_line_drafts_and_placeholders() -> None:
    assert input_text("demo", "> hi\n[10:00:00] received (1 line):\n  | hi\n> ") == ""
    assert input_text("demo", "> hi\n> half a thought") == "half a thought"
    claude = '❯ earlier prompt\n● ECHO: earlier prompt\n────────\n❯\u00a0{}\n────────\n  ? for shortcuts'
    assert input_text("claude-code", claude.format('Try "fix lint errors"')) == ""
    assert input_text("claude-code", claude.format("my own words")) == "my own words"
    assert input_text(None, "$ half") is None  # no input pattern: ao cannot tell a prompt from a draft


# ------------------------------------------------------------ signals

def test_claude_hook_events() -> None:
    assert claude_signal({"hook_event_name": "SessionStart", "session_id": "c1"}).reading == Reading(IDLE, "", "signal")
    submit = claude_signal({"hook_event_name": "UserPromptSubmit", "prompt": "[from a] hi", "session_id": "c1"})
    assert (submit.reading.activity, submit.prompt, submit.conversation) == (WORKING, "[from a] hi", "c1")
    ask = claude_signal({"hook_event_name": "PermissionRequest", "tool_name": "Bash",
                         "tool_input": {"command": "touch x", "description": "make x"}})
    assert ask.reading == Reading(WAITING, "permission: Bash(touch x)", "signal")
    assert claude_signal({"hook_event_name": "Notification", "notification_type": "permission_prompt"}).reading \
        == Reading(WAITING, "permission", "signal")
    assert claude_signal({"hook_event_name": "Stop"}).reading == Reading(IDLE, "", "signal")
    assert claude_signal({"hook_event_name": "SomethingNew"}).reading is None


def test_a_fresh_claude_is_starting_until_it_has_taken_its_task() -> None:
    fresh = claude_signal({"hook_event_name": "SessionStart", "source": "startup"}).reading
    assert fresh is not None and fresh.activity == STARTING
    assert claude_signal({"hook_event_name": "SessionStart", "source": "resume"}).reading.activity == IDLE


def test_an_agent_that_signals_is_starting_until_its_first_signal() -> None:
    drawn = Reading(IDLE)  # the input box is drawn a moment before the agent takes input
    assert _decide(screen=drawn, started_at=99.0, expects_signal=True).activity == STARTING
    assert _decide(screen=drawn, started_at=99.0, expects_signal=True, signal=Reading(IDLE, "", "signal"),
                   signal_at=10.0).activity == IDLE
    assert _decide(screen=Reading(WAITING, "trust dialog"), started_at=99.0, expects_signal=True).activity == WAITING
    assert _decide(screen=drawn, started_at=-1000.0, expects_signal=True).activity == IDLE  # hooks never came


def test_tool_summary_is_short_and_readable() -> None:
    assert tool_summary("Edit", {"file_path": "src/app.py", "old_string": "x"}) == "Edit(src/app.py)"
    assert len(tool_summary("Bash", {"command": "x" * 500})) < 100
    assert tool_summary("Mystery", {}) == "Mystery"


# ------------------------------------------------------------ the decision

def _decide(**kw):  # type: ignore[no-untyped-def]
    base = dict(alive=True, screen=None, signal=None, signal_at=None, previous=None, started_at=0.0, now=100.0)
    return decide(**{**base, **kw})


def test_a_dead_agent_has_exited() -> None:
    assert _decide(alive=False, screen=Reading(IDLE)).activity == Activity.EXITED


def test_dialog_on_screen_wins_and_takes_the_hooks_tool_name() -> None:
    screen = Reading(WAITING, "dialog: Do you want to proceed?")
    hook = Reading(WAITING, "permission: Bash(rm x)", "signal")
    assert _decide(screen=screen, signal=hook, signal_at=10.0) == hook
    assert _decide(screen=screen, signal=Reading(WORKING, "", "signal"), signal_at=99.9) == screen


def test_a_fresh_signal_leads_the_screen_and_an_old_one_yields_to_it() -> None:
    hook = Reading(WAITING, "permission: Bash(x)", "signal")
    assert _decide(screen=Reading(WORKING), signal=hook, signal_at=100.0 - SIGNAL_LEAD_SECONDS / 2) == hook
    assert _decide(screen=Reading(WORKING), signal=hook, signal_at=100.0 - SIGNAL_LEAD_SECONDS * 2) == Reading(WORKING)


def test_unrecognised_screens_start_then_turn_unknown() -> None:
    assert _decide(started_at=99.0).activity == STARTING
    assert _decide(started_at=-1000.0).activity == Activity.UNKNOWN
    assert _decide(started_at=99.0, known_screens=False).activity == STARTING
    assert _decide(started_at=90.0, known_screens=False).activity == Activity.UNKNOWN
    assert _decide(previous=Reading(IDLE)).activity == IDLE  # a redraw in between


# ------------------------------------------------------------ the activity table

@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(ACTIVITY_TABLE)
    db.execute("create table sessions (id text primary key, project text)")
    db.execute("create table events (id integer primary key, at real, project text, session text, type text, "
               "reason text, message text)")
    db.execute("insert into sessions values ('shop-1', 'shop')")
    return db


def _events(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("select session, type, reason from events order by id").fetchall()


def test_since_moves_only_when_the_activity_changes(conn: sqlite3.Connection) -> None:
    assert store.record(conn, "shop-1", Reading(IDLE), 1.0)
    assert not store.record(conn, "shop-1", Reading(IDLE), 2.0)
    assert store.record(conn, "shop-1", Reading(WORKING), 3.0)
    row = store.load(conn, "shop-1")
    assert row is not None and (row.current.activity, row.since) == (WORKING, 3.0)


def test_entering_and_leaving_waiting_are_events_and_reset_the_notice(conn: sqlite3.Connection) -> None:
    store.record(conn, "shop-1", Reading(IDLE), 1.0)
    store.record(conn, "shop-1", Reading(WAITING, "permission: Bash(x)"), 2.0)
    store.mark_notified(conn, "shop-1")
    store.record(conn, "shop-1", Reading(WAITING, "permission: Bash(y)"), 3.0)
    assert store.load(conn, "shop-1").waiting_notified  # same episode, new reason
    store.record(conn, "shop-1", Reading(WORKING), 4.0)
    assert not store.load(conn, "shop-1").waiting_notified
    assert _events(conn) == [("shop-1", "Warning", store.WAITING_EVENT), ("shop-1", "Normal", store.ANSWERED_EVENT)]


def test_a_late_generic_permission_notice_keeps_the_named_tool_call(conn: sqlite3.Connection) -> None:
    store.record_signal(conn, "shop-1", Reading(WAITING, "permission: Bash(x)", "signal"), None, 1.0)
    store.record_signal(conn, "shop-1", Reading(WAITING, "permission", "signal"), None, 7.0)
    assert store.load(conn, "shop-1").current.reason == "permission: Bash(x)"


def test_signals_become_the_activity_at_once_and_restart_clears_them(conn: sqlite3.Connection) -> None:
    store.record_signal(conn, "shop-1", Reading(WAITING, "permission: Bash(x)", "signal"), "conv-1", 5.0)
    row = store.load(conn, "shop-1")
    assert row.current.activity == WAITING and row.signal_at == 5.0 and row.conversation == "conv-1"
    store.restart(conn, "shop-1", 6.0)
    row = store.load(conn, "shop-1")
    assert row.current.activity == STARTING and row.signal is None and row.conversation == "conv-1"
