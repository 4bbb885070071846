"""The argv a session's agent is started (and resumed) with, from its preset's entry in
`presets.PRESETS` and the conversation id ao recorded for the session.

Prompts always travel through files in the session's directory. When an agent only accepts its
prompt as an argument, the argv goes through a constant `sh -c` script that replaces each
`f:PATH` argument by the file's contents at exec time. No user text is ever part of a shell
string, and the multiplexer only ever sees a short command line.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .presets import DEFAULT_PRESET, PRESETS, Conversation, Preset

# Constant script: arguments are `a:LITERAL` or `f:FILE` (replaced by the file's contents).
EXPAND_SCRIPT = (
    'for a do shift; case $a in '
    'f:*) v=$(cat -- "${a#f:}") || exit 127; set -- "$@" "$v";; '
    '*) set -- "$@" "${a#a:}";; esac; done; exec "$@"'
)
CONVERSATION_FILE = "conversation-id"  # in the session's directory: the id a relaunch resumes


@dataclass(frozen=True)
class FileArg:
    """An argument whose value is the content of a prompt file, read when the agent starts."""

    path: Path


Arg = str | FileArg


@dataclass(frozen=True)
class PromptFiles:
    """The prompt files written for one session."""

    role: Path  # who the agent is and how it works with the others
    task: Path  # what it should do first
    combined: Path  # role + task, for agents that take a single prompt


def shell_program() -> str:
    return os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"


def preset_of(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown agent preset {name!r}") from None


def new_conversation_id(preset: str) -> str | None:
    """A fresh id for the first start of agents that let ao choose it; None for the others."""
    return str(uuid.uuid4()) if preset_of(preset).conversation is Conversation.AO_CHOOSES else None


def render(template: Sequence[str], files: PromptFiles, conversation_id: str | None) -> list[Arg]:
    """A preset's argv template with its placeholders filled in."""
    values: dict[str, Arg] = {
        "{role}": FileArg(files.role), "{task}": FileArg(files.task), "{prompt}": FileArg(files.combined),
        "{python}": sys.executable, "{shell}": shell_program(),
    }
    out: list[Arg] = []
    for part in template:
        if part in values:
            out.append(values[part])
        elif part == "{conversation}":
            if not conversation_id:
                raise ValueError("this preset needs a conversation id")
            out.append(conversation_id)
        else:
            out.append(part.replace("{prompt_path}", str(files.combined))
                       .replace("{session_dir}", str(files.combined.parent)))
    return out


def launch_argv(agent: Mapping[str, Any], files: PromptFiles, *, conversation_id: str | None,
                resume: bool) -> list[Arg]:
    """The argv of a session's agent, before prompt files are expanded.

    An explicit `command` wins. A resume names this session's own conversation: by the id ao
    recorded, or, for agents that assign their own id and none is recorded yet, through
    `resume_agent`, which finds the conversation of this working directory when the pane starts.
    """
    command = list(agent.get("command") or [])
    if command:
        return command
    name = agent.get("preset") or DEFAULT_PRESET
    preset = preset_of(name)
    if resume and preset.resume is not None:
        if conversation_id or "{conversation}" not in preset.resume:
            return render(preset.resume, files, conversation_id)
        if preset.conversation is Conversation.AGENT_ASSIGNS:
            fresh = expand(render(preset.start, files, None))
            return [sys.executable, "-m", "reconciler.sessions.resume_agent", name,
                    str(files.combined.parent / CONVERSATION_FILE), "--", *fresh]
    if conversation_id is None and "{conversation}" in preset.start:
        raise ValueError(f"preset {name!r} starts with a conversation id: use new_conversation_id")
    return render(preset.start, files, conversation_id)


def prepare_conversation(agent: Mapping[str, Any], session_dir: Path, *, resume: bool,
                         kept: Callable[[str], bool] | None = None) -> tuple[str | None, bool]:
    """(conversation id, resume) for the next launch, recorded in the session's directory.

    A resume uses the recorded id; a fresh start records a new one (or forgets the old one for
    agents that assign their own). A preset that needs an id to resume but has none starts fresh.
    `kept(id)` says whether the agent holds a conversation under the recorded id: when it does not
    (the agent died before writing its first turn), the launch is a fresh start under the same id.
    """
    if agent.get("command"):
        return None, resume
    preset = preset_of(agent.get("preset") or DEFAULT_PRESET)
    record = session_dir / CONVERSATION_FILE
    recorded = record.read_text().strip() if record.is_file() else ""
    if resume and recorded and kept is not None and not kept(recorded):
        return recorded, False
    if resume and preset.resume is not None and (recorded or preset.conversation is not Conversation.AO_CHOOSES):
        return recorded or None, True
    new = new_conversation_id(preset.name)
    session_dir.mkdir(parents=True, exist_ok=True)
    if new:
        record.write_text(new + "\n")
    else:
        record.unlink(missing_ok=True)
    return new, False


def claude_conversation_kept(conversation_id: str, cwd: str, env: Mapping[str, str]) -> bool:
    """Claude Code keeps a conversation as `<config dir>/projects/<cwd, every character but letters and
    digits as ->/<id>.jsonl` once its first turn is written; `--resume` of an id without one fails
    ("No conversation found")."""
    config = Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME") or Path.home()) / ".claude")
    transcript = config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd) / f"{conversation_id}.jsonl"
    try:
        with transcript.open(encoding="utf-8", errors="replace") as lines:
            return any('"type":"user"' in line.replace(" ", "") for line in lines)
    except OSError:
        return False


def preset_args(preset: str, files: PromptFiles, *, resume: bool, conversation_id: str | None = None) -> list[Arg]:
    """The arguments of a preset, before prompt files are expanded."""
    return launch_argv({"preset": preset}, files, conversation_id=conversation_id, resume=resume)


def agent_program(agent: Mapping[str, Any], args: Sequence[Arg]) -> str:
    """The program that must be on PATH for this agent (a preset's own binary, else argv[0])."""
    if not agent.get("command"):
        binary = preset_of(agent.get("preset") or DEFAULT_PRESET).binary
        if binary:
            return binary
    return str(args[0])


def expand(args: Sequence[Arg]) -> tuple[str, ...]:
    """Final argv: plain when no prompt file is involved, else through EXPAND_SCRIPT."""
    if not any(isinstance(a, FileArg) for a in args):
        return tuple(str(a) for a in args)
    encoded = [f"f:{a.path}" if isinstance(a, FileArg) else f"a:{a}" for a in args]
    return ("/bin/sh", "-c", EXPAND_SCRIPT, "ao-launch", *encoded)


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
