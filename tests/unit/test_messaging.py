"""`ao send` without a terminal: message text, delivery against a scripted terminal, argument
handling through `reconciler.messaging.cli.main`, the global `--data-dir` peel, and the import
weight of the fast path."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.cli.entry import _split_global
from reconciler.messaging import cli as send_cli
from reconciler.messaging.text import (
    MAX_MESSAGE_CHARS,
    MessageRejected,
    compose,
    sanitize,
)
from reconciler.messaging.typing import (
    ENTER_RETRIES,
    PAUSE_BEFORE_ENTER,
    SETTLE_SECONDS,
    Agent,
    type_message,
)
from reconciler.paths import DataDir
from reconciler.registry import Registry, SessionRecord
from reconciler.registry.migrations import ACTIVITY_TABLE
from reconciler.registry.records import Kind, Phase
from tests.conftest import AO

# ---------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),  # ESC goes, the rest of the sequence is plain text
        ("\x1b]0;owned\x07title", "]0;ownedtitle"),  # OSC with BEL terminator
        ("a\x00b\x01c\x08d\x7fe", "abcde"),  # C0 controls and DEL
        ("a\x0bb\x0cc", "abc"),  # vertical tab, form feed
        ("x\x9b31my\x85z\x80", "x31myz"),  # C1 controls (8-bit CSI, NEL)
        ("keep\ttabs\nand\nnewlines", "keep\ttabs\nand\nnewlines"),
        ("windows\r\nline\r\nends", "windows\nline\nends"),
        ("old\rmac\rends", "old\nmac\nends"),
        ("safe\u202eevil\u202c text", "safeevil text"),  # RIGHT-TO-LEFT OVERRIDE, POP DIRECTIONAL
        ("zero\u200bwidth\u2066isolate\u2069\ufeff", "zerowidthisolate"),  # other Cf characters
        ("\n\n\nbody\n\n\n", "body"),
        ("\n\nbody\n  \n\t\n", "body"),  # trailing whitespace-only lines go too
        ("    indented first line\nsecond", "    indented first line\nsecond"),
        ("héllo — 日本語 🚀", "héllo — 日本語 🚀"),  # printable non-ASCII is untouched
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_sanitize_leaves_no_control_character_of_any_kind() -> None:
    every = "".join(chr(c) for c in range(0x00, 0xA0)) + "".join(chr(c) for c in (0x200E, 0x202A, 0x202E, 0x2066))
    out = sanitize("start" + every + "end")
    assert out.startswith("start") and out.endswith("end")
    bad = {c for c in out if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F}
    assert not bad
    assert "\u202e" not in out and "\u2066" not in out


def test_sanitize_strips_leading_whitespace_only_lines() -> None:
    assert sanitize("  \n\t\nbody") == "body"


def test_compose_prefixes_the_sender_only_when_there_is_one() -> None:
    assert compose("tests are green", "shop-2") == "[from shop-2] tests are green"
    assert compose("tests are green", None) == "tests are green"
    assert compose("tests are green", "") == "tests are green"
    assert compose("\x1b[2Jhi\r\n", "shop-orchestrator") == "[from shop-orchestrator] [2Jhi"


@pytest.mark.parametrize("body", ["", " ", "\n\n", " \t \n  ", "\x1b\x07\x00", "\u202e\u200b"])
def test_compose_rejects_empty_messages(body: str) -> None:
    with pytest.raises(MessageRejected, match="empty"):
        compose(body, "shop-2")


def test_compose_size_limit_is_inclusive_and_counts_the_sanitized_body() -> None:
    at_limit = "x" * MAX_MESSAGE_CHARS
    assert compose(at_limit, None) == at_limit
    assert compose(at_limit, "shop-2") == "[from shop-2] " + at_limit  # the prefix does not count
    assert compose(at_limit + "\x1b" * 50 + "\n\n", None) == at_limit  # stripped characters do not count
    with pytest.raises(MessageRejected, match=str(MAX_MESSAGE_CHARS)):
        compose(at_limit + "y", None)


# ------------------------------------------------------------------------------------ delivery


class FakeTerminal:
    """Records every call; `screen(presses, poll)` scripts the cursor line.

    `presses` is how many times Enter was pressed so far, `poll` counts cursor_line calls since
    the last Enter.
    """

    def __init__(self, screen: Callable[[int, int], str]) -> None:
        self.screen = screen
        self.calls: list[tuple] = []
        self.presses = 0
        self.poll = 0

    def paste(self, session_id: str, text: str) -> None:
        self.calls.append(("paste", session_id, text))

    def press_enter(self, session_id: str) -> None:
        self.calls.append(("enter", session_id))
        self.presses += 1
        self.poll = 0

    def cursor_line(self, session_id: str) -> str:
        self.calls.append(("cursor_line", session_id))
        line = self.screen(self.presses, self.poll)
        self.poll += 1
        return line

    def screens(self, session_ids) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {sid: self.screen(self.presses, self.poll) for sid in session_ids}

    def count(self, name: str) -> int:
        return sum(1 for call in self.calls if call[0] == name)


class FakeTime:
    """A clock that only moves when slept on; sleeps are recorded in the terminal's call log."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.now = 1000.0
        self.terminal = terminal

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.terminal.calls.append(("sleep", seconds))
        self.now += seconds


