"""Message text: control characters stripped, sender prefix, size limit."""

from __future__ import annotations

import re
import unicodedata

MAX_MESSAGE_CHARS = 10_000
# C0 and C1 controls and DEL, except tab and newline: no escape sequence reaches the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


class MessageRejected(ValueError):
    """The message is empty or too long; nothing was sent."""


def sanitize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    # Other invisible format characters (bidi overrides and the like) go too.
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cf")
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


def compose(body: str, sender: str | None) -> str:
    """The text as delivered: sanitized, prefixed with `[from <sender>] ` when there is a sender."""
    clean = sanitize(body)
    if not clean.strip():
        raise MessageRejected("the message is empty")
    if len(clean) > MAX_MESSAGE_CHARS:
        raise MessageRejected(f"the message is {len(clean)} characters; the limit is {MAX_MESSAGE_CHARS}")
    return f"[from {sender}] {clean}" if sender else clean
