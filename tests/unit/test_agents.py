"""Agent presets and role prompts: the exact argv of every preset, the prompt-file launcher run
for real through /bin/sh, and the rendered role/task/prompt files."""

from __future__ import annotations

import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.manifest.models import Preset as ManifestPreset
from reconciler.sessions.agents import (
    DEFAULT_PRESET,
    EXPAND_SCRIPT,
    PRESETS,
    FileArg,
    PromptFiles,
    agent_program,
    describe_argv,
    expand,
    launch_argv,
    new_conversation_id,
    prepare_conversation,
    preset_args,
)
from reconciler.sessions.naming import orchestrator_id
from reconciler.sessions.prompts import (
    SessionFacts,
    render_role,
    task_text,
    write_prompts,
)

DIR = Path("/data/sessions/shop-2")
FILES = PromptFiles(role=DIR / "role.md", task=DIR / "task.md", combined=DIR / "prompt.md")
LAUNCH = ("/bin/sh", "-c", EXPAND_SCRIPT, "ao-launch")
ROLE, TASK, PROMPT = "f:/data/sessions/shop-2/role.md", "f:/data/sessions/shop-2/task.md", "f:/data/sessions/shop-2/prompt.md"
SHELL = "/usr/local/bin/test-shell"
CID = "0b7e5c1a-3f2d-4c8e-9a6b-1d2e3f4a5b6c"  # a conversation id ao recorded
CODEX = ("--no-daemon", "-c", "features.daemon_auto_start=false")
AIDER = ("--no-gitignore", "--no-check-update", "--no-show-release-notes", "--no-analytics",
         "--chat-history-file", "/data/sessions/shop-2/aider.chat.history.md",
         "--input-history-file", "/data/sessions/shop-2/aider.input.history",
         "--llm-history-file", "/data/sessions/shop-2/aider.llm.history")
AIDER_SCRIPT = 'aider "$@" --message-file "$0"; exec aider "$@" --restore-chat-history'
AIDER_Q = " ".join(shlex.quote(a) for a in AIDER)

# preset -> (fresh argv, fresh human form, resume argv, resume human form), with conversation id CID
EXPECTED: dict[str, tuple[tuple[str, ...], str, tuple[str, ...], str]] = {
    "claude-code": (
        (*LAUNCH, "a:claude", "a:--session-id", f"a:{CID}", "a:--append-system-prompt", ROLE, TASK),
        f"claude --session-id {CID} --append-system-prompt <contents of role.md> <contents of task.md>",
        (*LAUNCH, "a:claude", "a:--resume", f"a:{CID}", "a:--append-system-prompt", ROLE),
        f"claude --resume {CID} --append-system-prompt <contents of role.md>",
    ),
    "codex": (
        (*LAUNCH, "a:codex", *(f"a:{a}" for a in CODEX), PROMPT),
        "codex --no-daemon -c features.daemon_auto_start=false <contents of prompt.md>",
        ("codex", *CODEX, "resume", CID),
        f"codex --no-daemon -c features.daemon_auto_start=false resume {CID}",
    ),
    "aider": (
        ("/bin/sh", "-c", AIDER_SCRIPT, "/data/sessions/shop-2/prompt.md", *AIDER),
        f"/bin/sh -c {shlex.quote(AIDER_SCRIPT)} /data/sessions/shop-2/prompt.md {AIDER_Q}",
        ("aider", *AIDER, "--restore-chat-history"),
        f"aider {AIDER_Q} --restore-chat-history",
    ),
    "opencode": (
        (*LAUNCH, "a:opencode", "a:--prompt", PROMPT),
        "opencode --prompt <contents of prompt.md>",
        ("opencode", "--session", CID),
        f"opencode --session {CID}",
    ),
    "gemini": (
        (*LAUNCH, "a:gemini", "a:--session-id", f"a:{CID}", "a:--prompt-interactive", PROMPT),
        f"gemini --session-id {CID} --prompt-interactive <contents of prompt.md>",
        ("gemini", "--resume", CID),
        f"gemini --resume {CID}",
    ),
    "shell": ((SHELL,), SHELL, (SHELL,), SHELL),
    "demo": (
        (sys.executable, "-m", "reconciler.sessions.demo_agent", "--prompt-file", "/data/sessions/shop-2/prompt.md"),
        f"{shlex.quote(sys.executable)} -m reconciler.sessions.demo_agent --prompt-file /data/sessions/shop-2/prompt.md",
        (sys.executable, "-m", "reconciler.sessions.demo_agent", "--prompt-file", "/data/sessions/shop-2/prompt.md"),
        f"{shlex.quote(sys.executable)} -m reconciler.sessions.demo_agent --prompt-file /data/sessions/shop-2/prompt.md",
    ),
}


