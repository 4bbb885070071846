"""Screen patterns per agent preset, kept as data so that a changed agent CLI is a one-line fix.

Each table is searched in the bottom of the visible screen (see `screen.py`), after box-drawing
borders are stripped. Dialogs come first (a dialog drawn over a working agent still needs a
person), then the working markers, then the ready markers. The captured screens these patterns
were written from live in tests/fixtures/screens/<preset>/, with a README saying what each shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dialog:
    """A screen only a person should answer.

    `pattern` recognises it; `reason` is formatted with the named groups of `pattern` and of the
    first `details` pattern that matches (missing groups read as "?").
    """

    pattern: str
    reason: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreenTable:
    """How one agent's screen says what it is doing."""

    dialogs: tuple[Dialog, ...] = ()
    working: tuple[str, ...] = ()  # the agent is in a turn
    ready: tuple[str, ...] = ()  # the input box is drawn: the agent takes input
    # The agent's input line: group "text" is what is typed there (a draft, or ao's own paste).
    input_line: str | None = None
    placeholders: tuple[str, ...] = ()  # hint texts an empty input box shows, not drafts
    bottom_lines: int = 30  # how many non-blank lines from the bottom are searched
    extra: dict[str, str] = field(default_factory=dict)


# Any program: a numbered choice with a selection marker, a y/n question, "press enter".
GENERIC_DIALOGS = (
    Dialog(r"(?m)^(?P<question>[^\n]*\?)[ \t]*\n(?:[^\n]*\n){0,3}?[ \t]*[❯›▶>][ \t]*\d+[.)][ \t]+\S[^\n]*\n"
           r"(?:[^\n]*\n){0,3}?[ \t]*\d+[.)][ \t]+\S",
           "dialog: {question}"),
    Dialog(r"(?m)^[ \t]*[❯›▶>][ \t]*\d+[.)][ \t]+\S[^\n]*\n(?:[^\n]*\n){0,3}?[ \t]*\d+[.)][ \t]+\S",
           "a choice is on screen"),
    Dialog(r"(?m)^(?P<question>[^\n]*(?:\((?:y/n|Y/n|y/N|yes/no)\)|\[(?:y/n|Y/n|y/N|Yes/no|yes/No)\])[^\n]*)\Z",
           "question: {question}"),
    Dialog(r"(?im)^[^\n]*press (?:enter|return|any key) to continue[^\n]*\Z", "press enter to continue"),
)

TOOL_LINE = r"(?m)^[ \t]*(?P<tool>Bash|Edit|Write|Read|WebFetch|WebSearch|NotebookEdit|Glob|Grep|MultiEdit|Task|[A-Z][A-Za-z]+)" \
            r" (?:command|file|edit|request|tool)\b[^\n]*\n(?:[ \t]*\n)?[ \t]*(?P<detail>\S[^\n]*)"

TABLES: dict[str, ScreenTable] = {
    # Claude Code 2.1: the live input line is the only line starting with "❯" and a no-break space
    # (earlier prompts in the transcript have a plain space); dialogs indent their "❯ 1." cursor.
    "claude-code": ScreenTable(
        dialogs=(
            Dialog(r"Quick safety check|Do you trust the files in this folder|Yes, I trust this folder", "trust dialog"),
            Dialog(r"Detected a custom API key|Do you want to use this API key", "API key approval"),
            Dialog(r"Select login method|Log in with your Anthropic account|Paste code here", "sign-in"),
            Dialog(r"Choose the text style|Let's get started", "first-run setup"),
            Dialog(r"(?P<question>Do you want to (?:proceed|make this edit|create|allow|run)[^?\n]*\?)",
                   "permission: {tool}({detail})", details=(TOOL_LINE,)),
        ),
        working=(r"(?i)esc to interrupt",),
        ready=(r"(?m)^❯(?:\u00a0|$)",),
        input_line=r"^❯(?:\u00a0(?P<text>.*))?$",
        placeholders=(r'^Try "', r"^Press up to edit queued messages"),
    ),
    "codex": ScreenTable(
        dialogs=(
            Dialog(r"Sign in with ChatGPT|Provide your own API key", "sign-in"),
            Dialog(r"(?i)Trust this folder\?|allow codex to work in this folder|Do you trust the contents of this directory",
                   "trust dialog"),
            Dialog(r"(?i)(?P<question>(?:Allow|Would you like to run)[^\n]*\?)", "permission: {question}"),
        ),
        working=(r"(?i)esc to interrupt",),
        ready=(r"(?m)^[ \t]*›[ \t]",),
        input_line=r"^[ \t]*›[ \t]?(?P<text>.*)$",
        placeholders=(r"^Ask Codex to do anything",),
    ),
    "gemini": ScreenTable(
        dialogs=(
            Dialog(r"(?i)Do you trust this folder|Trust folder", "trust dialog"),
            Dialog(r"(?i)Get started|How would you like to authenticate|Select Auth Method", "sign-in"),
            Dialog(r"(?i)(?P<question>(?:Allow execution|Apply this change|Do you want to proceed)[^\n]*\?)",
                   "permission: {question}"),
        ),
        working=(r"(?i)esc to cancel",),
        ready=(r"(?i)Type your message",),
        input_line=r"^[ \t]*>[ \t]?(?P<text>.*)$",
        placeholders=(r"(?i)^Type your message",),
    ),
    "opencode": ScreenTable(
        dialogs=(Dialog(r"(?i)(?P<question>Permission required[^\n]*|Allow (?:once|always)[^\n]*)", "permission: {question}"),),
        working=(r"(?i)esc (?:to )?interrupt",),
        ready=(r"(?i)ctrl\+p commands|enter send",),
    ),
    "aider": ScreenTable(
        dialogs=(Dialog(r"(?m)^(?P<question>[^\n]*\? \(Y\)es/\(N\)o[^\n]*)\Z", "question: {question}"),),
        # Only the last line counts: "Tokens: ... sent" and old spinner text stay on screen after a turn.
        working=(r"Waiting for [^\n]*\Z",),
        ready=(r"(?m)^[a-z ]*> ?\Z",),
        input_line=r"^[a-z ]*>[ \t]?(?P<text>.*)$",
    ),
    "demo": ScreenTable(
        # Only the last line counts: the demo agent prints its state where the cursor is.
        working=(r"demo agent working[^\n]*\Z",),
        ready=(r"(?m)^>(?: [^\n]*)?\Z",),
        input_line=r"^>(?: (?P<text>.*))?$",
    ),
}
