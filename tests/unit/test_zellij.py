"""Unit tests of the zellij adapter, with no zellij binary.

Every zellij call goes through an injected runner that records (argv, env, input) and replays
canned results, so the tests pin the exact argv of each operation. The layout is parsed back with
a small KDL v1 reader, and the launcher it names is run for real (with /bin/sh, as a zellij pane
would run it) to check that it records the agent's pid and exit status.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reconciler.runtime.zellij as zellij_module
from reconciler.errors import RuntimeFailure, RuntimeMissing
from reconciler.runtime.base import Launch, Observed, Stamp
from reconciler.runtime.zellij import (
    LAUNCHER,
    CommandResult,
    ZellijRuntime,
    kdl_string,
    layout,
)

BIN = "/usr/bin/zellij"
PANE = "terminal_0"
STAMP = Stamp("ao-0123456789ab", "shop", "worker", "a", "v1-00112233445566aa")


def make_launch(sid: str = "shop-1", *, argv: tuple[str, ...] = ("claude", "--print"), cwd: str = "/srv/shop",
                env: tuple[tuple[str, str], ...] = (("AO_SESSION_ID", "shop-1"),), stamp: Stamp = STAMP) -> Launch:
    return Launch(sid, argv, cwd, env, stamp, runtime="zellij")


# ---------------------------------------------------------------- a recording runner


@dataclass
class Call:
    argv: list[str]
    env: dict[str, str]
    input: str | None

    @property
    def verb(self) -> str:
        """The subcommand (`attach`, `delete-session`...) or, for `--session N action X`, X."""
        args = self.argv[1:]
        return args[3] if args[:1] == ["--session"] else args[0]


@dataclass
class FakeZellij:
    """Records every call; replies with a canned CommandResult per verb (success with no output by default)."""

    calls: list[Call] = field(default_factory=list)
    replies: dict[str, CommandResult | Callable[[Call], CommandResult]] = field(default_factory=dict)

    def __call__(self, argv, env, input):  # type: ignore[no-untyped-def]
        call = Call(list(argv), dict(env), input)
        self.calls.append(call)
        reply = self.replies.get(call.verb, CommandResult(0, "", ""))
        return reply(call) if callable(reply) else reply

    @property
    def argvs(self) -> list[list[str]]:
        return [c.argv for c in self.calls]


@pytest.fixture(autouse=True)
def _no_socket_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # tmp_path is deep (and deeper still under xdist or macOS): names would be shortened and the
    # argv assertions would depend on where pytest keeps its files. The tests of shortening set
    # the limit themselves.
    monkeypatch.setattr(zellij_module, "SOCKET_PATH_LIMIT", 10_000)


@pytest.fixture
def fake() -> FakeZellij:
    return FakeZellij()


@pytest.fixture
def zj(tmp_path: Path, fake: FakeZellij) -> ZellijRuntime:
    return ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=fake)


def state_file(zj: ZellijRuntime, name: str, suffix: str) -> Path:
    return zj.state_dir / f"{name}{suffix}"


def listing(*lines: str) -> CommandResult:
    return CommandResult(0, "".join(f"{line}\n" for line in lines), "")


# ---------------------------------------------------------------- a small KDL v1 reader


class KdlError(ValueError):
    pass


@dataclass
class Node:
    name: str
    args: list[object] = field(default_factory=list)
    props: dict[str, object] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def child(self, name: str) -> Node:
        found = [c for c in self.children if c.name == name]
        assert len(found) == 1, f"{self.name} has {len(found)} {name!r} children"
        return found[0]


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")


def read_kdl_string(text: str, i: int) -> tuple[str, int]:
    """Decode the KDL v1 string literal starting at text[i] == '"'; return (value, index after it)."""
    assert text[i] == '"'
    out: list[str] = []
    i += 1
    while True:
        if i >= len(text):
            raise KdlError("unterminated string")
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            e = text[i + 1 : i + 2]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
            elif e == "u":
                m = re.match(r"\{([0-9a-fA-F]{1,6})\}", text[i + 2 :])
                if not m:
                    raise KdlError(f"bad unicode escape at {i}")
                out.append(chr(int(m.group(1), 16)))
                i += 2 + m.end()
            else:
                raise KdlError(f"invalid escape \\{e!r} at {i}")
        else:
            out.append(c)
            i += 1


def _tokens(text: str) -> list[tuple[str, object]]:
    tokens: list[tuple[str, object]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \t":
            i += 1
        elif c in "\n;":
            tokens.append(("end", None))
            i += 1
        elif c in "{}=":
            tokens.append((c, None))
            i += 1
        elif c == '"':
            value, i = read_kdl_string(text, i)
            tokens.append(("str", value))
        elif c == "/" and text[i : i + 2] == "//":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        else:
            m = _IDENT.match(text, i) or re.compile(r"-?\d+").match(text, i)
            if not m:
                raise KdlError(f"unexpected character {c!r} at {i}")
            word = m.group(0)
            value: object = {"true": True, "false": False, "null": None}.get(word, word)
            tokens.append(("ident", value))
            i = m.end()
    return tokens


def parse_kdl(text: str) -> list[Node]:
    tokens = _tokens(text)
    pos = 0

    def nodes(until_brace: bool) -> list[Node]:
        nonlocal pos
        found: list[Node] = []
        while pos < len(tokens):
            kind, value = tokens[pos]
            if kind == "end":
                pos += 1
            elif kind == "}":
                if not until_brace:
                    raise KdlError("unbalanced }")
                pos += 1
                return found
            elif kind in ("ident", "str"):
                pos += 1
                node = Node(str(value))
                while pos < len(tokens) and tokens[pos][0] in ("ident", "str"):
                    item = tokens[pos][1]
                    if pos + 1 < len(tokens) and tokens[pos + 1][0] == "=":
                        if pos + 2 >= len(tokens) or tokens[pos + 2][0] not in ("ident", "str"):
                            raise KdlError("property without a value")
                        node.props[str(item)] = tokens[pos + 2][1]
                        pos += 3
                    else:
                        node.args.append(item)
                        pos += 1
                if pos < len(tokens) and tokens[pos][0] == "{":
                    pos += 1
                    node.children = nodes(True)
                found.append(node)
            else:
                raise KdlError(f"unexpected {kind}")
        if until_brace:
            raise KdlError("missing }")
        return found

    return nodes(False)


def agent_pane(kdl: str) -> Node:
    (root,) = parse_kdl(kdl)
    assert root.name == "layout"
    (pane,) = root.children
    assert pane.name == "pane"
    return pane


def test_the_kdl_reader_rejects_broken_literals() -> None:
    """The reader used below must be able to fail."""
    with pytest.raises(KdlError):
        parse_kdl('layout { pane { args "unterminated } }')
    with pytest.raises(KdlError):
        parse_kdl('layout { pane { args "bad \\q escape" } }')
    with pytest.raises(KdlError):
        parse_kdl('layout { pane { args "a" "b"" } }')
    with pytest.raises(KdlError):
        parse_kdl('layout { pane { args "a" }')


# ---------------------------------------------------------------- create / respawn / kill


def test_create_clears_a_stale_session_then_starts_from_its_layout(zj: ZellijRuntime, fake: FakeZellij) -> None:
    seen_at_attach: dict[str, str] = {}

    def on_attach(call: Call) -> CommandResult:
        # The layout and the stamp must exist before zellij starts the session.
        seen_at_attach["kdl"] = state_file(zj, "shop-1", ".kdl").read_text()
        seen_at_attach["json"] = state_file(zj, "shop-1", ".json").read_text()
        return CommandResult(0, "", "")

    fake.replies["attach"] = on_attach
    launch = make_launch()
    assert zj.create(launch) is None

    state = zj.state_dir / "shop-1"
    assert fake.argvs == [
        [BIN, "delete-session", "--force", "shop-1"],
        [BIN, "attach", "--create-background", "shop-1", "options",
         "--default-layout", f"{state}.kdl", "--session-serialization", "false"],
    ]
    assert [c.input for c in fake.calls] == [None, None]
    assert seen_at_attach["kdl"] == layout(launch, state)
    assert json.loads(seen_at_attach["json"]) == {
        "session_id": "shop-1",
        "stamp": {"owner": STAMP.owner, "project": "shop", "kind": "worker", "worker": "a",
                  "spec_hash": STAMP.spec_hash, "registry": ""},
    }
    # The layout holds the session's environment: private to the user.
    assert stat.S_IMODE(state_file(zj, "shop-1", ".kdl").stat().st_mode) == 0o600
    assert stat.S_IMODE(zj.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(zj.socket_dir.stat().st_mode) == 0o700


def test_create_forgets_the_previous_agents_pid_and_status(zj: ZellijRuntime, fake: FakeZellij) -> None:
    zj.state_dir.mkdir(parents=True)
    state_file(zj, "shop-1", ".pid").write_text("4242\n")
    state_file(zj, "shop-1", ".status").write_text("1\n")
    zj.create(make_launch())
    assert not state_file(zj, "shop-1", ".pid").exists()
    assert not state_file(zj, "shop-1", ".status").exists()


@pytest.mark.parametrize("stale_reply", [
    CommandResult(1, "", 'No session named "shop-1" found.'),
    CommandResult(1, "", "Session: \"shop-1\" not found"),
    CommandResult(2, "", "something unexpected"),
])
def test_create_goes_on_whatever_the_pre_clean_says(zj: ZellijRuntime, fake: FakeZellij, stale_reply: CommandResult) -> None:
    fake.replies["delete-session"] = stale_reply
    zj.create(make_launch())
    assert [c.verb for c in fake.calls] == ["delete-session", "attach"]


def test_create_fails_when_zellij_cannot_start_the_session(zj: ZellijRuntime, fake: FakeZellij) -> None:
    fake.replies["attach"] = CommandResult(1, "", "Session with name \"shop-1\" already exists")
    with pytest.raises(RuntimeFailure, match="already exists"):
        zj.create(make_launch())


def test_respawn_deletes_the_session_and_creates_it_again(zj: ZellijRuntime, fake: FakeZellij) -> None:
    zj.create(make_launch(argv=("old-agent",)))
    state_file(zj, "shop-1", ".pid").write_text("4242\n")
    state_file(zj, "shop-1", ".status").write_text("1\n")
    fake.calls.clear()

    launch = make_launch(argv=("new-agent", "--resume"))
    assert zj.respawn(launch) is None

    state = zj.state_dir / "shop-1"
    assert fake.argvs == [
        [BIN, "delete-session", "--force", "shop-1"],  # kill
        [BIN, "delete-session", "--force", "shop-1"],  # create's pre-clean
        [BIN, "attach", "--create-background", "shop-1", "options",
         "--default-layout", f"{state}.kdl", "--session-serialization", "false"],
    ]
    assert state_file(zj, "shop-1", ".kdl").read_text() == layout(launch, state)
    assert json.loads(state_file(zj, "shop-1", ".json").read_text())["session_id"] == "shop-1"
    assert not state_file(zj, "shop-1", ".pid").exists()
    assert not state_file(zj, "shop-1", ".status").exists()


def _write_state(zj: ZellijRuntime, name: str) -> list[Path]:
    zj.state_dir.mkdir(parents=True, exist_ok=True)
    files = [state_file(zj, name, s) for s in (".pid", ".status", ".json", ".kdl")]
    for f in files:
        f.write_text("x")
    return files


@pytest.mark.parametrize("reply", [
    CommandResult(0, "", ""),
    CommandResult(1, "", 'No session named "shop-1" found.'),
    CommandResult(1, "Session \"shop-1\" not found\n", ""),
    CommandResult(1, "", "Session shop-1 does not exist"),
    CommandResult(1, "No active zellij sessions found.\n", ""),
])
def test_kill_deletes_the_session_and_its_state(zj: ZellijRuntime, fake: FakeZellij, reply: CommandResult) -> None:
    files = _write_state(zj, "shop-1")
    other = _write_state(zj, "shop-10")
    fake.replies["delete-session"] = reply
    zj.kill("shop-1")
    assert fake.argvs == [[BIN, "delete-session", "--force", "shop-1"]]
    assert not any(f.exists() for f in files)
    assert all(f.exists() for f in other)


def test_kill_reports_a_real_failure_and_keeps_the_state(zj: ZellijRuntime, fake: FakeZellij) -> None:
    files = _write_state(zj, "shop-1")
    fake.replies["delete-session"] = CommandResult(1, "", "Permission denied (os error 13)")
    with pytest.raises(RuntimeFailure, match="Permission denied"):
        zj.kill("shop-1")
    assert all(f.exists() for f in files)


# ---------------------------------------------------------------- reading and typing


def test_capture_dumps_the_full_scrollback_and_keeps_the_last_lines(zj: ZellijRuntime, fake: FakeZellij) -> None:
    fake.replies["dump-screen"] = CommandResult(0, "one\ntwo\n  three  \nfour\n\n   \n\n", "")
    assert zj.capture("shop-1", 2) == "  three  \nfour"
    assert zj.capture("shop-1", 50) == "one\ntwo\n  three  \nfour"
    assert fake.argvs == [[BIN, "--session", "shop-1", "action", "dump-screen", "--pane-id", PANE, "--full"]] * 2


def test_capture_of_a_blank_screen_is_empty(zj: ZellijRuntime, fake: FakeZellij) -> None:
    fake.replies["dump-screen"] = CommandResult(0, "\n\n   \n", "")
    assert zj.capture("shop-1", 10) == ""


def test_capture_failure_is_a_runtime_failure(zj: ZellijRuntime, fake: FakeZellij) -> None:
    fake.replies["dump-screen"] = CommandResult(1, "", "There is no active session!")
    with pytest.raises(RuntimeFailure, match="no active session"):
        zj.capture("shop-1", 10)


def test_paste_and_enter_target_the_agent_pane(zj: ZellijRuntime, fake: FakeZellij) -> None:
    text = 'first line\nsecond "line" with $HOME and ✓'
    zj.paste("shop-1", text)
    zj.press_enter("shop-1")
    assert fake.argvs == [
        [BIN, "--session", "shop-1", "action", "paste", "--pane-id", PANE, "--", text],
        [BIN, "--session", "shop-1", "action", "send-keys", "--pane-id", PANE, "Enter"],
    ]
    assert [c.input for c in fake.calls] == [None, None]


@pytest.mark.parametrize("text", ["-", "--", "-h", "--help", "--pane-id terminal_1", "- a list item\n- another"])
def test_a_message_that_starts_with_a_dash_is_pasted_as_text(zj: ZellijRuntime, fake: FakeZellij, text: str) -> None:
    # Without "--", zellij's argument parser would read the message as an option of `paste`.
    zj.paste("shop-1", text)
    assert fake.argvs == [[BIN, "--session", "shop-1", "action", "paste", "--pane-id", PANE, "--", text]]


def test_paste_failure_is_a_runtime_failure(zj: ZellijRuntime, fake: FakeZellij) -> None:
    fake.replies["paste"] = CommandResult(1, "", "boom")
    with pytest.raises(RuntimeFailure, match="boom"):
        zj.paste("shop-1", "hello")


@pytest.mark.parametrize(("screen", "line"), [
    ("Welcome\n\n> fix the bug  \n\n\n", "> fix the bug  "),
    ("only line", "only line"),
    ("\n  \n\n", ""),
    ("", ""),
])
def test_cursor_line_is_the_last_non_blank_line_of_the_viewport(zj: ZellijRuntime, fake: FakeZellij,
                                                                screen: str, line: str) -> None:
    fake.replies["dump-screen"] = CommandResult(0, screen, "")
    assert zj.cursor_line("shop-1") == line
    assert fake.argvs == [[BIN, "--session", "shop-1", "action", "dump-screen", "--pane-id", PANE]]


def test_attach_argv(zj: ZellijRuntime, fake: FakeZellij) -> None:
    assert zj.attach_argv("shop-1") == ["env", f"ZELLIJ_SOCKET_DIR={zj.socket_dir}", BIN, "attach", "shop-1"]
    assert fake.calls == []


def test_every_call_uses_the_private_socket_dir_and_none_of_the_callers_ao_or_zellij_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AO_SESSION_ID", "outer-1")
    monkeypatch.setenv("AO_DATA_DIR", "/elsewhere")
    monkeypatch.setenv("ZELLIJ", "0")
    monkeypatch.setenv("ZELLIJ_SESSION_NAME", "outer")
    monkeypatch.setenv("ZELLIJ_PANE_ID", "7")
    monkeypatch.setenv("ZELLIJ_SOCKET_DIR", "/tmp/someone-elses")
    monkeypatch.setenv("MY_SETTING", "kept")
    fake = FakeZellij()
    fake.replies["list-sessions"] = listing("shop-1 [Created 1s ago]")
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=fake)

    zj.create(make_launch())
    zj.respawn(make_launch())
    zj.observe()
    zj.probe("shop-1")
    zj.capture("shop-1", 5)
    zj.paste("shop-1", "hi")
    zj.press_enter("shop-1")
    zj.cursor_line("shop-1")
    zj.kill("shop-1")

    assert len(fake.calls) == 12  # create 2, respawn 3, then one each
    for call in fake.calls:
        assert call.env["ZELLIJ_SOCKET_DIR"] == str(tmp_path / "sock"), call.argv
        assert not [k for k in call.env if k.startswith("AO_")], call.argv
        assert [k for k in call.env if k.startswith("ZELLIJ")] == ["ZELLIJ_SOCKET_DIR"], call.argv
        assert call.env["MY_SETTING"] == "kept"
        assert call.env["PATH"] == os.environ["PATH"]


# ---------------------------------------------------------------- the layout


TRICKY = make_launch(
    "shop-1",
    argv=("claude", "--append-system-prompt", 'line1\nline2 "quoted" \\ $x', "ünïcødé ✓", ""),
    cwd='/srv/wö rk/"q"\\dir',
    env=(
        ("AO_SESSION_ID", "shop-1"),
        ("QUOTE", 'say "hi"'),
        ("BACK", "C:\\dir\\"),
        ("NL", "one\ntwo\r\nthree\tfour"),
        ("DOLLAR", "$HOME ${PATH} `id` $(id) '$'"),
        ("UNI", "héllo ✓ 日本"),
    ),
)
TRICKY_STATE = Path("/var/ao/zellij/shop-1")

# Written out by hand: what zellij must receive.
TRICKY_KDL = r'''layout {
    pane command="/usr/bin/env" name="agent" borderless=true close_on_exit=false {
        cwd "/srv/wö rk/\"q\"\\dir"
        args "AO_SESSION_ID=shop-1" "QUOTE=say \"hi\"" "BACK=C:\\dir\\" "NL=one\ntwo\r\nthree\tfour" "DOLLAR=$HOME ${PATH} `id` $(id) '$'" "UNI=héllo ✓ 日本" "/bin/sh" "-c" "state=$1; shift; /bin/sh -c 'echo $$ > \"$0\"; exec \"$@\"' \"$state.pid\" \"$@\"; code=$?; echo \"$code\" > \"$state.status.tmp\"; /bin/mv \"$state.status.tmp\" \"$state.status\"; exit \"$code\"" "ao-launch" "/var/ao/zellij/shop-1" "claude" "--append-system-prompt" "line1\nline2 \"quoted\" \\ $x" "ünïcødé ✓" ""
    }
}
'''


def test_layout_is_exactly_one_borderless_pane_running_the_launcher() -> None:
    assert layout(TRICKY, TRICKY_STATE) == TRICKY_KDL


def test_layout_parses_back_to_the_launch() -> None:
    pane = agent_pane(layout(TRICKY, TRICKY_STATE))
    assert pane.args == []
    # close_on_exit is a property of the pane (as in zellij's "Creating a Layout"), not a child node.
    assert pane.props == {"command": "/usr/bin/env", "name": "agent", "borderless": True, "close_on_exit": False}
    assert [c.name for c in pane.children] == ["cwd", "args"]
    assert pane.child("cwd").args == [TRICKY.cwd]
    assert pane.child("args").args == [
        *(f"{k}={v}" for k, v in TRICKY.env),
        "/bin/sh", "-c", LAUNCHER, "ao-launch", str(TRICKY_STATE), *TRICKY.argv,
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_every_string_becomes_one_valid_kdl_literal(value: str) -> None:
    literal = kdl_string(value)
    decoded, end = read_kdl_string(literal, 0)
    assert (decoded, end) == (value, len(literal))
    assert "\n" not in literal and "\r" not in literal  # the layout stays one node per line


@settings(max_examples=100, deadline=None)
@given(
    argv=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
                  min_size=1, max_size=4),
    values=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
                    max_size=3),
    cwd=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1),
)
def test_any_launch_round_trips_through_the_layout(argv: list[str], values: list[str], cwd: str) -> None:
    env = tuple((f"V{i}", v) for i, v in enumerate(values))
    launch = make_launch(argv=tuple(argv), cwd=cwd, env=env)
    pane = agent_pane(layout(launch, TRICKY_STATE))
    assert pane.child("cwd").args == [cwd]
    assert pane.child("args").args == [*(f"{k}={v}" for k, v in env), "/bin/sh", "-c", LAUNCHER, "ao-launch",
                                       str(TRICKY_STATE), *argv]


# ---------------------------------------------------------------- the launcher, run for real


def run_pane(zj: ZellijRuntime, name: str) -> subprocess.CompletedProcess[str]:
    """Run the session's pane command as zellij would: its argv and cwd, read from the layout file."""
    pane = agent_pane(state_file(zj, name, ".kdl").read_text())
    argv = [str(pane.props["command"]), *(str(a) for a in pane.child("args").args)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AO_")}
    return subprocess.run(argv, cwd=str(pane.child("cwd").args[0]), env=env, capture_output=True, text=True,
                          timeout=30, check=False)


def test_launcher_records_the_agents_own_pid_and_exit_status(tmp_path: Path, zj: ZellijRuntime,
                                                             fake: FakeZellij) -> None:
    work = tmp_path / "wö rk"
    work.mkdir()
    report = tmp_path / "agent.out"
    tricky = 'a "b" \\c\nd $e ✓'
    script = 'echo $$ > "$0"; pwd >> "$0"; printf %s "$TRICKY" >> "$0"; exit 3'
    launch = make_launch(argv=("/bin/sh", "-c", script, str(report)), cwd=str(work),
                         env=(("TRICKY", tricky), ("PATH", os.environ["PATH"])))
    zj.create(launch)

    proc = run_pane(zj, "shop-1")

    assert proc.returncode == 3, proc.stderr
    agent_pid, seen_cwd, seen_env = report.read_text().split("\n", 2)
    assert state_file(zj, "shop-1", ".pid").read_text().strip() == agent_pid
    assert state_file(zj, "shop-1", ".status").read_text().strip() == "3"
    assert not state_file(zj, "shop-1", ".status.tmp").exists()
    assert os.path.realpath(seen_cwd) == os.path.realpath(work)
    assert seen_env == tricky

    fake.replies["list-sessions"] = listing("shop-1 [Created 2s ago] ")
    status_mtime = state_file(zj, "shop-1", ".status").stat().st_mtime
    assert zj.observe() == {
        "shop-1": Observed("shop-1", alive=False, pid=int(agent_pid), exit_status=3, exit_signal=None,
                       dead_at=status_mtime, stamp=STAMP, runtime="zellij"),
    }


@pytest.mark.parametrize(("signal_name", "number"), [("TERM", 15), ("KILL", 9)])
def test_launcher_records_a_death_by_signal_as_128_plus_n(zj: ZellijRuntime, fake: FakeZellij,
                                                          signal_name: str, number: int) -> None:
    zj.create(make_launch(argv=("/bin/sh", "-c", f"kill -{signal_name} $$"), cwd="/",
                          env=(("PATH", os.environ["PATH"]),)))
    proc = run_pane(zj, "shop-1")
    assert proc.returncode == 128 + number
    assert state_file(zj, "shop-1", ".status").read_text().strip() == str(128 + number)
    fake.replies["list-sessions"] = listing("shop-1 [Created 2s ago]")
    live = zj.observe()["shop-1"]
    assert (live.alive, live.exit_status, live.exit_signal) == (False, None, number)


def test_launcher_records_an_agent_that_cannot_start(zj: ZellijRuntime) -> None:
    zj.create(make_launch(argv=("/nonexistent/agent",), cwd="/", env=(("PATH", os.environ["PATH"]),)))
    assert run_pane(zj, "shop-1").returncode == 127
    assert state_file(zj, "shop-1", ".status").read_text().strip() == "127"


def test_launcher_does_not_depend_on_the_agents_path(zj: ZellijRuntime) -> None:
    # The manifest's PATH may lack /bin and /usr/bin: the launcher names its own tools by absolute path.
    zj.create(make_launch(argv=("/bin/sh", "-c", "exit 3"), cwd="/", env=(("PATH", "/nonexistent"),)))
    run_pane(zj, "shop-1")
    assert state_file(zj, "shop-1", ".pid").read_text().strip().isdigit()
    assert state_file(zj, "shop-1", ".status").read_text().strip() == "3"
    assert not state_file(zj, "shop-1", ".status.tmp").exists()


def test_launcher_names_sh_and_mv_by_absolute_path() -> None:
    commands = re.findall(r"(?:^|;\s*)(\S+)", LAUNCHER)  # the first word of every simple command
    assert "sh" not in commands and "mv" not in commands
    assert "/bin/sh" in commands and "/bin/mv" in commands


# ---------------------------------------------------------------- observe


def _stamp_file(zj: ZellijRuntime, name: str, session_id: str | None = None, stamp: Stamp = STAMP) -> None:
    zj.state_dir.mkdir(parents=True, exist_ok=True)
    state_file(zj, name, ".json").write_text(json.dumps({
        "session_id": session_id or name,
        "stamp": {"owner": stamp.owner, "project": stamp.project, "kind": stamp.kind, "worker": stamp.worker,
                  "spec_hash": stamp.spec_hash},
    }))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_observe_reads_one_listing_and_the_state_files(zj: ZellijRuntime, fake: FakeZellij) -> None:
    for name in ("run-1", "done-2", "crash-3", "killed-4", "gone-5", "old-6", "boot-7"):
        _stamp_file(zj, name, stamp=Stamp(STAMP.owner, "shop", "worker", name, "h"))
    state_file(zj, "run-1", ".pid").write_text(f"{os.getpid()}\n")  # a live process
    state_file(zj, "done-2", ".pid").write_text("111\n")
    state_file(zj, "done-2", ".status").write_text("0\n")
    state_file(zj, "crash-3", ".status").write_text("3\n")
    state_file(zj, "killed-4", ".status").write_text("137\n")
    dead = _dead_pid()
    state_file(zj, "gone-5", ".pid").write_text(f"{dead}\n")  # the agent died, no status (yet)
    fake.replies["list-sessions"] = listing(
        "run-1 [Created 5m 2s ago] ",
        "done-2 [Created 1h ago] ",
        "crash-3 [Created 10s ago] (current)",
        "killed-4 [Created 3s ago] ",
        "gone-5 [Created 3s ago] ",
        "old-6 [Created 2days ago] (EXITED - attach to resurrect)",
        "boot-7 [Created 0s ago] ",
        "foreign [Created 9m ago] ",
        "",
    )

    seen = zj.observe()

    assert fake.argvs == [[BIN, "list-sessions", "--no-formatting"]]
    assert set(seen) == {"run-1", "done-2", "crash-3", "killed-4", "gone-5", "old-6", "boot-7", "foreign"}
    assert all(live.runtime == "zellij" for live in seen.values())
    assert all(seen[n].stamp == Stamp(STAMP.owner, "shop", "worker", n, "h") for n in seen if n != "foreign")

    def facts(name: str) -> tuple:
        live = seen[name]
        return live.alive, live.pid, live.exit_status, live.exit_signal

    assert facts("run-1") == (True, os.getpid(), None, None)
    assert facts("done-2") == (False, 111, 0, None)
    assert facts("crash-3") == (False, None, 3, None)
    assert facts("killed-4") == (False, None, None, 9)
    assert facts("gone-5") == (False, dead, None, None)
    assert facts("old-6") == (False, None, None, None)
    assert facts("boot-7") == (True, None, None, None)  # the launcher has not written its pid yet
    assert facts("foreign") == (True, None, None, None)
    assert seen["foreign"].stamp is None and not seen["foreign"].owned_by(STAMP.owner)
    assert seen["crash-3"].dead_at == state_file(zj, "crash-3", ".status").stat().st_mtime
    assert seen["run-1"].dead_at is None and seen["old-6"].dead_at is None


def test_a_status_file_wins_over_an_exited_listing(zj: ZellijRuntime, fake: FakeZellij) -> None:
    _stamp_file(zj, "shop-1")
    state_file(zj, "shop-1", ".status").write_text("2\n")
    fake.replies["list-sessions"] = listing("shop-1 [Created 1h ago] (EXITED - attach to resurrect)")
    live = zj.observe()["shop-1"]
    assert (live.alive, live.exit_status, live.exit_signal) == (False, 2, None)


_GOOD_STAMP = {"owner": STAMP.owner, "project": "shop", "kind": "worker", "worker": "a", "spec_hash": STAMP.spec_hash}


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(b"{not json", id="not-json"),
    pytest.param(b'{"session_id": "shop-1", "stamp": ', id="truncated"),
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="a-list"),
    pytest.param(b'"shop-1"', id="a-string"),
    pytest.param(b"{}", id="empty-object"),
    pytest.param(json.dumps({"stamp": _GOOD_STAMP}).encode(), id="no-session-id"),
    pytest.param(b'{"session_id": "shop-1"}', id="no-stamp"),
    pytest.param(b'{"session_id": "shop-1", "stamp": null}', id="null-stamp"),
    pytest.param(b'{"session_id": "shop-1", "stamp": "ao-0123456789ab"}', id="string-stamp"),
    pytest.param(json.dumps({"session_id": "shop-1", "stamp": {"owner": STAMP.owner, "project": "shop"}}).encode(),
                 id="old-format-missing-fields"),
    pytest.param(json.dumps({"session_id": "shop-1", "stamp": {**_GOOD_STAMP, "runtime": "zellij"}}).encode(),
                 id="unknown-field"),
    pytest.param(json.dumps({"owner": STAMP.owner, "project": "shop", "kind": "worker", "worker": "a"}).encode(),
                 id="old-format-flat"),
])
def test_a_corrupt_or_old_stamp_file_makes_the_session_foreign(zj: ZellijRuntime, fake: FakeZellij,
                                                                content: bytes) -> None:
    _stamp_file(zj, "good-2", stamp=Stamp(STAMP.owner, "shop", "worker", "b", "h"))
    state_file(zj, "shop-1", ".json").write_bytes(content)
    fake.replies["list-sessions"] = listing("shop-1 [Created 1m ago] ", "good-2 [Created 1m ago] ")

    seen = zj.observe()  # does not raise

    assert set(seen) == {"shop-1", "good-2"}
    bad = seen["shop-1"]
    assert bad.session_id == "shop-1"  # the zellij name
    assert bad.stamp is None and not bad.owned_by(STAMP.owner)
    assert (bad.alive, bad.pid, bad.exit_status, bad.exit_signal) == (True, None, None, None)
    assert bad.runtime == "zellij"
    # One unreadable stamp does not cost the others theirs.
    assert seen["good-2"].stamp == Stamp(STAMP.owner, "shop", "worker", "b", "h")
    assert zj.probe("shop-1") == bad


