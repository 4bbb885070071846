"""Activity and send latency against the real Claude Code, in ao's own sessions.

One worker runs the real Claude Code (installed from npm into the test cache) against the local
stand-in for the Messages API (tests/agents/fake_anthropic.py). Two figures, N tries each:

  permission -> waiting   from the permission prompt appearing on screen (the pane is polled every
                          few ms) to `waiting` in the registry (polled likewise), through the agent's
                          own hook and `ao hook`; each try is approved (Enter) by a person's key
  send to an idle agent   wall time of `ao send` to an idle Claude Code, until the agent's own
                          UserPromptSubmit proved the message submitted

The same screen is polled by hand (capture-pane) as the baseline: what a tool that types blind
would have to do anyway to see the prompt.

    python bench/activity_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import kill_server, percentile, scratch_repo  # noqa: E402

from reconciler.paths import DataDir  # noqa: E402
from tests.agents.fake_anthropic import FakeAnthropic, Text, ToolUse  # noqa: E402
from tests.agents.harness import CLAUDE_CODE_VERSION, claude_config  # noqa: E402
from tests.agents.install import npm_binary  # noqa: E402

AO = str(Path(sys.executable).parent / "ao")
POLL = 0.005


def ao(data_dir: DataDir, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    return subprocess.run([AO, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def screen(data_dir: DataDir, sid: str) -> str:
    return subprocess.run(["tmux", "-S", str(data_dir.tmux_socket), "capture-pane", "-p", "-t", f"={sid}:"],
                          capture_output=True, text=True, check=False).stdout


def activity(db: Path, sid: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("select activity from activity where session = ?", [sid]).fetchone()
    return row[0] if row else None


def until(condition, what: str, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting: {what}")
        time.sleep(POLL)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    claude = npm_binary("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION, "claude")
    with tempfile.TemporaryDirectory(prefix="ao-bench-") as tmp, FakeAnthropic() as api:
        root = Path(tmp)
        repo = scratch_repo(root / "repo")
        data_dir = DataDir.resolve(root / "data").ensure()
        env = claude_config(root / "claude", trusted=[repo], api_url=api.url)
        env["PATH"] = f"{claude.parent}{os.pathsep}{os.environ['PATH']}"
        agent = json.dumps({"preset": "claude-code", "env": env})
        manifest = root / "bench.yaml"
        manifest.write_text(f"apiVersion: ao/v1\nkind: Project\nmetadata: {{name: bench}}\nspec:\n  repo: {repo}\n"
                            f"  agent: {agent}\n  workers:\n    - {{name: w, prompt: wait}}\n")
        try:
            assert ao(data_dir, "apply", "-f", str(manifest)).returncode == 0
            sid, db = "bench-1", data_dir.db_path
            until(lambda: activity(db, sid) == "idle", "the worker is idle after its task")
            to_waiting: list[float] = []
            for n in range(args.runs):
                api.script(ToolUse(f"touch bench-{n}"))
                ao(data_dir, "send", sid, f"make file {n}")
                shown = until(lambda: "Do you want to proceed?" in screen(data_dir, sid), "the permission prompt")
                recorded = until(lambda: activity(db, sid) == "waiting", "waiting recorded")
                to_waiting.append(max(0.0, recorded - shown))
                subprocess.run(["tmux", "-S", str(data_dir.tmux_socket), "send-keys", "-t", f"={sid}:", "Enter"],
                               check=True)
                until(lambda: activity(db, sid) == "idle", "idle after the tool ran")
            sends: list[float] = []
            for n in range(args.runs):
                api.script(Text(f"ok {n}"))
                started = time.monotonic()
                sent = ao(data_dir, "send", sid, f"status {n}?", "-o", "json")
                sends.append(time.monotonic() - started)
                assert json.loads(sent.stdout)["outcome"] == "submitted", sent.stdout
                until(lambda: activity(db, sid) == "idle", "idle after the reply")
        except TimeoutError:
            print(screen(data_dir, sid)[-2500:], ao(data_dir, "get", "messages").stdout, file=sys.stderr)
            raise
        finally:
            ao(data_dir, "delete", "project", "bench")
            kill_server(data_dir.tmux_socket)
    print(f"Claude Code {CLAUDE_CODE_VERSION}, {args.runs} tries each")
    print(f"{'figure':<40} {'p50':>9} {'p95':>9} {'max':>9}")
    for name, values in (("permission prompt on screen -> waiting", to_waiting),
                         ("ao send to an idle agent (submitted)", sends)):
        print(f"{name:<40} {percentile(values, 50) * 1000:>7.0f}ms {percentile(values, 95) * 1000:>7.0f}ms "
              f"{max(values) * 1000:>7.0f}ms")


if __name__ == "__main__":
    main()
