"""Fuzz of the manifest loader: whatever the bytes, the only failure is a ManifestError, and
every problem found while reading YAML carries a position.

AO_FUZZ_EXAMPLES raises the example count for a long run (the suite keeps it small)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifest.loader import ManifestError, load_paths

EXAMPLES = int(os.environ.get("AO_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

CORPUS = [
    """\
apiVersion: ao/v1
kind: Project
metadata:
  name: shop
spec:
  repo: .
  defaultBranch: main
  sessionPrefix: sh
  workspace: worktree
  restartPolicy: OnFailure
  agent:
    preset: claude-code
    env: {API_TOKEN: abc, MODE: fast}
  orchestrator:
    enabled: true
    rules: |
      Be brief.
  workers:
    - name: api
      issue: 12
      prompt: "Fix the \\"login\\" bug"
      branch: fix/login
    - name: web
      issue: PROJ-7
      agent: {command: [bash, -c, "echo hi"]}
      restartPolicy: Never
""",
    """\
---
apiVersion: ao/v1
kind: Project
metadata: {name: a}
spec: {repo: ., workers: [{name: x}, {name: y, prompt: &p hello}], orchestrator: {rules: *p}}
---
apiVersion: ao/v1
kind: Project
metadata:
  name: b
spec:
  repo: ~/code/b
  runtime: tmux
  workspace: none
  orchestrator: {enabled: false}
""",
    "base: &b {repo: .}\napiVersion: ao/v1\nkind: Project\nmetadata: {name: m}\nspec:\n  <<: *b\n",
]

# Fragments that stress the reader, scanner, composer and validators.
TOKENS = [
    "\x00", "\x01", "\x0c", "\x1b[201~", "\x7f", "\ud800", "\ufeff", "\t", "\r", "\n", "- ", ": ", "[", "]",
    "{", "}", "&a ", "*a", "!!binary ", "!!python/object ", "%YAML 1.1\n", "---\n", "...\n", "'", '"', "\\",
    "yes", "~", "9" * 5000, "1e999", "0x1F", "<<: ", "#", "|", ">", "? ", "x" * 300,
]


def _problems_have_positions(error: ManifestError) -> None:
    for issue in error.issues:
        assert str(issue)
        if issue.source == "m.yaml" and not issue.path and issue.message != "no Project documents found":
            # Syntax and refusals point at a place in the file.
            assert issue.line >= 1 and issue.column >= 1, issue


def _load(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(data)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        load_paths(["m.yaml"])
    except ManifestError as error:
        _problems_have_positions(error)
    finally:
        os.chdir(cwd)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)))
        end = min(len(text), at + draw(st.integers(0, 12)))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[end:]
        elif action == "replace":
            text = text[:at] + piece + text[end:]
        else:
            text = text[:at] + text[at:end] * draw(st.integers(2, 50)) + text[end:]
    return text.encode("utf-8", errors="surrogatepass")


@FUZZ
@given(data=mutated())
def test_mutated_manifests_fail_cleanly(tmp_path_factory, data: bytes) -> None:
    _load(tmp_path_factory.mktemp("fuzz"), data)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_fail_cleanly(tmp_path_factory, data: bytes) -> None:
    _load(tmp_path_factory.mktemp("fuzz"), data)


@FUZZ
@given(
    base=st.sampled_from(CORPUS),
    controls=st.lists(st.tuples(st.integers(0, 10_000), st.characters(max_codepoint=0x9F)), min_size=1, max_size=4),
)
def test_random_control_characters_fail_cleanly(tmp_path_factory, base: str, controls: list[tuple[int, str]]) -> None:
    text = base
    for at, char in controls:
        at %= len(text) + 1
        text = text[:at] + char + text[at:]
    _load(tmp_path_factory.mktemp("fuzz"), text.encode())