def test_a_corrupt_stamp_on_a_shortened_name_reports_the_zellij_name(cramped) -> None:  # type: ignore[no-untyped-def]
    zj, fake, _ = cramped
    sid = "longproject-prefix-with-many-words-orchestrator"
    name = zj.session_name(sid)
    assert name != sid
    zj.state_dir.mkdir(parents=True)
    state_file(zj, name, ".json").write_text("{corrupt")
    state_file(zj, name, ".status").write_text("1\n")
    fake.replies["list-sessions"] = listing(f"{name} [Created 1s ago] ")
    seen = zj.observe()
    assert list(seen) == [name]  # ao cannot know the ID: it is a foreign session under its zellij name
    assert seen[name].stamp is None
    assert (seen[name].alive, seen[name].exit_status) == (False, 1)  # its state files are still read
    assert zj.probe(sid) is None


@pytest.mark.parametrize("reply", [
    CommandResult(1, "No active zellij sessions found.\n", ""),
    CommandResult(1, "", "No active zellij sessions found."),
    CommandResult(0, "", ""),
])
def test_no_sessions_is_an_empty_world(zj: ZellijRuntime, fake: FakeZellij, reply: CommandResult) -> None:
    fake.replies["list-sessions"] = reply
    assert zj.observe() == {}
    assert zj.probe("shop-1") is None


