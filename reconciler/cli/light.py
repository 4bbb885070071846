"""The light path of the read commands and of `ao reconcile`: `ao get sessions|projects|messages`,
`ao describe`, `ao events` and `ao reconcile` run without typer (whose import and per-option validation,
through pydantic, cost more than the command itself).

Only command lines this parser fully understands take it; anything else (help, a typo, an unknown
option, a value it does not accept, `--watch`/`--follow`) returns None and the full typer application
handles it, so help texts and error messages stay typer's own. The output is the same bytes either
way: both paths call `reads.py`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FLAG = "flag"
REPEATED = "repeated"  # an option that may be given more than once: its values are collected


@dataclass(frozen=True)
class Command:
    """A command line shape: its options (name -> (destination, kind)), positional names, defaults."""

    options: dict[str, tuple[str, Any]]
    positionals: tuple[str, ...]
    defaults: dict[str, Any]
    run: Callable[..., int | None]  # (data dir, parsed values) -> exit code, None for 0


def _choices(values: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda value: value if value in values else None


def _count(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def _text(value: str) -> str:
    return value


def _commands() -> dict[tuple[str, ...], Command]:
    from . import reads
    from .output import EventFormat, Format, ShortFormat

    formats = _choices(tuple(f.value for f in Format))
    project = {"--project": ("project", _text), "-p": ("project", _text)}
    table_output = {"--output": ("output", formats), "-o": ("output", formats)}
    sessions = Command({**project, **table_output, "--all": ("all_", FLAG), "-a": ("all_", FLAG)}, (),
                       {"project": None, "output": "table", "all_": False},
                       lambda d, a: reads.sessions(d, a["project"], Format(a["output"]), a["all_"]))
    projects = Command(dict(table_output), (), {"output": "table"},
                       lambda d, a: reads.projects(d, Format(a["output"])))
    messages = Command({**project, **table_output, "--session": ("session", _text), "-s": ("session", _text),
                        "--limit": ("limit", _count), "-n": ("limit", _count)}, (),
                       {"project": None, "session": None, "limit": 50, "output": "table"},
                       lambda d, a: reads.messages(d, a["project"], a["session"], a["limit"], Format(a["output"])))
    short = _choices(tuple(f.value for f in ShortFormat))
    describe = Command({"--output": ("output", short), "-o": ("output", short)}, ("kind", "name"),
                       {"output": "text"},
                       lambda d, a: reads.describe(d, a["kind"], a["name"], ShortFormat(a["output"])))
    event_formats = _choices(tuple(f.value for f in EventFormat))
    events = Command({**project, "--session": ("session", _text), "-s": ("session", _text),
                      "--limit": ("limit", _count), "-n": ("limit", _count),
                      "--output": ("output", event_formats), "-o": ("output", event_formats)}, (),
                     {"project": None, "session": None, "limit": 50, "output": "text"},
                     lambda d, a: reads.events(d, a["project"], a["session"], a["limit"], EventFormat(a["output"]),
                                               False))
    names = {"--project": ("project", REPEATED), "-p": ("project", REPEATED), "--dry-run": ("dry_run", FLAG),
             "--output": ("output", short), "-o": ("output", short)}
    reconcile = Command(names, (), {"project": [], "dry_run": False, "output": "text"}, _reconcile)
    return {("reconcile",): reconcile, ("get", "sessions"): sessions, ("get", "session"): sessions, ("get", "projects"): projects,
            ("get", "project"): projects, ("get", "messages"): messages, ("get", "message"): messages,
            ("describe",): describe, ("events",): events}


# The command words the light path may take; checked before anything is imported.
WORDS = {"get": ("sessions", "session", "projects", "project", "messages", "message"), "describe": (), "events": (),
         "reconcile": ()}
# Options that may come from the environment: with one of these set, the full CLI reads it.
ENVIRONMENT = ("AO_MAX_RUNNING", "AO_MEMORY_RESERVE")


def parse(command: Command, args: list[str]) -> dict[str, Any] | None:
    """The options and arguments of `args`, or None when the full CLI should handle them."""
    values = dict(command.defaults)
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positionals += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            pairs = [(name, inline if eq else None)]
        else:  # a cluster of short options, the last one perhaps with its value attached: -ao json, -ojson
            pairs = []
            for j, letter in enumerate(arg[1:], start=1):
                option = command.options.get(f"-{letter}")
                if option is not None and option[1] is not FLAG:
                    pairs.append((f"-{letter}", arg[j + 1:] or None))
                    break
                pairs.append((f"-{letter}", None))
        for name, inline in pairs:
            option = command.options.get(name)
            if option is None:
                return None
            dest, kind = option
            if kind is FLAG:
                if inline is not None and name.startswith("--"):
                    return None
                values[dest] = True
                continue
            if inline is None:
                if i >= len(args) or args[i].startswith("-"):
                    return None
                inline, i = args[i], i + 1
            if kind is REPEATED:
                values[dest] = [*values[dest], inline]
                continue
            value = kind(inline)
            if value is None:
                return None
            values[dest] = value
    if len(positionals) != len(command.positionals):
        return None
    values.update(zip(command.positionals, positionals, strict=True))
    if "kind" in values and values["kind"] not in ("session", "sessions", "project", "projects"):
        return None
    return values


def run(data_dir: str | None, argv: list[str]) -> int | None:
    """Run a read command without typer; None when this path does not take `argv`."""
    if not argv or argv[0] not in WORDS or any(key.startswith("_AO_COMPLETE") or key in ENVIRONMENT
                                                for key in os.environ):
        return None
    words = (argv[0], argv[1]) if WORDS[argv[0]] and len(argv) > 1 else (argv[0],)
    if WORDS[argv[0]] and (len(words) < 2 or words[1] not in WORDS[argv[0]]):
        return None
    if data_dir == "" or (data_dir is None and os.environ.get("AO_DATA_DIR") == ""):
        return None  # the full CLI decides what an empty value means
    command = _commands()[words]
    values = parse(command, argv[len(words):])
    if values is None:
        return None
    return _run(command, values, data_dir)


def _run(command: Command, values: dict[str, Any], data_dir: str | None) -> int:
    import sqlite3

    from ..errors import AoError, RegistryUnreadable
    from ..paths import DataDir

    resolved = DataDir.resolve(data_dir)
    try:
        try:
            code = command.run(resolved, values)
        except sqlite3.DatabaseError as exc:  # damage found after the registry was opened
            raise RegistryUnreadable(resolved.db_path, exc) from exc
    except AoError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # As click does: a reader that went away (`| head`) is not an error worth a traceback.
        sys.stdout = _Quiet(sys.stdout)
        sys.stderr = _Quiet(sys.stderr)
        return 1
    return code or 0


def _reconcile(data_dir: Any, values: dict[str, Any]) -> int:
    """`ao reconcile` without --max-running and --memory-reserve (those go to the full CLI)."""
    from .reads import service
    from .report import reconcile_and_print

    return reconcile_and_print(service(data_dir), values["project"], values["dry_run"], values["output"])


def report(exc: Any) -> int:
    """An ao error on stderr (a multi-line one lists one problem per line, then its summary); its exit code."""
    *details, summary = str(exc).splitlines() or [""]
    for line in details:
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"error: {summary}\n")
    sys.stderr.flush()
    return exc.exit_code


class _Quiet:
    """A stream whose flush ignores a closed pipe (so exiting does not print a second error)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            pass
