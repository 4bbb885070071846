"""`ao --help`, `ao -h` and `ao --version` without loading typer and every command module.

`TOP_HELP` is the full CLI's own rendering of `ao --help` at a terminal of 80 columns or more (click
wraps at min(columns, 80) - 2, so every such terminal gets the same text); a narrower terminal gets the
full CLI. tests/unit/test_read_path.py fails when the text no longer matches what typer renders; refresh
it with `python -m reconciler.cli.help`.
"""

from __future__ import annotations

import shutil
import sys

# Columns from which click's help text no longer depends on the terminal's width.
FULL_WIDTH = 80


def run(argv: list[str]) -> int | None:
    """Answer `--help`, `-h` or `--version`; None for anything else (or a narrow terminal)."""
    if argv == ["--version"]:
        from .. import __version__

        sys.stdout.write(f"ao {__version__}\n")
        return 0
    if argv in (["--help"], ["-h"]) and shutil.get_terminal_size().columns >= FULL_WIDTH:
        sys.stdout.write(TOP_HELP)
        return 0
    return None


def render() -> str:
    """`ao --help` as the full CLI renders it at full width."""
    import os
    import subprocess

    code = "import sys; sys.argv = ['ao', '--help']; from reconciler.cli.main import main; main()"
    env = {**os.environ, "COLUMNS": str(FULL_WIDTH + 20)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def _refresh() -> None:
    """Rewrite `TOP_HELP` below with what the full CLI renders now."""
    from pathlib import Path

    path = Path(__file__)
    text = path.read_text(encoding="utf-8")
    start, end = text.index("\nTOP_HELP = ") + 1, text.index("\n\n\nif __name__")
    rendered = render()
    assert "\\" not in rendered and '"""' not in rendered, "help text that needs escaping"
    path.write_text(f'{text[:start]}TOP_HELP = """\\\n{rendered}"""{text[end:]}', encoding="utf-8")


TOP_HELP = """\
Usage: ao [OPTIONS] COMMAND [ARGS]...

  Declarative fleet manager for AI coding agents in tmux sessions.

  Declare projects, their orchestrator and workers in YAML manifests; `ao
  apply` records that desired state and converges the live sessions to it.

Options:
  --data-dir DIR  Where ao keeps its state (default ~/.ao).  [env var:
                  AO_DATA_DIR]
  --version       Print the version.
  -h, --help      Show this message and exit.

Commands:
  apply         Record the desired state from manifests, then converge...
  diff          Show what `ao apply` would change.
  delete        Delete projects (and reap all their sessions), or one...
  describe      Show everything about one project or session, with its...
  events        Show recent events: what ao did and why (creations,...
  send          Send a message to a session's agent, as if typed (see `ao...
  logs          Print the last lines of a session's screen (works on a...
  attach        Attach this terminal to a session (detach again with...
  reconcile     Run one pass: create what is missing, relaunch dead...
  doctor        Check what ao needs: tmux, git, the data dir, the...
  schema        Print the JSON Schema of ao/v1 manifests (the same file...
  retention     Show or change what ao forgets, and when: events,...
  spawn         Add a worker to a project and start it; prints its...
  controller    Keep every project as declared, continuously (foreground;...
  wait          Wait until a project or session is ready (or deleted);...
  suspend       Stop reconciling a project or session; its sessions keep...
  resume        Reconcile a suspended project or session again (and run a...
  stop          Stop a session's agent on purpose: unlike a crash it is...
  start         Start a session stopped with `ao stop` (in its worktree,...
  relaunch      Relaunch a session's agent now, in place: same ID,...
  serve         Serve the HTTP API (/api/v1) and the dashboard (/), and...
  get           List projects or sessions.
  orchestrator  The project's canonical orchestrator session.

  Examples:

    ao apply -f examples/demo.yaml
    ao get sessions
    ao logs demo-1 --lines 20
    ao reconcile
"""


if __name__ == "__main__":
    _refresh()