@pytest.mark.parametrize("reply", [
    CommandResult(1, "", "Error: Permission denied (os error 13)"),
    CommandResult(2, "error: unexpected argument '--no-formatting' found\n", ""),
    CommandResult(1, "", ""),
])
def test_any_other_listing_failure_is_a_runtime_failure(zj: ZellijRuntime, fake: FakeZellij, reply: CommandResult) -> None:
    fake.replies["list-sessions"] = reply
    with pytest.raises(RuntimeFailure, match="cannot observe zellij sessions"):
        zj.observe()


def test_probe_is_one_listing(zj: ZellijRuntime, fake: FakeZellij) -> None:
    _stamp_file(zj, "shop-1")
    state_file(zj, "shop-1", ".status").write_text("1\n")
    fake.replies["list-sessions"] = listing("shop-1 [Created 1s ago]", "shop-10 [Created 1s ago]")
    live = zj.probe("shop-1")
    assert live is not None and live.session_id == "shop-1" and live.exit_status == 1 and live.stamp == STAMP
    assert zj.probe("shop-2") is None
    assert fake.argvs == [[BIN, "list-sessions", "--no-formatting"]] * 2


# ---------------------------------------------------------------- session names and the socket path


def _contract_path(zj: ZellijRuntime, name: str) -> str:
    return f"{zj.socket_dir}/contract_version_1/{name}"


