"""Text that crosses into a terminal, both ways.

`for_terminal` is the one sanitizer for everything ao types into an agent (message bodies, the
sender, lifecycle notices with their issue text, names): no control character, so no escape
sequence can end the bracketed paste and smuggle keystrokes. `for_display` escapes stored text
before ao prints it to the operator's terminal.
"""

from __future__ import annotations

import re
import unicodedata

from ..sessions.naming import SESSION_ID_PATTERN

MAX_MESSAGE_CHARS = 10_000
# C0 and C1 controls and DEL, except tab and newline: no escape sequence reaches the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_SENDER = re.compile(SESSION_ID_PATTERN)


class MessageRejected(ValueError):
    """The message is empty or too long, or the sender is not a session ID; nothing was sent."""


def _invisible(char: str) -> bool:
    # Format characters (bidi overrides, zero-width joiners) can disguise what is typed.
    return unicodedata.category(char) == "Cf"


def for_terminal(text: str) -> str:
    """What may be typed into an agent: newlines and tabs kept, every other control removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "".join(c for c in text if c in "\n\t" or not _invisible(c))
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


sanitize = for_terminal  # the historical name


def for_display(text: str) -> str:
    """Stored text as printed on one line of the operator's terminal: controls shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def check_sender(sender: str | None) -> str | None:
    """The sender (AO_SESSION_ID) must look like a session ID: it is typed into the target."""
    if sender and not _SENDER.match(sender):
        raise MessageRejected(
            f"AO_SESSION_ID {for_display(sender[:80])!r} is not a session ID "
            "(lowercase letters, digits and dashes); unset it to send as yourself"
        )
    return sender


def compose(body: str, sender: str | None) -> str:
    """The text as delivered: sanitized, prefixed with `[from <sender>] ` when there is a sender."""
    check_sender(sender)
    clean = for_terminal(body)
    if not clean.strip():
        raise MessageRejected("the message is empty")
    if len(clean) > MAX_MESSAGE_CHARS:
        raise MessageRejected(f"the message is {len(clean)} characters; the limit is {MAX_MESSAGE_CHARS}")
    return f"[from {sender}] {clean}" if sender else clean
