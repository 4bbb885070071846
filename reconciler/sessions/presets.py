"""The agent presets, one declarative entry each: everything ao knows about an agent CLI.

An argv template is a tuple of literal strings and placeholders:
  {role} {task} {prompt}   the content of a prompt file, read when the agent starts (never in a shell string)
  {prompt_path}            the path of the combined prompt file
  {session_dir}            the session's own directory in ao's data dir
  {conversation}           the conversation id ao recorded for this session
  {python} {shell}         ao's Python interpreter, the user's $SHELL

The first-run conditions are read only: ao checks for them and says what to run; it never writes
the user's agent configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Conversation(StrEnum):
    """How a relaunch finds this session's own conversation."""

    NONE = "none"  # a relaunch starts from scratch
    AO_CHOOSES = "ao-chooses"  # ao picks a UUID for the first start and resumes by it
    AGENT_ASSIGNS = "agent-assigns"  # the agent picks an id; found after the fact by the session's directory
    PER_DIRECTORY = "per-directory"  # the agent keeps one history per working directory (the worktree)


class TaskDelivery(StrEnum):
    ARGV = "argv"  # the first prompt is an argument of the first start
    FIRST_TURN = "first-turn"  # a one-turn run on the task, then the interactive agent with that history
    PROMPT_FILE_ENV = "prompt-file-env"  # nothing submitted; the prompt file's path is in $AO_PROMPT_FILE


@dataclass(frozen=True)
class FirstRunCheck:
    """A condition the agent stops on at first run unless it holds, and how the user makes it hold."""

    what: str  # the screen the agent shows otherwise
    file: str  # the file that must exist: `$VAR|default/name` (VAR overrides the folder) or `~/name`
    contains: tuple[str, ...]  # substrings the file must contain (empty: existing is enough)
    fix: str  # exactly what to run or set

    def path(self, env: Mapping[str, str]) -> Path:
        home = Path(env.get("HOME") or Path.home())
        if self.file.startswith("$"):
            var, rest = self.file[1:].split("|", 1)
            default, name = rest.rsplit("/", 1)
            folder = env.get(var) or default.replace("~", str(home), 1)
            return Path(folder) / name
        return Path(self.file.replace("~", str(home), 1))

    def holds(self, env: Mapping[str, str]) -> bool:
        """Whether the condition holds for an agent started with `env` (reads files, writes nothing)."""
        try:
            text = self.path(env).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        squashed = text.replace(" ", "")
        return all(c.replace(" ", "") in squashed for c in self.contains)


@dataclass(frozen=True)
class Preset:
    """How ao starts, resumes and reads one agent CLI."""

    name: str
    binary: str | None  # None: not a separate program (the user's shell, ao's demo agent)
    start: tuple[str, ...]
    resume: tuple[str, ...] | None  # None: a relaunch starts again with `start`
    conversation: Conversation
    task: TaskDelivery
    typeahead_safe: bool  # text typed while the agent works is queued as a later message
    first_run: tuple[FirstRunCheck, ...]
    screen: str  # key of the screen-pattern table in reconciler/activity
    summary: str

    @property
    def resumes(self) -> bool:
        return self.resume is not None


