"""Role prompts: Markdown templates rendered with a session's facts at every (re)launch.

The rendered files live in the session's directory in the data dir: `role.md` (who the agent
is), `task.md` (what to do first) and `prompt.md` (both, for agents that take one prompt).
Rendering happens at every launch, so a worker learns of an orchestrator that appeared since; a file
is written only when its text changed (a relaunch of 1000 agents would otherwise rewrite 3000 files).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ..paths import private_dir, write_private
from .agents import PromptFiles


@dataclass(frozen=True)
class SessionFacts:
    """What a session's prompts say about it."""

    session_id: str
    project: str
    kind: str
    workspace: str
    branch: str
    default_branch: str
    issue: str | None = None
    task: str | None = None
    orchestrator_id: str | None = None  # only when it is declared and not terminated
    rules: str | None = None
    workers: tuple[str, ...] = ()  # one line per worker, for the orchestrator
    max_workers: int | None = None  # workers of the project that may run at once
    max_workers_all: int | None = None  # workers of every project of the data dir that may run at once


@functools.cache
def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8"))


def task_text(facts: SessionFacts) -> str:
    if facts.kind == "orchestrator":
        return (
            "Look at the state of the project (`ao get sessions -p %s`), check on the workers and "
            "wait for their messages; delegate new work with `ao spawn`." % facts.project
        )
    parts = [facts.task.strip()] if facts.task and facts.task.strip() else []
    if facts.issue:
        parts.append(f"Issue: {facts.issue}")
    return "\n\n".join(parts) or "No task was given yet; wait for instructions."


def capacity_text(facts: SessionFacts) -> str:
    """How many workers may run at once, so that the orchestrator plans for it."""
    limits = []
    if facts.max_workers is not None:
        limits.append(f"at most **{facts.max_workers}** workers of this project run at once "
                      "(`spec.limits.maxRunningWorkers`; you are not counted)")
    if facts.max_workers_all is not None:
        limits.append(f"at most **{facts.max_workers_all}** workers of all projects together run at once")
    if not limits:
        return ("No limit is set on how many workers run at once, but each agent takes memory: ao starts no "
                "new agent while the machine's free memory is under its reserve.")
    text = "; ".join(limits)
    return (text[0].upper() + text[1:] + ". Workers beyond that wait as `Pending` (reason `Capacity`) and "
            "start in order as others finish or are stopped: spawn what the limit can run, and stop a worker "
            "that is done (`ao stop session <session-id>`) to make room.")


def render_role(facts: SessionFacts) -> str:
    if facts.kind == "orchestrator":
        rules = f"\n## Project rules\n\n{facts.rules.strip()}\n" if facts.rules and facts.rules.strip() else ""
        workers = "\n".join(f"- {line}" for line in facts.workers) or "- (no workers yet)"
        return _template("orchestrator.md").substitute(
            session_id=facts.session_id, project=facts.project, workspace=facts.workspace,
            branch=facts.branch, workers=workers, rules=rules, capacity=capacity_text(facts),
        )
    section = ""
    if facts.orchestrator_id:
        section = _template("worker_orchestrator.md").substitute(orchestrator_id=facts.orchestrator_id, branch=facts.branch)
    return _template("worker.md").substitute(
        session_id=facts.session_id, project=facts.project, task=task_text(facts),
        issue=facts.issue or "(none)", workspace=facts.workspace, branch=facts.branch,
        default_branch=facts.default_branch, orchestrator_section=section,
    )


def write_prompts(directory: Path, facts: SessionFacts) -> PromptFiles:
    private_dir(directory)
    files = PromptFiles(directory / "role.md", directory / "task.md", directory / "prompt.md")
    role, task = render_role(facts), task_text(facts)
    for path, text in ((files.role, role), (files.task, task), (files.combined, f"{role.rstrip()}\n\n---\n\n{task}\n")):
        write_if_changed(path, text)
    return files


# What this process last wrote or read at each path: (text digest, the file's identity then).
_known: dict[Path, tuple[bytes, tuple[int, int, int]]] = {}


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` (owner-only: prompts quote issues and rules) unless it already holds it;
    True when written. A file this process wrote and nobody touched since is not even read again."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    try:
        identity = _identity(path.stat())
        known = _known.get(path)
        if known is not None and known == (digest, identity):
            return False
        if known is None or known[1] != identity:  # not ours, or changed since: look at it
            with path.open("rb") as current:
                if hashlib.blake2b(current.read(), digest_size=16).digest() == digest:
                    _known[path] = (digest, identity)
                    return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    write_private(path, text)
    _known[path] = (digest, _identity(path.stat()))
    return True