def Delivery(outcome: str, presses: int) -> tuple[str, int]:  # noqa: N802 - reads like the value it compares
    return outcome, presses


def mailbox() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(ACTIVITY_TABLE)
    conn.execute("create table messages (id integer primary key, target text, body text, outcome text)")
    conn.execute("insert into messages values (1, 'shop-2', 'x', 'delivering')")
    return conn


def deliver(terminal: FakeTerminal, target: str, text: str, *, clock, sleep):  # type: ignore[no-untyped-def]
    """Type into an agent ao knows no screens of, started long ago: the plain paste-Enter-check."""
    typed = type_message(terminal, mailbox(), target, 1, text, Agent(None, 0.0), clock=clock, sleep=sleep)
    return typed.outcome, typed.enter_presses


def run(text: str, screen: Callable[[int, int], str]) -> tuple[tuple[str, int], FakeTerminal, FakeTime]:
    terminal = FakeTerminal(screen)
    fake = FakeTime(terminal)
    result = deliver(terminal, "shop-2", text, clock=fake.clock, sleep=fake.sleep)
    return result, terminal, fake


MESSAGE = "[from shop-orchestrator] please rebase on main"


def test_delivered_after_the_first_enter_when_the_line_clears() -> None:
    result, term, _ = run(MESSAGE, lambda presses, poll: "> " if presses else "> " + MESSAGE)
    assert result == Delivery("delivered", 1)
    assert term.calls[0] == ("paste", "shop-2", MESSAGE)
    assert term.calls[1] == ("sleep", PAUSE_BEFORE_ENTER)  # the pause sits between paste and Enter
    assert term.calls[2] == ("enter", "shop-2")
    assert term.calls[3] == ("cursor_line", "shop-2")
    assert term.count("enter") == 1 and term.count("paste") == 1


def test_a_line_that_clears_during_the_settle_window_needs_no_second_enter() -> None:
    # The agent is slow: the text stays on the line for a few polls, then clears.
    result, term, _ = run(MESSAGE, lambda presses, poll: "> " + MESSAGE if poll < 5 else "> ")
    assert result == Delivery("delivered", 1)
    assert term.count("enter") == 1 and term.count("cursor_line") == 6


@pytest.mark.parametrize(
    "pending_line",
    [
        "> " + MESSAGE,
        "│ > …ease rebase on main   │",  # a scrolled input box showing only the end of the text
        "> [Pasted text #1 +3 lines]",
        "> [pasted text +3 lines]",
    ],
)
def test_enter_is_pressed_again_while_the_text_is_still_on_the_input_line(pending_line: str) -> None:
    result, term, _ = run(MESSAGE, lambda presses, poll: pending_line if presses < 2 else "> ")
    assert result == Delivery("delivered", 2)
    assert term.count("enter") == 2
    assert term.count("paste") == 1


