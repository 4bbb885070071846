"""`ao reconcile`, `ao doctor`, `ao schema`."""

from __future__ import annotations

import platform
import shutil
import subprocess
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import EXIT_FAILURE, AoError
from ..runtime.fleet import fleet_for
from .common import examples, service
from .output import ShortFormat, emit
from .report import print_pass


def reconcile(
    ctx: typer.Context,
    project: Annotated[list[str], typer.Option("--project", "-p", help="Only this project (repeatable).")] = [],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Run one pass: create what is missing, relaunch dead agents, reap what is no longer declared."""
    ao = service(ctx)
    if project:
        known = {p.name for p in ao.registry.projects()}
        unknown = [p for p in project if p not in known]
        if unknown:
            from ..errors import NotFound

            raise NotFound(f"no project named {', '.join(unknown)}", hint="see `ao get projects`")
    report = ao.reconcile(project or None, dry_run=dry_run)
    print_pass(report, output.value)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


def _tool_version(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def doctor(
    ctx: typer.Context,
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Check what ao needs: tmux, git, the data dir and the registry. Exit 1 if something is missing."""
    ao = service(ctx)
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail})

    check("ao", True, f"{__version__} (Python {platform.python_version()})")
    tmux = _tool_version(["tmux", "-V"])
    check("tmux", tmux is not None, tmux or "not installed: apt-get install tmux (Debian/Ubuntu), brew install tmux")
    git = _tool_version(["git", "--version"])
    check("git", git is not None, git or "not installed: apt-get install git")
    zellij = _tool_version(["zellij", "--version"])
    zellij_ok = zellij is not None and ao.resolve_runtime("auto") == "zellij"
    check("zellij", True, (zellij + (" (usable)" if zellij_ok else " (too old: ao needs 0.44 or newer)"))
          if zellij else "not installed (optional)")
    auto = ao.resolve_runtime("auto")
    usable = {"tmux": tmux is not None, "zellij": zellij_ok}
    check("runtime", usable.get(auto, False),
          f"auto resolves to {auto}" if usable.get(auto) else f"auto resolves to {auto}, which is not usable here")
    check("data dir", True, str(ao.data_dir.root))
    try:
        registry = ao.registry
        check("registry", True, f"{ao.data_dir.db_path} (schema version {registry.schema_version}, "
              f"{len(registry.projects())} projects, {len(registry.sessions())} active sessions)")
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        check("registry", False, f"{ao.data_dir.db_path}: {exc}")
    servers = {"tmux": ao.data_dir.tmux_socket, "zellij": ao.data_dir.zellij_socket_dir}
    fleet = fleet_for(ao.data_dir)
    for name, where in servers.items():
        if not fleet.installed(name):
            continue
        try:
            check(f"{name} server", True, f"{where} ({len(fleet.runtimes[name].observe())} sessions)")
        except AoError as exc:
            check(f"{name} server", False, f"{where}: {exc}")
    ok = all(c["ok"] for c in checks)
    if output == ShortFormat.json:
        emit({"ok": ok, "checks": checks}, "json")
    else:
        width = max(len(c["check"]) for c in checks)
        for c in checks:
            typer.echo(f"{'ok' if c['ok'] else 'FAIL':<4}  {c['check']:<{width}}  {c['detail']}")
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


def schema() -> None:
    """Print the JSON Schema of ao/v1 manifests (the same file as manifests/schema/ao-v1.schema.json)."""
    from ..manifest.schema import schema_text

    typer.echo(schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ao reconcile", "ao reconcile -p shop --dry-run"))(reconcile)
    app.command(epilog=examples("ao doctor", "ao doctor -o json"))(doctor)
    app.command(epilog=examples("ao schema > ao-v1.schema.json"))(schema)