def test_short_ids_are_used_as_they_are_with_the_real_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zellij_module, "SOCKET_PATH_LIMIT", 100)
    zj = ZellijRuntime(Path("/tmp/ao-zj-1000/0123abcd"), tmp_path / "state", binary=BIN, runner=FakeZellij())
    for sid in ("shop-1", "shop-orchestrator", "a-very-long-project-prefix-orchestrator"):
        assert zj.session_name(sid) == sid
    long_id = "p" * 120 + "-1"
    name = zj.session_name(long_id)
    assert name != long_id
    assert len(_contract_path(zj, name)) <= 100


@pytest.fixture
def cramped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ZellijRuntime, FakeZellij, int]:
    """A runtime whose socket dir leaves exactly 24 characters for a session name."""
    fake = FakeZellij()
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=fake)
    room = 24
    monkeypatch.setattr(zellij_module, "SOCKET_PATH_LIMIT",
                        len(str(zj.socket_dir)) + len("/contract_version_1/") + room)
    return zj, fake, room


def test_long_ids_are_shortened_deterministically_and_distinctly(cramped) -> None:  # type: ignore[no-untyped-def]
    zj, _, room = cramped
    fits = "x" * room
    assert zj.session_name(fits) == fits
    one, two = "longproject-prefix-with-many-words-1", "longproject-prefix-with-many-words-2"
    a, b = zj.session_name(one), zj.session_name(two)
    assert a != b
    assert a == zj.session_name(one)  # deterministic
    twin = ZellijRuntime(zj.socket_dir, zj.state_dir, binary=BIN, runner=FakeZellij())
    assert twin.session_name(one) == a  # and the same in another process
    for name in (a, b):
        assert len(name) <= room
        assert len(_contract_path(zj, name)) <= zellij_module.SOCKET_PATH_LIMIT
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert a.startswith("longproject")  # still readable in `zellij ls`
    many = {zj.session_name(f"longproject-prefix-with-many-words-{n}") for n in range(500)}
    assert len(many) == 500


