"""Recapture the Claude Code screen fixtures: `python -m tests.agents.capture_claude_screens [OUT_DIR]`.

Drives the pinned Claude Code through each state against the stand-in API and writes
`<state>-<detail>.txt` (exact `tmux capture-pane -p` of a 200x50 pane) into OUT_DIR (default:
tests/fixtures/screens/claude-code). Run it after changing `CLAUDE_CODE_VERSION`, diff the files, and
update the README table and the pattern table to match.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from tests.agents.fake_anthropic import FakeAnthropic, ToolUse
from tests.agents.harness import (
    CLAUDE_CODE_VERSION,
    IDLE_HINT,
    PERMISSION_TEXT,
    TRUST_TEXT,
    WORKING_TEXT,
    Pane,
    claude_config,
    hook_events,
    hook_settings,
    input_line_shows,
    poll,
)
from tests.agents.install import npm_binary

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "fixtures" / "screens" / "claude-code"


class Run:
    """One Claude Code in its own repo, config dir, tmux server and stand-in."""

    def __init__(self, root: Path, claude: Path, *, trusted: bool = True, approve_key: bool = True) -> None:
        self.root, self.claude = root, claude
        self.repo = root / "repo"
        self.repo.mkdir(parents=True)
        for argv in (["git", "init", "-q", "-b", "main"], ["git", "commit", "-q", "--allow-empty", "-m", "initial"]):
            subprocess.run(argv, cwd=self.repo, check=True, capture_output=True,
                           env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                                "PATH": "/usr/bin:/bin:/usr/local/bin"})
        self.api = FakeAnthropic().start()
        self.env = claude_config(root / "config", trusted=[self.repo] if trusted else [], approve_key=approve_key,
                                 api_url=self.api.url)
        self.log = root / "hooks.jsonl"
        self.settings = hook_settings(root / "settings.json", self.log)
        self.pane = Pane(root / "tmux.sock")

    def argv(self, *extra: str) -> list[str]:
        return [str(self.claude), "--settings", str(self.settings), *extra]

    def ready(self) -> None:
        self.pane.wait_for(IDLE_HINT, 30)
        poll(lambda: "SessionStart" in hook_events(self.log), 15, "SessionStart")

    def submit(self, text: str) -> None:
        self.pane.paste(text)
        self.pane.wait_for(input_line_shows(text), 10)
        self.pane.keys("Enter")

    def close(self) -> None:
        self.pane.kill_server()
        self.api.stop()


def save(out: Path, run: Run, name: str) -> None:
    (out / f"{name}.txt").write_text(run.pane.capture())
    print(f"wrote {name}.txt")


def first_frame(run: Run, launch) -> str:
    """Capture continuously from launch; return the first frame (Claude Code draws nothing at first)."""
    frames: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                frames.append(run.pane.capture())
            except RuntimeError:  # the session is not there yet
                pass
            stop.wait(0.02)

    launch()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run.ready()
    stop.set()
    watcher.join()
    return frames[0]


def main_flow(out: Path, run: Run) -> None:
    pane = run.pane
    (out / "starting-blank.txt").write_text(first_frame(run, lambda: pane.start(run.argv(), run.repo, run.env)))
    print("wrote starting-blank.txt")
    save(out, run, "idle-fresh")
    pane.keys("-l", "a draft the person is still typing")
    pane.wait_for("still typing")
    save(out, run, "idle-draft")
    pane.keys("C-u")
    pane.wait_for("still typing", absent=True)
    held = run.api.slow()
    run.submit("slow task")
    held.started.wait(20)
    pane.wait_for(WORKING_TEXT, 10)
    save(out, run, "working-streaming")
    run.submit("queued msg")
    pane.wait_for("Press up to edit queued messages", 10)
    save(out, run, "working-queued-message")
    held.release.set()
    pane.wait_for("ECHO: queued msg", 20)
    pane.wait_for(IDLE_HINT, 10)
    save(out, run, "idle-after-turn")
    run.api.script(ToolUse("touch created-by-tool", then="TOOL FINISHED OK"))
    run.submit("run tool")
    pane.wait_for(PERMISSION_TEXT, 20)
    save(out, run, "waiting-permission-bash")
    pane.keys("Enter")
    pane.wait_for("TOOL FINISHED OK", 20)
    pane.wait_for(IDLE_HINT, 10)
    save(out, run, "idle-after-tool")
    run.api.script(ToolUse("sleep 4 && touch slept-file", then="SLEPT"))  # touch: read-only commands never ask
    run.submit("run slow tool")
    pane.wait_for(PERMISSION_TEXT, 20)
    pane.keys("Enter")
    pane.wait_for("Running…", 10)
    save(out, run, "working-tool-running")
    pane.wait_for("SLEPT", 20)
    pane.wait_for(IDLE_HINT, 10)
    run.api.script(ToolUse("rm -rf build", then="SHOULD NOT RUN"))
    run.submit("run tool again")
    pane.wait_for(PERMISSION_TEXT, 20)
    pane.keys("Escape")
    pane.wait_for("Interrupted", 10)
    pane.wait_for(IDLE_HINT, 10)
    save(out, run, "idle-after-denied-permission")
    pane.keys("-l", "/exit")
    pane.wait_for(input_line_shows("/exit"))
    pane.keys("Enter")
    poll(pane.dead, 15, "exit after /exit")
    save(out, run, "exited-after-exit-command")


def resume_flow(out: Path, run: Run) -> None:
    conversation = str(uuid.uuid4())
    run.pane.start(run.argv("--session-id", conversation), run.repo, run.env)
    run.ready()
    run.submit("remember the word pineapple")
    run.pane.wait_for("ECHO: remember the word pineapple", 20)
    transcripts = Path(run.env["CLAUDE_CONFIG_DIR"]) / "projects"
    poll(lambda: any("ECHO: remember" in p.read_text() for p in transcripts.rglob(f"{conversation}.jsonl")), 10)
    run.pane.kill9()
    run.pane.respawn(run.argv("--resume", conversation), run.repo, run.env)
    run.pane.wait_for(IDLE_HINT, 30)
    poll(lambda: hook_events(run.log).count("SessionStart") == 2, 15, "SessionStart after resume")
    save(out, run, "idle-resumed")


def dialog_flow(out: Path, run: Run, pattern: str, name: str) -> None:
    run.pane.start(run.argv(), run.repo, run.env)
    run.pane.wait_for(pattern, 30)
    # A dialog draws in one frame; wait until two captures agree so the file is not a half-drawn frame.
    poll(lambda: run.pane.capture() == run.pane.capture(), 5)
    save(out, run, name)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    claude = npm_binary("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION, "claude")
    with tempfile.TemporaryDirectory(prefix="cc-capture-") as scratch:
        flows = [
            (dict(), main_flow),
            (dict(), resume_flow),
            (dict(trusted=False), lambda o, r: dialog_flow(o, r, TRUST_TEXT, "waiting-trust-folder")),
            (dict(approve_key=False),
             lambda o, r: dialog_flow(o, r, "Detected a custom API key", "waiting-api-key")),
        ]
        for index, (options, flow) in enumerate(flows):
            run = Run(Path(scratch) / str(index), claude, **options)
            try:
                flow(out, run)
            finally:
                run.close()
    stamp = time.strftime("%Y-%m-%d")
    print(f"captured with Claude Code {CLAUDE_CODE_VERSION} on {stamp}; "
          f"update {out / 'README.md'} if a distinguishing text changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

