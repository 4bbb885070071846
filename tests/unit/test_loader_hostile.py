"""Hostile manifests get a clean `file:line:col: what` problem, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.manifest.loader import ManifestError, ManifestIssue, load_paths
from reconciler.manifest.yamlsafe import MAX_DEPTH, HardenedLoader, YAMLLimitError

HEAD = "apiVersion: ao/v1\nkind: Project\nmetadata:\n  name: demo\nspec:\n  repo: .\n"


def only_problem(path: Path) -> ManifestIssue:
    with pytest.raises(ManifestError) as caught:
        load_paths([str(path)])
    assert len(caught.value.issues) == 1, caught.value
    return caught.value.issues[0]


def write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "m.yaml"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("char", ["\x0c", "\x01", "\x00", "\x7f", "\x1b"])
def test_raw_control_character_is_reported_where_it_is(tmp_path: Path, char: str) -> None:
    issue = only_problem(write(tmp_path, HEAD + f"  workers:\n    - name: a{char}b\n"))

    assert (issue.line, issue.column) == (8, 14)
    assert f"control character U+{ord(char):04X}" in issue.message


@pytest.mark.parametrize(
    "text, where",
    [("[" * 20000, (1, MAX_DEPTH + 1)), ("{a: " * 5000, (1, 4 * MAX_DEPTH + 1))],  # the first bracket too deep
    ids=["lists", "mappings"],
)
def test_deep_nesting_is_refused(tmp_path: Path, text: str, where: tuple[int, int]) -> None:
    issue = only_problem(write(tmp_path, text))

    assert (issue.line, issue.column) == where
    assert issue.message == f"nesting deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize("text", ["[" * 20000, "{" * 20000, "a: " + "[" * 20000])
def test_deep_flow_nesting_is_refused_before_the_scanner_reads_on(text: str) -> None:
    """While a flow collection is open PyYAML's scanner reads ahead, checking every open level at
    each token: `[` x 20000 took seconds. It must stop at the limit, not read the whole input."""
    loader = HardenedLoader(text)
    with pytest.raises(YAMLLimitError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        loader.get_single_node()
    assert loader.tokens_taken + len(loader.tokens) <= MAX_DEPTH + 8


def test_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    issue = only_problem(write(tmp_path, HEAD + "  workers: &r [*r]\n"))

    assert (issue.line, issue.column) == (7, 12)
    assert "alias refers to a node that contains it" in issue.message


def test_alias_bomb_is_refused_at_the_node_that_explodes(tmp_path: Path) -> None:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    issue = only_problem(write(tmp_path, "\n".join(lines) + "\n"))

    # 9**6 nodes under a5 is the first level past the limit.
    assert (issue.line, issue.column) == (6, 5)
    assert "aliases expand this document past" in issue.message


def test_huge_integer_is_refused(tmp_path: Path) -> None:
    issue = only_problem(write(tmp_path, HEAD + "  workers:\n    - name: a\n      issue: " + "9" * 5000 + "\n"))

    assert (issue.line, issue.column) == (9, 14)
    assert "integer of 5000 characters is too long" in issue.message


def test_long_values_are_cut_in_the_error(tmp_path: Path) -> None:
    issue = only_problem(write(tmp_path, HEAD.replace("name: demo", "name: " + "X" * 1_000_000)))

    assert issue.path == "metadata.name"
    assert len(str(issue)) < 400
    assert issue.message.endswith("…")


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "OFF"])
def test_yaml11_booleans_are_not_accepted_as_flags(tmp_path: Path, word: str) -> None:
    issue = only_problem(write(tmp_path, HEAD + f"  orchestrator:\n    enabled: {word}\n"))

    assert (issue.path, issue.line) == ("spec.orchestrator.enabled", 8)
    assert issue.message == f"expected true or false; got {word!r}"


def test_non_utf8_stdin_is_a_clean_error(tmp_path: Path) -> None:
    ao = Path(sys.executable).with_name("ao")
    result = subprocess.run(
        [str(ao), "--data-dir", str(tmp_path / "data"), "apply", "--dry-run", "-f", "-"],
        input=HEAD.encode() + b"  # caf\xe9\n", capture_output=True, timeout=60,
    )

    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().startswith("<stdin>:7:8: not UTF-8 text (byte 0xe9)")
