"""ao's YAML output reads back, with PyYAML's own reader, as exactly the data written."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli.yaml_text import dump

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text() | st.sampled_from(["yes", "No", "on", "null", "~", "1e3", "0x1F", "1:30", "2026-12-01",
                                         "-", "- a", "a: b", "a #b", "*x", "&y", "!z", "|", ">", "'q'", '"d"',
                                         "%p", "@at", "`t`", ".inf", "=", "<<", "", " lead", "trail ", "a\tb",
                                         "\x1b[31mred", "\u2028", "\ud83d", "naïve", "v1-abc", "/tmp/x y"]))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_what_is_written_reads_back_the_same(data):
    assert yaml.safe_load(dump(data)) == data


@given(st.text())
def test_nothing_unprintable_reaches_the_terminal(text):
    written = dump({"message": text})
    assert all(char.isprintable() or char == "\n" for char in written)


def test_a_session_view_reads_as_people_expect():
    view = {"id": "shop-1", "phase": "Running", "restarts": 0, "startedAt": "2026-12-01T10:00:00Z",
            "argv": ["claude", "--continue"], "spec": {"agent": {"preset": "claude-code"}, "env": {}},
            "message": None, "ratio": math.pi}
    assert dump(view) == (
        "id: shop-1\nphase: Running\nrestarts: 0\nstartedAt: \"2026-12-01T10:00:00Z\"\n"
        "argv:\n- claude\n- \"--continue\"\nspec:\n  agent:\n    preset: claude-code\n  env: {}\n"
        f"message: null\nratio: {math.pi!r}\n")