def test_multi_line_text_is_checked_by_its_last_line() -> None:
    text = "line one\nline two\nthe last line of it"
    result, term, _ = run(text, lambda presses, poll: "> line one↵line two↵the last line of it" if presses < 3 else "> ")
    assert result == Delivery("delivered", 3)
    assert term.calls[0] == ("paste", "shop-2", text)  # one paste holding every line
    assert term.count("paste") == 1


def test_gives_up_as_unconfirmed_after_a_bounded_number_of_presses() -> None:
    result, term, fake = run(MESSAGE, lambda presses, poll: "> " + MESSAGE)
    assert result == Delivery("unconfirmed", 1 + ENTER_RETRIES)
    assert term.count("enter") == 1 + ENTER_RETRIES
    assert term.count("paste") == 1
    # Each Enter is watched for the settle window, not for ever.
    waited = fake.now - 1000.0 - PAUSE_BEFORE_ENTER
    assert (1 + ENTER_RETRIES) * SETTLE_SECONDS <= waited <= (1 + ENTER_RETRIES) * (SETTLE_SECONDS + 0.2)
    # Enter presses are separated by the settle window.
    enters = [i for i, call in enumerate(term.calls) if call[0] == "enter"]
    for before, after in zip(enters, enters[1:]):
        slept = sum(call[1] for call in term.calls[before:after] if call[0] == "sleep")
        assert slept >= SETTLE_SECONDS


def test_delivery_never_pastes_twice() -> None:
    for screen in (lambda p, q: "> ", lambda p, q: "> [Pasted text #1 +3 lines]", lambda p, q: "> " + MESSAGE):
        _, term, _ = run(MESSAGE, screen)
        assert term.count("paste") == 1


def test_a_failing_terminal_propagates() -> None:
    class Broken(FakeTerminal):
        def press_enter(self, session_id: str) -> None:
            raise OSError("tmux went away")

    terminal = Broken(lambda p, q: "> ")
    fake = FakeTime(terminal)
    with pytest.raises(OSError, match="tmux went away"):
        deliver(terminal, "shop-2", MESSAGE, clock=fake.clock, sleep=fake.sleep)


def test_a_tab_in_the_last_line_still_counts_as_pending() -> None:
    text = "results:\nok\tall green"
    rendered = "> results:↵ok      all green"  # what capture-pane shows for the tab
    result, _, _ = run(text, lambda presses, poll: rendered if presses < 2 else "> ")
    assert result == Delivery("delivered", 2)


def test_the_pause_before_enter_comes_from_the_environment() -> None:
    code = "from reconciler.messaging.typing import PAUSE_BEFORE_ENTER as p; print(p)"
    base = {k: v for k, v in os.environ.items() if k != "AO_SEND_PAUSE"}
    for env, expected in ((base, 0.15), ({**base, "AO_SEND_PAUSE": "0"}, 0.0)):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert float(out.stdout) == expected


# ----------------------------------------------------------------------------------------- cli


@pytest.fixture
def registry_dir(data_dir: DataDir) -> DataDir:
    """A data dir whose registry holds `shop-1` (terminated: a send stops before the terminal but
    records the message, so the body that arguments produce is observable) and `shop-2` (running)."""
    registry = Registry.open(data_dir.db_path)
    try:
        registry.save_session(SessionRecord(id="shop-1", project="shop", kind=Kind.WORKER, phase=Phase.TERMINATED))
        registry.save_session(SessionRecord(id="shop-2", project="shop", kind=Kind.WORKER, phase=Phase.RUNNING))
    finally:
        registry.close()
    return data_dir


def messages(data_dir: DataDir) -> list:
    registry = Registry.open(data_dir.db_path)
    try:
        return registry.messages()
    finally:
        registry.close()


class NoStdin(io.StringIO):
    def read(self, *args: object) -> str:  # noqa: ARG002
        raise AssertionError("stdin was read although no argument asked for it")


