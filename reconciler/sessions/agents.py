"""Agent presets: the exact argv each agent CLI is started (and resumed) with.

Prompts always travel through files in the session's directory. When an agent only accepts its
prompt as an argument, the argv goes through a constant `sh -c` script that replaces each
`f:PATH` argument by the file's contents at exec time. No user text is ever part of a shell
string, and the multiplexer only ever sees a short command line.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PRESET = "claude-code"
# Constant script: arguments are `a:LITERAL` or `f:FILE` (replaced by the file's contents).
EXPAND_SCRIPT = (
    'for a do shift; case $a in '
    'f:*) v=$(cat -- "${a#f:}") || exit 127; set -- "$@" "$v";; '
    '*) set -- "$@" "${a#a:}";; esac; done; exec "$@"'
)


@dataclass(frozen=True)
class FileArg:
    """An argument whose value is the content of a prompt file, read when the agent starts."""

    path: Path


Arg = str | FileArg


@dataclass(frozen=True)
class PromptFiles:
    role: Path  # who the agent is and how it works with the others
    task: Path  # what it should do first
    combined: Path  # role + task, for agents that take a single prompt


@dataclass(frozen=True)
class Preset:
    name: str
    binary: str | None  # None: not a separate program (the user's shell, ao's own demo agent)
    resumes: bool  # a relaunch continues the previous conversation
    summary: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("claude-code", "claude", True, "role prompt appended to the system prompt, task as first message"),
        Preset("codex", "codex", True, "role and task as the first prompt; a relaunch resumes the last session"),
        Preset("aider", "aider", False, "role and task file added to the chat read-only"),
        Preset("opencode", "opencode", True, "role and task as the first prompt; a relaunch continues"),
        Preset("gemini", "gemini", False, "role and task as the first interactive prompt"),
        Preset("shell", None, False, "the user's $SHELL; the prompt file is in $AO_PROMPT_FILE"),
        Preset("demo", None, False, "ao's demo agent: prints its environment and prompt, echoes messages"),
    )
}


def shell_program() -> str:
    return os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"


def preset_args(preset: str, files: PromptFiles, *, resume: bool) -> list[Arg]:
    """The arguments of a preset, before prompt files are expanded."""
    if preset == "claude-code":
        if resume:
            return ["claude", "--continue", "--append-system-prompt", FileArg(files.role)]
        return ["claude", "--append-system-prompt", FileArg(files.role), FileArg(files.task)]
    if preset == "codex":
        return ["codex", "resume", "--last"] if resume else ["codex", FileArg(files.combined)]
    if preset == "aider":
        return ["aider", "--read", str(files.combined)]
    if preset == "opencode":
        return ["opencode", "--continue"] if resume else ["opencode", "--prompt", FileArg(files.combined)]
    if preset == "gemini":
        return ["gemini", "--prompt-interactive", FileArg(files.combined)]
    if preset == "shell":
        return [shell_program()]
    if preset == "demo":
        return [sys.executable, "-m", "reconciler.sessions.demo_agent", "--prompt-file", str(files.combined)]
    raise ValueError(f"unknown agent preset {preset!r}")


def expand(args: Sequence[Arg]) -> tuple[str, ...]:
    """Final argv: plain when no prompt file is involved, else through EXPAND_SCRIPT."""
    if not any(isinstance(a, FileArg) for a in args):
        return tuple(str(a) for a in args)
    encoded = [f"f:{a.path}" if isinstance(a, FileArg) else f"a:{a}" for a in args]
    return ("/bin/sh", "-c", EXPAND_SCRIPT, "ao-launch", *encoded)


def agent_args(agent: Mapping[str, Any], files: PromptFiles, *, resume: bool) -> list[Arg]:
    command = list(agent.get("command") or [])
    if command:
        return command
    return preset_args(agent.get("preset") or DEFAULT_PRESET, files, resume=resume)


def display(args: Sequence[Arg]) -> str:
    """Human form of the command, with prompt files shown as <contents of FILE>."""
    import shlex

    return " ".join(f"<contents of {a.path.name}>" if isinstance(a, FileArg) else shlex.quote(a) for a in args)


def describe_argv(argv: Sequence[str]) -> str:
    """The human form of a stored argv: prompt-file arguments shown as <contents of FILE>."""
    if len(argv) > 4 and list(argv[:3]) == ["/bin/sh", "-c", EXPAND_SCRIPT]:
        args: list[Arg] = [FileArg(Path(a[2:])) if a.startswith("f:") else a[2:] for a in argv[4:]]
        return display(args)
    return display(list(argv))
