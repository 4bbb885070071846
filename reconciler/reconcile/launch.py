"""Prepare one launch: workspace, prompt files, environment and argv, checked before starting."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..activity.agent_hooks import ao_command, write_claude_settings
from ..errors import SessionProblem
from ..paths import DataDir
from ..registry.records import Kind
from ..runtime.base import Launch, Stamp
from ..sessions.agents import (
    Arg,
    PromptFiles,
    agent_program,
    claude_conversation_kept,
    expand,
    launch_argv,
    prepare_conversation,
)
from ..sessions.env import ao_bin_dir, session_env
from ..sessions.presets import DEFAULT_PRESET
from ..sessions.prompts import SessionFacts, write_prompts
from ..sessions.secrets import resolve_env
from ..sessions.workspace import Repositories, ensure_worktree, require_dir
from .desired import DesiredSession


class LaunchError(SessionProblem):
    """The agent cannot be started as declared (for example its program is not installed)."""


@dataclass(frozen=True)
class Team:
    """What a session's prompt says about the others in its project."""

    orchestrator_id: str | None = None  # declared and not terminated
    workers: tuple[str, ...] = ()
    max_workers: int | None = None  # the project's spec.limits.maxRunningWorkers
    max_workers_all: int | None = None  # the data dir's limit over every project


@dataclass(frozen=True)
class Prepared:
    """A launch ready to start: workspace, prompts and argv in place."""

    launch: Launch
    args: list[Arg]
    workspace: str
    branch: str | None


def prepare(
    desired: DesiredSession,
    session_id: str,
    data_dir: DataDir,
    *,
    owner: str,
    registry: str = "",
    resume: bool,
    team: Team,
    repositories: Repositories | None = None,
) -> Prepared:
    """`repositories`: what the launches of one pass know of their repositories (asked of git once)."""
    spec = desired.spec
    workspace, branch = _workspace(desired, session_id, data_dir, repositories)
    facts = SessionFacts(
        session_id=session_id,
        project=desired.project,
        kind=desired.kind,
        workspace=str(workspace),
        branch=branch or "(the repository's current branch)",
        default_branch=desired.default_branch,
        issue=spec.get("issue"),
        task=spec.get("prompt"),
        orchestrator_id=team.orchestrator_id if desired.kind == Kind.WORKER else None,
        rules=spec.get("rules"),
        workers=team.workers,
        max_workers=team.max_workers,
        max_workers_all=team.max_workers_all,
    )
    files = write_prompts(data_dir.session_dir(session_id), facts)
    agent = spec["agent"]
    env = session_env(
        session_id=session_id,
        project=desired.project,
        issue=spec.get("issue"),
        data_dir=data_dir.root,
        orchestrator_id=desired.orchestrator_id,
        prompt_file=files.combined,
        user_env=resolve_env(agent.get("env") or {}),  # valueFrom is read now, never stored
    )
    args = agent_argv(agent, files, data_dir.session_dir(session_id), str(workspace), dict(env), resume=resume)
    stamp = Stamp(owner, desired.project, desired.kind, desired.worker or "", desired.spec_hash, registry)
    launch = Launch(session_id, expand(args), str(workspace), env, stamp, runtime=spec["runtime"])
    return Prepared(launch, args, str(workspace), branch)


def agent_argv(agent: dict, files: PromptFiles, session_dir: Path, workspace: str, env: dict[str, str], *,
               resume: bool) -> list[Arg]:
    """The agent's argv: its own conversation resumed where it can be, ao's hooks handed to it, and
    its program found on the session's PATH (else the session fails with AgentNotFound)."""
    kept = None
    if not agent.get("command") and (agent.get("preset") or DEFAULT_PRESET) == "claude-code":
        kept = partial(claude_conversation_kept, cwd=workspace, env={**os.environ, **env})
    conversation, resume = prepare_conversation(agent, session_dir, resume=resume, kept=kept)
    args = with_agent_hooks(agent, launch_argv(agent, files, conversation_id=conversation, resume=resume), session_dir)
    program = agent_program(agent, args)
    if not shutil.which(program, path=env["PATH"]):
        raise LaunchError("AgentNotFound",
                          f"agent command {program!r} was not found on PATH; install it or change spec.agent")
    return args


def with_agent_hooks(agent: dict, args: list[Arg], session_dir: Path) -> list[Arg]:
    """Hand the agent ao's hook settings, so it reports its own activity (Claude Code: `--settings`)."""
    if agent.get("command") or (agent.get("preset") or DEFAULT_PRESET) != "claude-code":
        return args
    settings = write_claude_settings(session_dir, ao_command(ao_bin_dir()))
    return [args[0], "--settings", str(settings), *args[1:]]


def default_branch_name(kind: str, session_id: str) -> str:
    return f"orchestrator/{session_id}" if kind == Kind.ORCHESTRATOR else f"ao/{session_id}"


def _workspace(desired: DesiredSession, session_id: str, data_dir: DataDir,
               repositories: Repositories | None) -> tuple[Path, str | None]:
    """The session's working directory and branch; its own git worktree unless `workspace: none`."""
    repo = Path(desired.spec["repo"])
    if desired.spec.get("workspace") == "none":
        require_dir(repo)
        return repo, None
    branch = desired.spec.get("branch") or default_branch_name(desired.kind, session_id)
    path = data_dir.worktree_dir(desired.project, session_id)
    return ensure_worktree(repo, path, branch, desired.default_branch, repositories), branch

