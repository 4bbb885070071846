"""Printing the result of a pass: one line per object, as `kind/name result (reason)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..views import QUIET_RESULTS, session_rows
from .output import echo, emit

if TYPE_CHECKING:
    from ..reconcile.applying import ApplyReport
    from ..reconcile.reconcile_pass import PassReport


def _line(kind: str, name: str, result: str, reason: str | None, dry_run: bool) -> str:
    text = f"{kind}/{name} {result}"
    if dry_run and result != "unchanged":
        text += " (dry run)"
    if reason and result not in QUIET_RESULTS:
        first = reason.splitlines()[0]
        text += f": {first}"
    return text


def print_pass(report: PassReport, fmt: str, projects: list[dict[str, Any]] | None = None) -> None:
    from ..reconcile.plan import Verb

    rows = session_rows(report)
    if fmt == "json":
        emit({"dryRun": report.dry_run, "projects": projects or [], "sessions": rows}, "json")
        return
    for project in projects or []:
        echo(_line("project", project["name"], project["status"], None, report.dry_run))
    for row in rows:
        if row["action"] == Verb.WAIT and not report.dry_run:
            row["result"] = "waiting"
        line = _line("session", row["id"], row["result"], row["reason"], report.dry_run)
        echo(line, err=not row["ok"])


def print_apply(report: ApplyReport, fmt: str) -> None:
    projects = [{"name": p.name, "status": p.status} for p in report.projects]
    print_pass(report.reconcile, fmt, projects)


def reconcile_and_print(ao: Any, projects: list[str], dry_run: bool, output: str) -> int:
    """`ao reconcile`, for both the typer command and the light path: check the named projects
    exist, run one pass, print it; the exit code."""
    from ..errors import EXIT_FAILURE, NotFound

    if projects:
        known = {p.name for p in ao.projects()}
        unknown = [p for p in projects if p not in known]
        if unknown:
            raise NotFound(f"no project named {', '.join(unknown)}", hint="see `ao get projects`")
    report = ao.reconcile(projects or None, dry_run=dry_run)
    print_pass(report, output)
    return EXIT_FAILURE if not report.ok else 0