def test_a_shortened_name_round_trips_to_the_session_id(cramped) -> None:  # type: ignore[no-untyped-def]
    zj, fake, _ = cramped
    sid = "longproject-prefix-with-many-words-orchestrator"
    name = zj.session_name(sid)
    launch = make_launch(sid)
    zj.create(launch)
    assert fake.argvs[-1][:4] == [BIN, "attach", "--create-background", name]
    assert state_file(zj, name, ".kdl").exists() and state_file(zj, name, ".json").exists()

    fake.replies["list-sessions"] = listing(f"{name} [Created 1s ago] ")
    seen = zj.observe()
    assert list(seen) == [sid]
    assert seen[sid].session_id == sid and seen[sid].stamp == STAMP
    assert zj.probe(sid) == seen[sid]

    fake.calls.clear()
    zj.capture(sid, 3)
    zj.paste(sid, "hi")
    zj.kill(sid)
    assert fake.argvs == [
        [BIN, "--session", name, "action", "dump-screen", "--pane-id", PANE, "--full"],
        [BIN, "--session", name, "action", "paste", "--pane-id", PANE, "--", "hi"],
        [BIN, "delete-session", "--force", name],
    ]
    assert zj.attach_argv(sid)[-1] == name
    assert not state_file(zj, name, ".json").exists()


