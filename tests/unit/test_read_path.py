"""Fast reads and no-op passes: what the read commands load, that their light path prints what the full CLI
prints, and that what a pass caches between passes (records, desired sessions) follows every change."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from reconciler.cli import help as top_help
from reconciler.cli import light
from reconciler.paths import DataDir
from reconciler.reconcile.capacity import Memory
from reconciler.reconcile.desired import desired_projects
from reconciler.reconcile.plan import Verb, plan
from reconciler.registry import Registry, store
from reconciler.registry.records import (
    Phase,
    ProjectRecord,
    SessionRecord,
    WorkerRecord,
)
from tests.conftest import AO, demo_manifest, needs_tmux, retry_until
from tests.unit.test_capacity_rule import (
    _three_running_three_waiting,
    six,
    with_capacity,
)
from tests.unit.test_plan import proj, wk, world

# Libraries a read command has no use for; each would cost tens of milliseconds to import.
HEAVY = ("typer", "click", "rich", "pydantic", "jsonschema", "yaml", "sqlite_utils", "watchdog", "fastapi",
         "starlette", "uvicorn")

# Parts of ao that a pass over a fleet at rest has no use for.
ACTING = ("reconciler.reconcile.execute", "reconciler.reconcile.launch", "reconciler.messaging.typing")

# Runs the real entry point of `ao` with the given argv, then prints which of the modules got imported.
PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("\\nLOADED " + json.dumps(sorted(
    {{name for name in {among!r} for m in sys.modules if m == name or m.startswith(name + ".")}})) + "\\n"))
sys.argv = ["ao", *{argv!r}]
from reconciler.cli.entry import main
main()
"""