@pytest.fixture(autouse=True)
def _shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", SHELL)


def test_every_preset_has_an_expectation() -> None:
    assert set(EXPECTED) == set(PRESETS)
    assert DEFAULT_PRESET in PRESETS


def test_the_manifest_accepts_exactly_the_presets_of_the_table() -> None:
    assert [p.value for p in ManifestPreset] == list(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_preset_argv(name: str, resume: bool) -> None:
    fresh, fresh_human, resumed, resumed_human = EXPECTED[name]
    argv, human = (resumed, resumed_human) if resume else (fresh, fresh_human)
    assert expand(launch_argv({"preset": name}, FILES, conversation_id=CID, resume=resume)) == argv
    assert describe_argv(argv) == human


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_only_presets_that_resume_change_their_argv_on_relaunch(name: str) -> None:
    changes = preset_args(name, FILES, resume=True, conversation_id=CID) != preset_args(
        name, FILES, resume=False, conversation_id=CID)
    assert changes == PRESETS[name].resumes


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_runs_its_own_binary(name: str) -> None:
    args = preset_args(name, FILES, resume=False, conversation_id=CID)
    binary = PRESETS[name].binary
    if binary is not None:
        assert agent_program({"preset": name}, args) == binary
        assert binary in [a for a in args if isinstance(a, str)] or binary in str(args)
    # Prompts travel through files, never as text in the argv.
    assert all(isinstance(a, FileArg) or "\n" not in a for a in args)


def test_a_new_conversation_id_only_for_agents_that_let_ao_choose() -> None:
    chosen = {name for name in PRESETS if new_conversation_id(name)}
    assert chosen == {"claude-code", "gemini"}
    assert new_conversation_id("claude-code") != new_conversation_id("claude-code")


def test_no_preset_means_the_default_preset() -> None:
    assert launch_argv({}, FILES, conversation_id=CID, resume=False) == preset_args(
        DEFAULT_PRESET, FILES, resume=False, conversation_id=CID)


def test_an_explicit_command_wins_over_a_preset() -> None:
    agent = {"preset": "codex", "command": ["my-agent", "--model", "x y", "$HOME"]}
    for resume in (False, True):
        argv = expand(launch_argv(agent, FILES, conversation_id=None, resume=resume))
        assert argv == ("my-agent", "--model", "x y", "$HOME")
        assert describe_argv(argv) == "my-agent --model 'x y' '$HOME'"


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="nope"):
        preset_args("nope", FILES, resume=False)


@pytest.mark.parametrize("name", ["codex", "opencode"])
def test_an_agent_assigned_id_not_yet_recorded_is_found_by_the_pane(name: str) -> None:
    """No recorded id: resume_agent finds this directory's conversation, else starts fresh."""
    argv = launch_argv({"preset": name}, FILES, conversation_id=None, resume=True)
    fresh = expand(launch_argv({"preset": name}, FILES, conversation_id=None, resume=False))
    assert argv == [sys.executable, "-m", "reconciler.sessions.resume_agent", name,
                    "/data/sessions/shop-2/conversation-id", "--", *fresh]


def test_the_conversation_is_recorded_and_reused(tmp_path: Path) -> None:
    claude = {"preset": "claude-code"}
    cid, resume = prepare_conversation(claude, tmp_path, resume=False)
    assert resume is False and cid and (tmp_path / "conversation-id").read_text().strip() == cid
    assert prepare_conversation(claude, tmp_path, resume=True) == (cid, True)
    fresh, resume = prepare_conversation(claude, tmp_path, resume=False)
    assert fresh != cid and resume is False
    # Nothing recorded: an agent that needs ao's id to resume starts fresh with a new one.
    (tmp_path / "conversation-id").unlink()
    cid2, resume = prepare_conversation(claude, tmp_path, resume=True)
    assert resume is False and cid2 and cid2 != fresh
    # An agent that assigns its own id: a fresh start forgets the old one; a resume finds it later.
    assert prepare_conversation({"preset": "opencode"}, tmp_path, resume=False) == (None, False)
    assert not (tmp_path / "conversation-id").exists()
    assert prepare_conversation({"preset": "opencode"}, tmp_path, resume=True) == (None, True)
    (tmp_path / "conversation-id").write_text("ses_1\n")
    assert prepare_conversation({"preset": "opencode"}, tmp_path, resume=True) == ("ses_1", True)