@pytest.fixture(autouse=True)
def _no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", NoStdin())


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["shop-1", "please rebase"],
        ["--session", "shop-1", "--message", "please rebase"],
        ["-s", "shop-1", "-m", "please rebase"],
        ["--session", "shop-1", "please rebase"],
        ["shop-1", "--message", "please rebase"],
        ["--message", "please rebase", "shop-1"],
    ],
)
def test_session_and_message_forms(argv: list[str], registry_dir: DataDir, capsys: pytest.CaptureFixture) -> None:
    code = send_cli.main(argv, str(registry_dir.root))
    assert code == send_cli.EXIT_TERMINATED
    assert "shop-1 is terminated" in one_line_error(capsys.readouterr().err)
    [record] = messages(registry_dir)
    assert (record.target, record.body, record.outcome, record.sender) == ("shop-1", "please rebase", "rejected", None)


def test_message_from_a_file(registry_dir: DataDir, tmp_path: Path) -> None:
    note = tmp_path / "notes.md"
    note.write_text("# Notes\n\n- rebase on main\n- rerun `make test`\n", encoding="utf-8")
    assert send_cli.main(["shop-1", "--file", str(note)], str(registry_dir.root)) == send_cli.EXIT_TERMINATED
    assert send_cli.main(["-s", "shop-1", "-f", str(note)], str(registry_dir.root)) == send_cli.EXIT_TERMINATED
    bodies = [m.body for m in messages(registry_dir)]
    assert bodies == ["# Notes\n\n- rebase on main\n- rerun `make test`"] * 2


@pytest.mark.parametrize(
    "argv",
    [["shop-1", "-"], ["--session", "shop-1", "--message", "-"], ["shop-1", "--file", "-"], ["-s", "shop-1", "-"]],
)
def test_dash_reads_stdin(argv: list[str], registry_dir: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("diff --git a/x b/x\n+\x1b[32mnew line\n"))
    assert send_cli.main(argv, str(registry_dir.root)) == send_cli.EXIT_TERMINATED
    [record] = messages(registry_dir)
    assert record.body == "diff --git a/x b/x\n+[32mnew line"


def test_sender_prefix_inside_a_session(registry_dir: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AO_SESSION_ID", "shop-orchestrator")
    assert send_cli.main(["shop-1", "hello"], str(registry_dir.root)) == send_cli.EXIT_TERMINATED
    [record] = messages(registry_dir)
    assert (record.sender, record.body) == ("shop-orchestrator", "[from shop-orchestrator] hello")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["shop-1"], "exactly once"),
        (["--session", "shop-1"], "exactly once"),
        (["shop-1", "hi", "--message", "again"], "exactly once"),
        (["--session", "shop-1", "--message", "a", "--file", "{file}"], "exactly once"),
        (["shop-1", "hi", "--file", "{file}"], "exactly once"),
        (["--session", "shop-1", "shop-2", "hi"], "session once"),
        ([], "no session"),
        (["--message", "hi"], "no session"),
        (["shop-1", ""], "empty"),
        (["shop-1", " \n\t "], "empty"),
        (["shop-1", "\x1b\x07"], "empty"),
        (["shop-1", "x" * (MAX_MESSAGE_CHARS + 1)], str(MAX_MESSAGE_CHARS)),
        (["shop-1", "--file", "{missing}"], "cannot read"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], says: str, registry_dir: DataDir, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    note = tmp_path / "note.txt"
    note.write_text("from a file")
    argv = [a.format(file=note, missing=tmp_path / "missing.txt") for a in argv]
    # The registry knows shop-1: a usage error that slipped through would exit 4, not 2.
    assert send_cli.main(argv, str(registry_dir.root)) == send_cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert says in one_line_error(captured.err)
    assert captured.out == ""
    assert messages(registry_dir) == []  # nothing was recorded


def test_unknown_session_without_a_registry(data_dir: DataDir, capsys: pytest.CaptureFixture) -> None:
    assert not data_dir.db_path.exists()
    assert send_cli.main(["shop-9", "hello"], str(data_dir.root)) == send_cli.EXIT_UNKNOWN_SESSION
    assert "shop-9" in one_line_error(capsys.readouterr().err)
    assert not data_dir.db_path.exists()  # a failed send does not create a registry


def test_unknown_session_with_a_registry(registry_dir: DataDir, capsys: pytest.CaptureFixture) -> None:
    assert send_cli.main(["--session", "shop-9", "--message", "hello"], str(registry_dir.root)) == 3
    line = one_line_error(capsys.readouterr().err)
    assert "shop-9" in line and "ao get sessions" in line
    assert messages(registry_dir) == []


