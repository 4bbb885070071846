"""Every captured screen of a real agent CLI is read as the state its file name says.

Fixtures live in tests/fixtures/screens/<preset>/<state>-<detail>.txt (the exact `capture-pane -p`
of a 200x50 pane), with a README per folder saying how they were captured. A file's state is the
first word of its name; `exited-*` screens are of dead panes, which ao reads from the process, not
the screen. Reasons that ao shows for dialogs are pinned below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.activity.decide import decide
from reconciler.activity.model import Activity
from reconciler.activity.screen import classify, input_text
from reconciler.sessions.presets import PRESETS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "screens"
SCREENS = sorted(FIXTURES.glob("*/*.txt"))
REASONS = {
    "claude-code/waiting-permission-bash.txt": "permission: Bash(touch created-by-tool)",
    "claude-code/waiting-trust-folder.txt": "trust dialog",
    "claude-code/waiting-api-key.txt": "API key approval",
    "codex/waiting-trust.txt": "trust dialog",
    "codex/waiting-sign-in.txt": "sign-in",
    "gemini/waiting-trust.txt": "trust dialog",
    "gemini/waiting-auth.txt": "sign-in",
    "aider/waiting-gitignore.txt": "question: Add .aider* to .gitignore (recommended)? (Y)es/(N)o [Yes]:",
}
DRAFTS = {"claude-code/idle-draft.txt": "a draft the person is still typing"}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_there_are_fixtures_for_claude_code() -> None:
    assert {p.name.split("-")[0] for p in FIXTURES.glob("claude-code/*.txt")} >= {"starting", "idle", "working",
                                                                                  "waiting"}


@pytest.mark.parametrize("path", [p for p in SCREENS if not p.name.startswith("exited")], ids=_name)
def test_each_screen_reads_as_its_state(path: Path) -> None:
    preset, expected = path.parent.name, Activity(path.name.split("-")[0])
    screen = path.read_text(encoding="utf-8")
    reading = decide(alive=True, screen=classify(preset, screen), signal=None, signal_at=None, previous=None,
                     started_at=0.0, now=1.0)
    assert reading.activity == expected
    if _name(path) in REASONS:
        assert reading.reason == REASONS[_name(path)]
    if expected == Activity.IDLE or (expected == Activity.WORKING and PRESETS[preset].typeahead_safe):
        # Where ao may type, what is on the input line is read right: a draft, or nothing (hints are not drafts).
        assert input_text(preset, screen) in ({DRAFTS[_name(path)]} if _name(path) in DRAFTS else {"", None})


@pytest.mark.parametrize("path", [p for p in SCREENS if p.name.startswith("exited")], ids=_name)
def test_an_exited_agent_is_read_from_its_process(path: Path) -> None:
    reading = decide(alive=False, screen=classify(path.parent.name, path.read_text(encoding="utf-8")), signal=None,
                     signal_at=None, previous=None, started_at=0.0, now=1.0)
    assert reading.activity == Activity.EXITED