def test_describe_argv_of_a_plain_argv_and_of_literal_prefixes() -> None:
    assert describe_argv(["sleep", "10"]) == "sleep 10"
    # A literal that looks like an encoded file argument stays a literal.
    argv = expand(["tool", "f:/etc/passwd", FileArg(Path("/p/task.md"))])
    assert argv == (*LAUNCH, "a:tool", "a:f:/etc/passwd", "f:/p/task.md")
    assert describe_argv(argv) == "tool f:/etc/passwd <contents of task.md>"


# ------------------------------------------------------------------- the launcher, for real

NASTY = (
    'He said "hi" and \'bye\'; touch PWNED; echo "$(touch PWNED)" `touch PWNED`\n'
    "$HOME ${HOME} `id` $(whoami) \\back\\slash \\n\n"
    "\ttab  two  spaces  \n"
    "non-ASCII: héllo — 日本語 🚀 ünïcödé\n"
    "a:not-a-prefix\n"
    "f:/etc/hostname\n"
    "* ? [a-z] ~ ! & | < > #\n"
)
DUMP = "import os, pickle, sys; pickle.dump([os.fsencode(a) for a in sys.argv[1:]], open(os.environ['OUT'], 'wb'))"


def run_launcher(argv: tuple[str, ...], out: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    assert argv[0] == "/bin/sh"
    full_env = {**os.environ, "OUT": str(out), **env}
    return subprocess.run(list(argv), env=full_env, capture_output=True, timeout=30, check=False)


def received(out: Path) -> list[bytes]:
    return pickle.loads(out.read_bytes())


@pytest.fixture
def prompt_files(tmp_path: Path) -> PromptFiles:
    directory = tmp_path / "session dir with spaces & $x"
    directory.mkdir()
    files = PromptFiles(directory / "role.md", directory / "task.md", directory / "prompt.md")
    nasty = NASTY.replace("PWNED", shlex.quote(str(tmp_path / "pwned")))  # evaluated, it would create this file
    files.role.write_text("# Role\n" + nasty, encoding="utf-8")
    files.task.write_text("-n -e --help\n" + nasty, encoding="utf-8")  # starts like an option
    files.combined.write_text("# Role\n" + nasty + "\n---\n\n-n task\n", encoding="utf-8")
    return files


def test_expand_hands_each_file_to_the_program_as_one_argument(prompt_files: PromptFiles, tmp_path: Path) -> None:
    out = tmp_path / "argv.pickle"
    args = [sys.executable, "-c", DUMP, "literal with 'quotes' and $HOME", FileArg(prompt_files.role), "",
            FileArg(prompt_files.task), "-x"]
    result = run_launcher(expand(args), out)
    assert result.returncode == 0, result.stderr
    role = prompt_files.role.read_bytes()
    task = prompt_files.task.read_bytes()
    assert received(out) == [
        b"literal with 'quotes' and $HOME",
        role.removesuffix(b"\n"),
        b"",
        task.removesuffix(b"\n"),
        b"-x",
    ]
    assert b"touch" in role and not (tmp_path / "pwned").exists()  # nothing in a prompt was run


@pytest.mark.parametrize("name", ["claude-code", "codex", "opencode", "gemini"])
@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_presets_reach_their_binary_with_the_prompt_contents(name: str, resume: bool, prompt_files: PromptFiles,
                                                             tmp_path: Path) -> None:
    """A fake agent binary on PATH records the argv the preset's launcher gives it."""
    binary = PRESETS[name].binary
    assert binary is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / binary
    fake.write_text(f"#!{sys.executable}\n{DUMP}\n")
    fake.chmod(0o755)
    out = tmp_path / "argv.pickle"
    argv = expand(preset_args(name, prompt_files, resume=resume, conversation_id=CID))
    if argv[0] != "/bin/sh":  # a plain argv: what the multiplexer runs directly
        argv = ("/bin/sh", "-c", 'exec "$@"', "sh", *argv)
    result = run_launcher(argv, out, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr

    def content(path: Path) -> bytes:
        return path.read_bytes().removesuffix(b"\n")

    role, task, combined = content(prompt_files.role), content(prompt_files.task), content(prompt_files.combined)
    expected = {
        ("claude-code", False): [b"--session-id", CID.encode(), b"--append-system-prompt", role, task],
        ("claude-code", True): [b"--resume", CID.encode(), b"--append-system-prompt", role],
        ("codex", False): [*(a.encode() for a in CODEX), combined],
        ("codex", True): [*(a.encode() for a in CODEX), b"resume", CID.encode()],
        ("opencode", False): [b"--prompt", combined],
        ("opencode", True): [b"--session", CID.encode()],
        ("gemini", False): [b"--session-id", CID.encode(), b"--prompt-interactive", combined],
        ("gemini", True): [b"--resume", CID.encode()],
    }
    assert received(out) == expected[name, resume]


def test_only_one_trailing_newline_is_expected_to_go(tmp_path: Path) -> None:
    """`$(cat)` strips trailing newlines; inner and leading ones stay."""
    prompt = tmp_path / "p.md"
    prompt.write_bytes(b"\n\nfirst\n\n\nlast\n")
    out = tmp_path / "argv.pickle"
    assert run_launcher(expand([sys.executable, "-c", DUMP, FileArg(prompt)]), out).returncode == 0
    assert received(out) == [b"\n\nfirst\n\n\nlast"]


@pytest.mark.parametrize("missing_at", [0, 1])
def test_a_missing_prompt_file_makes_the_launcher_exit_127(missing_at: int, tmp_path: Path) -> None:
    present = tmp_path / "present.md"
    present.write_text("here\n")
    files = [present, present]
    files[missing_at] = tmp_path / "missing.md"
    out = tmp_path / "argv.pickle"
    result = run_launcher(expand([sys.executable, "-c", DUMP, *map(FileArg, files)]), out)
    assert result.returncode == 127
    assert b"missing.md" in result.stderr
    assert not out.exists()  # the program never started


# ------------------------------------------------------------------------------------ prompts


def worker(**changes: object) -> SessionFacts:
    facts = dict(
        session_id="sp-2", project="shop", kind="worker", workspace="/data/worktrees/shop/sp-2",
        branch="ao/sp-2", default_branch="trunk", issue="124", task="Speed up the cart page",
        orchestrator_id=orchestrator_id("sp"),
    )
    facts.update(changes)
    return SessionFacts(**facts)  # type: ignore[arg-type]


WORKERS = ("sp-1 login-bug (issue 123) Running ao/sp-1", "sp-2 cart (issue 124) Pending ao/sp-2")
RULES = "Never merge without a green test run.\nKeep commits small."


def orchestrator(**changes: object) -> SessionFacts:
    facts = dict(
        session_id="sp-orchestrator", project="shop", kind="orchestrator", workspace="/src/shop",
        branch="main", default_branch="main", workers=WORKERS, rules=RULES,
    )
    facts.update(changes)
    return SessionFacts(**facts)  # type: ignore[arg-type]


def no_placeholders_left(text: str) -> None:
    assert not re.search(r"\$\{?[a-z_]+", text), text


def test_worker_role_with_an_orchestrator() -> None:
    role = render_role(worker())
    no_placeholders_left(role)
    assert "## Talking to the Orchestrator" in role
    assert '\nao send --session sp-orchestrator --message "..."\n' in role  # the exact command, on its own line
    assert "`[from <session-id>]`" in role
    assert "`[from sp-orchestrator]` is your orchestrator" in role
    assert "`ao/sp-2`" in role.split("## Talking to the Orchestrator")[1]  # tells it which branch to report
    for fact in ("sp-2", "shop", "/data/worktrees/shop/sp-2", "ao/sp-2", "Speed up the cart page", "124"):
        assert fact in role
    assert "never push to or rewrite `trunk`" in role


def test_worker_role_without_an_orchestrator() -> None:
    role = render_role(worker(orchestrator_id=None))
    no_placeholders_left(role)
    assert "Talking to the Orchestrator" not in role
    assert "ao send" not in role
    assert "[from " not in role
    assert "Speed up the cart page" in role


def test_worker_task_text() -> None:
    assert task_text(worker()) == "Speed up the cart page\n\nIssue: 124"
    assert task_text(worker(issue=None)) == "Speed up the cart page"
    assert task_text(worker(task="  ", issue="7")) == "Issue: 7"
    assert "wait for instructions" in task_text(worker(task=None, issue=None))
    assert "Issue: (none)" not in render_role(worker()) and "Issue: (none)" in render_role(worker(issue=None))


def test_orchestrator_role() -> None:
    role = render_role(orchestrator())
    no_placeholders_left(role)
    assert role.startswith("# You are sp-orchestrator, the orchestrator of project shop")
    assert "Delegate; do not implement" in role
    team = role.split("## Your team")[1].split("##")[0]
    assert [line for line in team.splitlines() if line.startswith("- ")] == [f"- {w}" for w in WORKERS]
    assert "the live team" in team and "`ao get sessions -p shop`" in team  # the list above goes stale
    for command in ("ao get sessions -p shop", "ao spawn --project shop", 'ao send --session <session-id> --message "..."',
                    "ao logs <session-id>", "ao apply -f", "ao diff -f"):
        assert command in role, command
    assert "[from sp-orchestrator]" in role and "[from <session-id>]" in role
    assert "## Project rules" in role
    assert role.rstrip().endswith(RULES)  # the manifest's rules come last


def test_orchestrator_role_without_workers_or_rules() -> None:
    role = render_role(orchestrator(workers=(), rules="  \n"))
    no_placeholders_left(role)
    assert "- (no workers yet)" in role
    assert "Project rules" not in role
    assert role.rstrip().endswith("- Branch: `main`")


def test_orchestrator_task_points_at_its_project() -> None:
    task = task_text(orchestrator())
    assert "`ao get sessions -p shop`" in task and "ao spawn" in task


def test_rules_and_tasks_with_dollars_are_not_templates() -> None:
    rules = "Use $HOME/bin and ${PATH}; never `rm -rf $workspace`."
    assert render_role(orchestrator(rules=rules)).rstrip().endswith(rules)
    task = "Replace $session_id in the docs"
    assert task in render_role(worker(task=task))


def test_write_prompts(tmp_path: Path) -> None:
    directory = tmp_path / "sessions" / "sp-2"
    files = write_prompts(directory, worker())
    assert files == PromptFiles(directory / "role.md", directory / "task.md", directory / "prompt.md")
    assert sorted(p.name for p in directory.iterdir()) == ["prompt.md", "role.md", "task.md"]  # no temp files left
    role = files.role.read_text(encoding="utf-8")
    task = files.task.read_text(encoding="utf-8")
    combined = files.combined.read_text(encoding="utf-8")
    assert role == render_role(worker())
    assert task == task_text(worker())
    assert role.rstrip() in combined and task in combined
    assert combined.index(role.rstrip()) < combined.index(task)


def test_write_prompts_rewrites_at_every_launch(tmp_path: Path) -> None:
    directory = tmp_path / "sp-2"
    write_prompts(directory, worker(orchestrator_id=None))
    assert "Talking to the Orchestrator" not in (directory / "role.md").read_text()
    files = write_prompts(directory, worker())  # an orchestrator appeared since
    assert "Talking to the Orchestrator" in files.role.read_text()
    assert "Talking to the Orchestrator" in files.combined.read_text()


def test_written_prompts_survive_the_launcher(tmp_path: Path) -> None:
    """End to end: rendered prompts, claude-code's argv, the real /bin/sh launcher."""
    files = write_prompts(tmp_path / "sp-2", worker(task='Fix "quotes", `ticks` and $VARS — ünïcödé'))
    out = tmp_path / "argv.pickle"
    args = [sys.executable, "-c", DUMP, *preset_args("claude-code", files, resume=False, conversation_id=CID)[1:]]
    assert run_launcher(expand(args), out).returncode == 0
    assert received(out) == [
        b"--session-id", CID.encode(),
        b"--append-system-prompt",
        files.role.read_bytes().rstrip(b"\n"),
        files.task.read_bytes().rstrip(b"\n"),
    ]


# ------------------------------------------------------------------------- first-run conditions


def test_first_run_problems_name_the_missing_config_and_its_fix(tmp_path: Path) -> None:
    from reconciler.sessions.presets import first_run_problems

    env = {"HOME": str(tmp_path)}
    problems = first_run_problems("gemini", env)
    assert len(problems) == 2 and "selectedType" in problems[0] and "trustedFolders.json" in problems[1]
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "settings.json").write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    (tmp_path / ".gemini" / "trustedFolders.json").write_text("{}")
    assert first_run_problems("gemini", env) == []
    # An override folder in the agent's env is where the agent looks, so it is where ao looks.
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    assert [p.split(" (")[0] for p in first_run_problems("codex", {**env, "CODEX_HOME": str(codex_home)})] == [
        "codex: stops on sign-in", "codex: stops on project trust"]
    (codex_home / "auth.json").write_text("{}")
    (codex_home / "config.toml").write_text('[projects."/r"]\ntrust_level = "trusted"\n')
    assert first_run_problems("codex", {**env, "CODEX_HOME": str(codex_home)}) == []
    (tmp_path / ".claude.json").write_text('{"hasCompletedOnboarding": true}')
    assert [p.split(" (")[0] for p in first_run_problems("claude-code", env)] == [
        'claude-code: stops on folder trust']
    assert first_run_problems("aider", env) == first_run_problems("demo", env) == []
    assert [p.split(" (")[0] for p in first_run_problems("opencode", env)] == [
        "opencode: stops on its first start"]
    (tmp_path / ".local/share/opencode").mkdir(parents=True)
    (tmp_path / ".local/share/opencode/opencode.db").write_text("")
    assert first_run_problems("opencode", env) == []


def test_a_claude_conversation_never_written_is_started_afresh_under_the_same_id(tmp_path):
    from reconciler.sessions.agents import (
        claude_conversation_kept,
        prepare_conversation,
    )

    session_dir, config, cwd = tmp_path / "s", tmp_path / "cfg", "/work/wt.x/test_a/shop-1"
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    first, resume = prepare_conversation({"preset": "claude-code"}, session_dir, resume=False)
    assert first and resume is False

    def kept(cid: str) -> bool:
        return claude_conversation_kept(cid, cwd, env)

    # Killed before its first turn reached the transcript: `--resume` would fail, so start fresh, same id.
    assert prepare_conversation({"preset": "claude-code"}, session_dir, resume=True, kept=kept) == (first, False)
    transcript = config / "projects" / "-work-wt-x-test-a-shop-1" / f"{first}.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text('{"type":"user","message":{"role":"user","content":"hi"}}\n')
    assert prepare_conversation({"preset": "claude-code"}, session_dir, resume=True, kept=kept) == (first, True)


def test_prompt_files_are_written_only_when_their_text_changes(tmp_path: Path) -> None:
    directory = tmp_path / "sessions" / "sp-2"
    files = write_prompts(directory, worker(orchestrator_id=None))
    paths = (files.role, files.task, files.combined)
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in paths}

    write_prompts(directory, worker(orchestrator_id=None))  # a relaunch with the same facts

    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in paths} == before

    write_prompts(directory, worker())  # an orchestrator appeared: the role (and the whole prompt) change

    after = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in paths}
    assert after[files.task] == before[files.task]
    assert after[files.role] != before[files.role] and after[files.combined] != before[files.combined]
    assert orchestrator_id("sp") in files.role.read_text() and orchestrator_id("sp") in files.combined.read_text()
    assert oct(files.role.stat().st_mode & 0o777) == oct(0o600)


def test_a_prompt_file_changed_behind_aos_back_is_written_again(tmp_path: Path) -> None:
    directory = tmp_path / "sessions" / "sp-2"
    files = write_prompts(directory, worker())
    expected = files.task.read_text()
    files.task.write_text("edited by hand")
    files.combined.unlink()

    write_prompts(directory, worker())

    assert files.task.read_text() == expected
    assert files.combined.exists() and expected in files.combined.read_text()