def test_unknown_session_with_an_empty_registry(data_dir: DataDir) -> None:
    Registry.open(data_dir.db_path).close()
    assert send_cli.main(["shop-1", "hello"], str(data_dir.root)) == send_cli.EXIT_UNKNOWN_SESSION


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_session_without_a_live_agent_is_not_running(registry_dir: DataDir, capsys: pytest.CaptureFixture) -> None:
    # shop-2 is Running in the registry, but this data dir's tmux server has no such session.
    assert send_cli.main(["shop-2", "hello"], str(registry_dir.root)) == send_cli.EXIT_NOT_RUNNING
    assert "shop-2" in one_line_error(capsys.readouterr().err)
    [record] = messages(registry_dir)
    assert (record.target, record.outcome, record.enter_presses) == ("shop-2", "rejected", 0)


def test_a_file_containing_a_dash_is_sent_as_is(registry_dir: DataDir, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("this came from stdin"))
    note = tmp_path / "dash.txt"
    note.write_text("-")
    assert send_cli.main(["shop-1", "--file", str(note)], str(registry_dir.root)) == send_cli.EXIT_TERMINATED
    assert [m.body for m in messages(registry_dir)] == ["-"]


# ------------------------------------------------------------------------------- global options


@pytest.mark.parametrize(
    ("argv", "data_dir", "rest"),
    [
        (["--data-dir", "/x", "send", "s", "hi"], "/x", ["send", "s", "hi"]),
        (["--data-dir=/x", "send", "s", "hi"], "/x", ["send", "s", "hi"]),
        (["--data-dir=/a=b", "get"], "/a=b", ["get"]),
        (["--data-dir", "/a", "--data-dir=/b", "send"], "/b", ["send"]),
        (["send", "--data-dir", "/x", "s", "hi"], None, ["send", "--data-dir", "/x", "s", "hi"]),  # only in front
        (["--data-dir"], None, ["--data-dir"]),  # dangling: left for the full CLI to report
        (["get", "sessions"], None, ["get", "sessions"]),
        ([], None, []),
    ],
)
def test_split_global(argv: list[str], data_dir: str | None, rest: list[str]) -> None:
    original = list(argv)
    assert _split_global(argv) == (data_dir, rest)
    assert argv == original  # the caller's list is not modified


@pytest.mark.parametrize("form", [["--data-dir", "{d}"], ["--data-dir={d}"]])
def test_the_ao_executable_routes_send_with_the_global_data_dir(form: list[str], data_dir: DataDir) -> None:
    Registry.open(data_dir.db_path).close()
    argv = [AO, *(a.format(d=data_dir.root) for a in form), "send", "shop-9", "hello"]
    env = {k: v for k, v in os.environ.items() if k != "AO_DATA_DIR"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert result.returncode == send_cli.EXIT_UNKNOWN_SESSION, result.stderr
    assert one_line_error(result.stderr) == "error: no session 'shop-9'; see `ao get sessions`"


# ---------------------------------------------------------------------------------- import weight

HEAVY = ("typer", "pydantic", "sqlite_utils", "yaml", "jsonschema")


def loaded_heavy_modules(code: str) -> list[str]:
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_heavy_modules_are_really_detected() -> None:
    # The probe itself must be able to fail: the full CLI does load them.
    assert set(loaded_heavy_modules("import reconciler.cli.main")) >= {"typer"}


def test_importing_the_send_fast_path_stays_light() -> None:
    assert loaded_heavy_modules("import reconciler.messaging.cli, reconciler.cli.entry") == []


def test_a_whole_send_stays_light(tmp_path: Path) -> None:
    # Runs send() as far as the registry lookup, which also imports the tmux runtime and deliver.
    code = (
        "import contextlib, io\n"
        "from reconciler.messaging.cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        f"    assert main(['shop-9', 'hello'], {str(tmp_path)!r}) == 3\n"
        "import reconciler.runtime.tmux, reconciler.messaging.typing, reconciler.activity.observe\n"
    )
    assert loaded_heavy_modules(code) == []
