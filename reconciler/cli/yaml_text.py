"""YAML output (`-o yaml`, `ao describe`) without loading PyYAML: its import and the regexes of its
resolver cost a read command about 40 ms, more than the rest of the command.

Block style, keys in the order given. A string is written plain only when no YAML reader could take
it for anything else (a number, a date, a boolean, null, an indicator, a comment); otherwise it is
double-quoted, with every character that is not printable escaped, so the text read back is the
text written and nothing in it can drive the terminal (tests/unit/test_yaml_text.py checks both
against PyYAML's reader).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

# Starts with a letter, `_` or `/`; then letters, digits and `_./@+=-`, single spaces, commas and
# parentheses. Leaves out what YAML reads otherwise: numbers, dates and times start with a digit,
# indicators (`-`, `?`, `:`, `#`, `&`, `*`, `!`, `|`, `>`, `'`, `"`, `%`, `@`, `` ` ``) and `.inf`
# cannot start, `: ` and ` #` cannot appear.
_PLAIN = re.compile(r"[A-Za-z_/][\w./@+=,()-]*(?: [\w./@+=,()-]+)*", re.ASCII)
# Plain words that YAML 1.1 reads as booleans or null.
_RESERVED = frozenset({"yes", "no", "true", "false", "on", "off", "null", "y", "n"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def dump(data: Any) -> str:
    """`data` (dicts, lists, strings, numbers, booleans, None) as a YAML document."""
    return "\n".join(_lines(data, 0)) + "\n"


def _lines(value: Any, indent: int) -> Iterator[str]:
    pad = " " * indent
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            if _nested(item):
                yield f"{pad}{scalar(key)}:"
                # A list sits at its key's indent, a mapping below it (as PyYAML writes them).
                yield from _lines(item, indent if isinstance(item, list) else indent + 2)
            else:
                yield f"{pad}{scalar(key)}: {scalar(item)}"
    elif isinstance(value, list) and value:
        for item in value:
            if _nested(item):
                first, *rest = _lines(item, indent + 2)
                yield f"{pad}- {first[indent + 2:]}"
                yield from rest
            else:
                yield f"{pad}- {scalar(item)}"
    else:
        yield pad + scalar(value)


def _nested(value: Any) -> bool:
    return isinstance(value, (Mapping, list)) and bool(value)


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.1 reads an exponent without a point (`1e-05`) as a string.
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