# Codex's background daemon runs every session's turns in one detached process that carries the
# environment of whichever session started it and outlives ao's reap: keep the turns in this process.
CODEX_OWN_PROCESS = ("--no-daemon", "-c", "features.daemon_auto_start=false")
# aider asks on first run whether to add .aider* to .gitignore, checks PyPI, shows release notes;
# its history files go to the session's directory so they never dirty the worktree.
AIDER_QUIET = (
    "--no-gitignore", "--no-check-update", "--no-show-release-notes", "--no-analytics",
    "--chat-history-file", "{session_dir}/aider.chat.history.md",
    "--input-history-file", "{session_dir}/aider.input.history",
    "--llm-history-file", "{session_dir}/aider.llm.history",
)
# Untracked files agents keep in the worktree for themselves (aider's repo-map cache): not work,
# removed at reap so they never make a clean worktree look dirty. git pathspecs, from the top.
AGENT_BOOKKEEPING = (":(top,glob).aider*", ":(top,glob).aider*/**")
# aider has no "prompt, then stay interactive" flag (--message exits after one turn): run the task
# as one turn, then the interactive aider with that chat history. Constant script: $0 is the
# prompt file, "$@" the flags both runs share.
AIDER_FIRST_TURN = 'aider "$@" --message-file "$0"; exec aider "$@" --restore-chat-history'

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="claude-code", binary="claude",
            start=("claude", "--session-id", "{conversation}", "--append-system-prompt", "{role}", "{task}"),
            resume=("claude", "--resume", "{conversation}", "--append-system-prompt", "{role}"),
            # Claude Code queues text typed during a turn, but hands queued texts to the model as one
            # turn, and folds text typed while a tool runs into that turn (docs/agents/claude-code.md):
            # ao holds messages until it is idle, so that each is its own turn.
            conversation=Conversation.AO_CHOOSES, task=TaskDelivery.ARGV, typeahead_safe=False,
            first_run=(
                FirstRunCheck("onboarding (theme, sign-in)", "$CLAUDE_CONFIG_DIR|~/.claude.json",
                              ('"hasCompletedOnboarding": true',),
                              "run `claude` once in a terminal and finish its setup, or set "
                              '"hasCompletedOnboarding": true in ~/.claude.json'),
                FirstRunCheck("folder trust (\"Quick safety check\", default No, exit)",
                              "$CLAUDE_CONFIG_DIR|~/.claude.json", ('"hasTrustDialogAccepted": true',),
                              "run `claude` once in the repository and choose \"Yes, I trust this folder\""),
            ),
            screen="claude-code",
            summary="role appended to the system prompt, task as first message; resumes its own session id",
        ),
        Preset(
            name="codex", binary="codex",
            start=("codex", *CODEX_OWN_PROCESS, "{prompt}"),
            resume=("codex", *CODEX_OWN_PROCESS, "resume", "{conversation}"),
            conversation=Conversation.AGENT_ASSIGNS, task=TaskDelivery.ARGV, typeahead_safe=True,
            first_run=(
                FirstRunCheck("sign-in", "$CODEX_HOME|~/.codex/auth.json", (),
                              "printenv OPENAI_API_KEY | codex login --with-api-key"),
                FirstRunCheck("project trust", "$CODEX_HOME|~/.codex/config.toml", ("trust_level",),
                              "add to ~/.codex/config.toml: [projects.\"<repo>\"] trust_level = \"trusted\""),
            ),
            screen="codex",
            summary="role and task as the first prompt, turns in its own process; resumes its own session id",
        ),
        Preset(
            name="aider", binary="aider",
            start=("/bin/sh", "-c", AIDER_FIRST_TURN, "{prompt_path}", *AIDER_QUIET),
            resume=("aider", *AIDER_QUIET, "--restore-chat-history"),
            conversation=Conversation.PER_DIRECTORY, task=TaskDelivery.FIRST_TURN, typeahead_safe=False,
            first_run=(),  # the .gitignore question is answered by --no-gitignore on the command line
            screen="aider",
            summary="task run as the first turn, then interactive with that history; resumes the chat history",
        ),
        Preset(
            name="opencode", binary="opencode",
            start=("opencode", "--prompt", "{prompt}"),
            resume=("opencode", "--session", "{conversation}"),
            conversation=Conversation.AGENT_ASSIGNS, task=TaskDelivery.ARGV, typeahead_safe=True,
            # Its provider's key it reports itself. Its first start creates its database; OpenCodes
            # making that first start at the same moment (a fleet starting) can deadlock in it.
            first_run=(
                FirstRunCheck("its first start (several at once can deadlock)",
                              "~/.local/share/opencode/opencode.db", (),
                              "run `opencode session list` once before starting several"),
            ),
            screen="opencode",
            summary="role and task as the first prompt; resumes the session of this worktree by id",
        ),
        Preset(
            name="gemini", binary="gemini",
            start=("gemini", "--session-id", "{conversation}", "--prompt-interactive", "{prompt}"),
            resume=("gemini", "--resume", "{conversation}"),
            conversation=Conversation.AO_CHOOSES, task=TaskDelivery.ARGV, typeahead_safe=True,
            first_run=(
                FirstRunCheck("auth type", "~/.gemini/settings.json", ("selectedType",),
                              'set {"security": {"auth": {"selectedType": "gemini-api-key"}}} in '
                              "~/.gemini/settings.json and export GEMINI_API_KEY"),
                FirstRunCheck("folder trust", "~/.gemini/trustedFolders.json", (),
                              'add {"<repo>": "TRUST_FOLDER"} to ~/.gemini/trustedFolders.json'),
            ),
            screen="gemini",
            summary="role and task as the first interactive prompt; resumes its own session id",
        ),
        Preset(
            name="shell", binary=None, start=("{shell}",), resume=None,
            conversation=Conversation.NONE, task=TaskDelivery.PROMPT_FILE_ENV, typeahead_safe=False,
            first_run=(), screen="shell",
            summary="the user's $SHELL; the prompt file is in $AO_PROMPT_FILE",
        ),
        Preset(
            name="demo", binary=None,
            start=("{python}", "-m", "reconciler.sessions.demo_agent", "--prompt-file", "{prompt_path}"),
            # Like aider, its `/work` turn reads no input: messages wait until it is idle again.
            resume=None, conversation=Conversation.NONE, task=TaskDelivery.ARGV, typeahead_safe=False,
            first_run=(), screen="demo",
            summary="ao's demo agent: prints its environment and prompt, echoes messages",
        ),
    )
}

DEFAULT_PRESET = "claude-code"


def first_run_problems(preset: str, env: Mapping[str, str]) -> list[str]:
    """One line per first-run condition of `preset` that does not hold for an agent started with
    `env` (the agent's environment, e.g. HOME, CODEX_HOME): what it would stop on and the fix."""
    entry = PRESETS.get(preset)
    if entry is None:
        return []
    return [f"{preset}: stops on {c.what} ({c.path(env)}): {c.fix}" for c in entry.first_run if not c.holds(env)]