def _with_room(zj: ZellijRuntime, monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Set the limit so that the socket dir leaves exactly `room` characters for a session name."""
    monkeypatch.setattr(zellij_module, "SOCKET_PATH_LIMIT", len(str(zj.socket_dir)) + len("/contract_version_1/") + room)


def test_shortening_never_exceeds_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=FakeZellij())
    _with_room(zj, monkeypatch, 5)
    name = zj.session_name("shop-orchestrator")
    assert len(_contract_path(zj, name)) <= zellij_module.SOCKET_PATH_LIMIT


@pytest.mark.parametrize("room", [1, 2, 5, 8, 9, 10, 11, 12, 16, 24, 40])
def test_a_shortened_name_fits_the_room_exactly_as_specified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             room: int) -> None:
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=FakeZellij())
    _with_room(zj, monkeypatch, room)
    sid = "longproject-prefix-with-many-words-orchestrator"  # longer than every room above
    digest = hashlib.sha256(sid.encode()).hexdigest()
    name = zj.session_name(sid)
    # Under 10 characters there is no room for a readable prefix, "-" and 8 hex digits: the hash alone.
    expected = digest[:room] if room < 10 else f"{sid[: room - 9]}-{digest[:8]}"
    assert name == expected
    assert len(name) == room
    assert len(_contract_path(zj, name)) == zellij_module.SOCKET_PATH_LIMIT
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert zj.session_name(sid) == name  # deterministic


@pytest.mark.parametrize("room", [1, 5, 9, 10, 24])
def test_an_id_that_fits_the_room_is_never_shortened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     room: int) -> None:
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", binary=BIN, runner=FakeZellij())
    _with_room(zj, monkeypatch, room)
    assert zj.session_name("s" * room) == "s" * room
    assert zj.session_name("s" * (room + 1)) != "s" * (room + 1)


# ---------------------------------------------------------------- a missing or old binary


def test_a_missing_binary_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zellij_module.shutil, "which", lambda name, *a, **k: None)
    fake = FakeZellij()
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", runner=fake)
    with pytest.raises(RuntimeMissing) as caught:
        zj.observe()
    assert caught.value.message == "zellij is not installed"
    assert "install zellij 0.44.2 or newer" in str(caught.value)
    with pytest.raises(RuntimeMissing):
        zj.create(make_launch())
    assert fake.calls == []


@pytest.mark.parametrize(("version", "shown"), [
    ((0, 44, 1), "0.44.1"),
    ((0, 44, 0), "0.44.0"),
    ((0, 44), "0.44"),
    ((0, 43, 1), "0.43.1"),
    ((0, 40), "0.40"),
    (None, "unknown"),
])
def test_a_too_old_binary_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                version: tuple[int, ...] | None, shown: str) -> None:
    monkeypatch.setattr(zellij_module.shutil, "which", lambda name, *a, **k: "/opt/bin/zellij")
    monkeypatch.setattr(zellij_module, "zellij_version", lambda binary: version)
    fake = FakeZellij()
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", runner=fake)
    with pytest.raises(RuntimeMissing) as caught:
        zj.capture("shop-1", 5)
    assert caught.value.message == f"zellij {shown} is too old; ao needs 0.44.2 or newer"
    assert "install zellij 0.44.2 or newer" in (caught.value.hint or "")
    assert fake.calls == []


def test_the_minimum_version_is_0_44_2() -> None:
    assert zellij_module.MIN_VERSION == (0, 44, 2)


@pytest.mark.parametrize("version", [(0, 44, 2), (0, 44, 3), (0, 45), (1, 0)])
def test_a_recent_binary_is_found_once_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                version: tuple[int, ...]) -> None:
    checked: list[str] = []
    monkeypatch.setattr(zellij_module.shutil, "which", lambda name, *a, **k: f"/opt/bin/{name}")
    monkeypatch.setattr(zellij_module, "zellij_version", lambda binary: checked.append(binary) or version)
    fake = FakeZellij()
    zj = ZellijRuntime(tmp_path / "sock", tmp_path / "state", runner=fake)
    zj.observe()
    zj.paste("shop-1", "x")
    assert [c.argv[0] for c in fake.calls] == ["/opt/bin/zellij"] * 2
    assert checked == ["/opt/bin/zellij"]
    assert zj.attach_argv("shop-1")[2] == "/opt/bin/zellij"


@pytest.mark.parametrize(("output", "version"), [
    ("zellij 0.44.3\n", (0, 44, 3)),
    ("zellij 0.44.0-beta\n", (0, 44, 0)),
    ("zellij 1.0\n", (1, 0)),
    ("something else\n", None),
])
def test_zellij_version_parses_the_version_line(monkeypatch: pytest.MonkeyPatch, output: str,
                                                version: tuple[int, ...] | None) -> None:
    seen: list[list[str]] = []

    def run(argv, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, output, "")

    monkeypatch.setattr(zellij_module.subprocess, "run", run)
    assert zellij_module.zellij_version("/opt/bin/zellij") == version
    assert seen == [["/opt/bin/zellij", "--version"]]