def loaded_by(data_dir: DataDir, *argv: str, among: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of the modules `among` (the heavy libraries by default) a whole run of `ao ARGV`
    imports (the command must succeed)."""
    code = PROBE.format(among=among, argv=["--data-dir", str(data_dir.root), *argv])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stderr.rsplit("LOADED ", 1)[1])


@pytest.fixture
def running(data_dir: DataDir, repo: Path, write_manifest: Callable[..., Path],
            ao: Callable[..., subprocess.CompletedProcess[str]]) -> DataDir:
    """A data dir with a project whose worker runs (real tmux), and its events."""
    path = write_manifest(demo_manifest(repo, ["    - name: one\n      prompt: hello\n"], orchestrator=False))
    result = ao("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    retry_until(lambda: '"agent": "running"' in ao("get", "sessions", "-o", "json").stdout,
                message="the worker runs")
    return data_dir


@needs_tmux
def test_the_read_commands_load_no_heavy_library(running: DataDir) -> None:
    for argv in (["get", "sessions"], ["get", "sessions", "-o", "wide"], ["get", "sessions", "-o", "json"],
                 ["get", "projects"], ["get", "messages"], ["describe", "session", "shop-1", "-o", "json"],
                 ["describe", "project", "shop", "-o", "json"], ["describe", "session", "shop-1"],
                 ["describe", "project", "shop"], ["get", "sessions", "-o", "yaml"], ["events"], ["events", "-o", "json"],
                 ["--help"], ["reconcile"]):
        assert loaded_by(running, *argv) == [], argv


@needs_tmux
def test_a_pass_with_nothing_to_do_loads_neither_the_executor_nor_the_typing(running: DataDir) -> None:
    assert loaded_by(running, "reconcile", among=ACTING) == []
    assert loaded_by(running, "reconcile", "--dry-run", among=ACTING) == []


@needs_tmux
def test_the_probe_sees_the_full_cli_when_a_command_needs_it(running: DataDir) -> None:
    # `--watch` is left to the full CLI; `ao doctor` is not on the light path at all.
    assert "typer" in loaded_by(running, "doctor")


def full_cli(data_dir: DataDir, *argv: str) -> subprocess.CompletedProcess[str]:
    """The same command through the typer application only."""
    code = "import sys; sys.argv = ['ao', *sys.argv[1:]]; from reconciler.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, "--data-dir", str(data_dir.root), *argv], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "100"})


def light_cli(data_dir: DataDir, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AO, "--data-dir", str(data_dir.root), *argv], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "COLUMNS": "100"})


def without_ages(text: str) -> str:
    """Without what may change between two runs: ages (`5s`), the memory measured (`12 MiB`)."""
    text = re.sub(r"\b\d+[smhd]\b", "AGE", text)
    text = re.sub(r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b", "SIZE", text)
    text = re.sub(r'"rssBytes": \d+', '"rssBytes": SIZE', text)
    return re.sub(r" +", " ", text)  # and the column widths that follow from them


# Command lines the light path takes, as people type them.
LIGHT_COMMAND_LINES = [
    ["get", "sessions"], ["get", "sessions", "-o", "wide"], ["get", "sessions", "-ojson", "-a"],
    ["get", "session", "--project=shop", "-o", "yaml"], ["get", "sessions", "-p", "nope"], ["get", "projects"],
    ["get", "projects", "-o", "json"], ["get", "messages", "-n", "5"], ["describe", "session", "shop-1"],
    ["describe", "sessions", "shop-1", "-o", "json"], ["describe", "project", "shop"], ["describe", "session", "nope"],
    ["events"], ["events", "-o", "wide", "-s", "shop-1", "-n", "3"], ["events", "-p", "shop", "-o", "json"],
    ["reconcile"], ["reconcile", "-o", "json"], ["reconcile", "--dry-run", "-p", "shop"], ["reconcile", "-p", "nope"],
    ["--help"], ["-h"], ["--version"],
]


@needs_tmux
def test_the_light_path_prints_what_the_full_cli_prints(running: DataDir) -> None:
    differences = []
    for argv in LIGHT_COMMAND_LINES:
        fast, full = light_cli(running, *argv), full_cli(running, *argv)
        if (fast.returncode, without_ages(fast.stdout), fast.stderr) != \
                (full.returncode, without_ages(full.stdout), full.stderr):
            differences.append((argv, fast.returncode, fast.stdout, fast.stderr, full.returncode, full.stdout,
                                full.stderr))
    assert differences == []


def test_a_light_command_on_a_damaged_registry_fails_as_the_full_cli_does(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data").ensure()
    data_dir.db_path.write_bytes(b"this is not a database" * 100)
    fast, full = light_cli(data_dir, "get", "sessions"), full_cli(data_dir, "get", "sessions")
    assert fast.returncode == full.returncode != 0
    assert fast.stderr == full.stderr and "error:" in fast.stderr


@pytest.mark.parametrize("argv", [
    ["get", "sessions", "--watch"], ["get", "sessions", "-w"], ["events", "-f"], ["get", "sessions", "--help"],
    ["get", "sessions", "-h"], ["get", "sessions", "-o", "xml"], ["get", "sessions", "--bogus"], ["get"],
    ["get", "pods"], ["describe", "pod", "x"], ["describe", "session"], ["describe", "session", "a", "b"],
    ["events", "-n", "ten"], ["events", "-n"], ["get", "sessions", "-p", "-a"], ["get", "sessions", "--all=yes"],
    ["reconcile", "--max-running", "3"], ["logs", "shop-1"], ["apply", "-f", "x.yaml"], [],
])
def test_command_lines_the_light_path_does_not_fully_understand_go_to_the_full_cli(argv: list[str]) -> None:
    assert light.run("/nonexistent/data", argv) is None


def test_options_parse_as_click_parses_them() -> None:
    commands = light._commands()
    sessions = commands[("get", "sessions")]
    assert light.parse(sessions, ["-ao", "json", "-p", "shop"]) == {"project": "shop", "output": "json", "all_": True}
    assert light.parse(sessions, ["--output=wide", "--project", "a", "-pb"]) == \
        {"project": "b", "output": "wide", "all_": False}
    describe = commands[("describe",)]
    assert light.parse(describe, ["-ojson", "session", "--", "shop-1"]) == \
        {"kind": "session", "name": "shop-1", "output": "json"}
    reconcile = commands[("reconcile",)]
    assert light.parse(reconcile, ["-p", "a", "--project=b", "--dry-run"]) == \
        {"project": ["a", "b"], "dry_run": True, "output": "text"}


def test_an_option_from_the_environment_goes_to_the_full_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AO_MAX_RUNNING", "3")
    assert light.run("/nonexistent/data", ["reconcile"]) is None


def test_the_stored_top_help_is_what_the_full_cli_renders() -> None:
    assert top_help.TOP_HELP == top_help.render(), "refresh it: python -m reconciler.cli.help"


def test_a_narrow_terminal_gets_the_full_clis_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert top_help.run(["--help"]) is None
    monkeypatch.setenv("COLUMNS", "120")
    assert top_help.run(["--help"]) == 0


def test_the_controllers_resync_default_is_the_one_the_cli_shows() -> None:
    from reconciler.cli.control import DEFAULT_RESYNC_SECONDS as shown
    from reconciler.reconcile.controller import DEFAULT_RESYNC_SECONDS

    assert shown == DEFAULT_RESYNC_SECONDS


# ---------------------------------------------------------------------------------- the registry


def test_the_migrations_the_registry_checks_without_sqlite_utils_are_all_of_them() -> None:
    from reconciler.registry.migrations import migrations

    assert store.MIGRATIONS == tuple(m.name for m in migrations.pending(_empty_database()))


def _empty_database():  # type: ignore[no-untyped-def]
    from sqlite_utils import Database

    return Database(memory=True)


def test_opening_an_up_to_date_registry_and_reading_needs_no_sqlite_utils(tmp_path: Path) -> None:
    Registry.open(tmp_path / "ao.db").close()  # created and migrated
    code = (f"from pathlib import Path\nfrom reconciler.registry import Registry\n"
            f"r = Registry.open(Path({str(tmp_path / 'ao.db')!r}))\n"
            "r.sessions(); r.projects(); r.workers(); r.events(); r.messages(); r.identity\n"
            "import sys\nprint('sqlite_utils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


def test_a_registry_missing_a_migration_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "ao.db"
    Registry.open(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("delete from _sqlite_migrations where name = 'm005_registry_identity'")
        conn.execute("drop table meta")
    conn.close()
    registry = Registry.open(path)
    assert len(registry.identity) == 16  # the identity table is back, with a new identity
    registry.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(tmp_path / "ao.db")
    yield reg
    reg.close()


def test_an_unchanged_row_gives_the_same_record_and_a_changed_one_a_new_record(registry: Registry) -> None:
    registry.save_sessions([SessionRecord(id="shop-1", project="shop", kind="worker", phase=Phase.RUNNING,
                                          number=1, spec={"prompt": "a"}),
                            SessionRecord(id="shop-2", project="shop", kind="worker", phase=Phase.RUNNING, number=2)])
    first = registry.sessions()
    again = registry.sessions()
    assert [a is b for a, b in zip(first, again, strict=True)] == [True, True]
    registry.update_session("shop-1", spec={"prompt": "b"}, restarts=3)
    changed = registry.sessions()
    assert changed[0] is not first[0] and changed[0].spec == {"prompt": "b"} and changed[0].restarts == 3
    assert changed[1] is first[1]
    assert registry.session("shop-1") == changed[0]
    registry.update_session("shop-2", phase=Phase.TERMINATED)
    assert [s.id for s in registry.sessions()] == ["shop-1"]
    assert registry.sessions(include_terminated=True)[1].phase == Phase.TERMINATED


def test_a_row_changed_by_another_connection_is_read_afresh(registry: Registry, tmp_path: Path) -> None:
    registry.save_project(ProjectRecord(name="shop", prefix="shop", spec={"repo": "/r"}, spec_hash="h1",
                                        generation=1))
    before = registry.projects()[0]
    other = Registry.open(tmp_path / "ao.db")
    other.save_project(ProjectRecord(name="shop", prefix="shop", spec={"repo": "/s"}, spec_hash="h2", generation=2))
    other.close()
    after = registry.projects()[0]
    assert (before.spec, after.spec, after.generation) == ({"repo": "/r"}, {"repo": "/s"}, 2)


def test_updating_a_project_to_what_it_already_is_writes_nothing(registry: Registry) -> None:
    registry.save_project(ProjectRecord(name="shop", prefix="shop", spec={}, spec_hash="h", generation=2,
                                        observed_generation=1, updated_at=1.0))
    registry.update_project("shop", observed_generation=2)
    stamped = registry.project("shop")
    assert stamped is not None and stamped.observed_generation == 2 and stamped.updated_at != 1.0
    registry.update_project("shop", observed_generation=2)
    assert registry.project("shop") is stamped  # same row, so the same record: nothing was written


# ---------------------------------------------------------------------------------- desired state


def test_desired_sessions_are_reused_for_unchanged_records_and_rebuilt_for_changed_ones() -> None:
    project, one, two = proj(), wk("shop", "one", 0, prompt="a"), wk("shop", "two", 1, prompt="b")
    first = desired_projects([project], [one, two])
    again = desired_projects([project], [one, two])
    assert again[0].workers[0] is first[0].workers[0] and again[0].orchestrator is first[0].orchestrator
    edited = WorkerRecord(project="shop", name="one", owner="manifest", spec={"name": "one", "prompt": "c"},
                          position=0)
    changed = desired_projects([project], [edited, two])
    assert changed[0].workers[0].spec["prompt"] == "c"
    assert changed[0].workers[0].spec_hash != first[0].workers[0].spec_hash
    assert changed[0].workers[1] is first[0].workers[1]
    runtime = desired_projects([project], [edited, two], lambda declared: "zellij")
    assert runtime[0].workers[1].spec["runtime"] == "zellij" and runtime[0].workers[1].spec_hash != \
        first[0].workers[1].spec_hash


class Untouchable(Mapping[str, int]):
    """Session memory that fails when read: measuring it scans every process of the machine."""

    def __getitem__(self, key: str) -> int:
        raise AssertionError("the pass measured memory it did not need")

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the pass measured memory it did not need")

    def __len__(self) -> int:
        raise AssertionError("the pass measured memory it did not need")


def test_a_pass_that_starts_no_agent_does_not_measure_memory() -> None:
    dps = six(3)
    records, lives = _three_running_three_waiting(dps)
    actions = plan(with_capacity(world(dps, records, lives, {"shop": 7}), rss=Untouchable()))
    assert {a.verb for a in actions} == {Verb.WAIT}


def test_a_pass_that_starts_an_agent_still_measures_memory() -> None:
    dps = six(None)
    records, lives = _three_running_three_waiting(dps)
    roomy = Memory(total=64 << 30, available=32 << 30, reserve=1 << 30)
    with pytest.raises(AssertionError, match="measured memory"):
        plan(with_capacity(world(dps, records, lives, {"shop": 7}), memory=roomy, rss=Untouchable()))
