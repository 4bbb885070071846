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
from .common import MaxRunningOption, MemoryReserveOption, examples, service, set_limits
from .output import ShortFormat, emit, iso
from .report import reconcile_and_print


def reconcile(
    ctx: typer.Context,
    project: Annotated[list[str], typer.Option("--project", "-p", help="Only this project (repeatable).")] = [],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
    max_running: MaxRunningOption = None,
    memory_reserve: MemoryReserveOption = None,
) -> None:
    """Run one pass: create what is missing, relaunch dead agents, reap what is no longer declared."""
    set_limits(ctx, max_running, memory_reserve)
    code = reconcile_and_print(service(ctx), project, dry_run, output.value)
    if code:
        raise typer.Exit(code)


def _tool_version(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def _presets_in_use(ao: Any) -> dict[str, dict[str, str]]:
    """Each agent preset an active session runs, with that agent's environment (as the agent sees it)."""
    import os

    from ..activity.observe import preset_of

    used: dict[str, dict[str, str]] = {}
    for record in ao.sessions():
        preset = preset_of(record.spec)
        env = {k: v for k, v in ((record.spec or {}).get("agent") or {}).get("env", {}).items() if isinstance(v, str)}
        if preset and preset not in used:
            used[preset] = {**os.environ, **env}
    return used


def _agent_checks(ao: Any, check: Any) -> None:
    """For each preset in use: its program on the agent's PATH, its version, the first-run screens it would stop on."""
    from ..sessions.presets import PRESETS, first_run_problems

    for preset, env in sorted(_presets_in_use(ao).items()):
        binary = PRESETS[preset].binary if preset in PRESETS else None
        if binary is None:
            continue
        found = shutil.which(binary, path=env.get("PATH"))
        if found is None:
            check(f"agent {preset}", False, f"`{binary}` is not on the agents' PATH; install it or change spec.agent")
            continue
        try:
            out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10, check=False,
                                 env=env)
            version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"
        except (OSError, subprocess.TimeoutExpired):
            version = "?"
        problems = first_run_problems(preset, env)
        check(f"agent {preset}", True, f"{found} ({version})" + ("; " + "; ".join(problems) if problems else ""),
              warning=bool(problems))


def _too_open(data_dir: Any) -> list[tuple[str, str]]:
    """ao's own files (not the agents' worktrees) that group or others can access."""
    from ..paths import too_open

    root = data_dir.root
    candidates = [root, *(p for p in root.iterdir() if p.name != "worktrees")] if root.is_dir() else []
    sessions = root / "sessions"
    if sessions.is_dir():
        candidates += [f for d in sessions.iterdir() if d.is_dir() for f in (d, *d.iterdir())]
    found = [(str(p), mode) for p in candidates if (mode := too_open(p)) and not p.is_socket()]
    return found


def _capacity_checks(ao: Any, check: Any) -> None:
    """The machine's memory against the reserve, and the data dir's limit on running workers."""
    from ..wording import size

    settings = ao.limits()
    memory = ao.machine_memory()
    if memory is None:
        check("memory", True, "unknown on this platform: only the limits hold starts back")
    else:
        low = memory.available < memory.reserve
        check("memory", True, f"{size(memory.available)} available of {size(memory.total)}; reserve "
              f"{size(memory.reserve)} ({settings.memory_reserve}): "
              + ("below the reserve, no new agent starts" if low else "new agents may start"), warning=low)
    limit = settings.max_running
    check("max running", True, f"{limit} workers of all projects at once (--max-running)" if limit is not None
          else "no data-dir limit on running workers (--max-running)")


def _retention_checks(ao: Any, check: Any) -> None:
    """The retention policy and what the data dir holds under it (see reconcile/retention.py)."""
    from ..reconcile import retention

    last = retention.last_prune(ao.data_dir)
    when = f"; last pruned {iso(last['at'])}" if last else "; not pruned yet (the controller prunes hourly)"
    check("retention", True, f"{retention.load(ao.data_dir).summary()} (ao retention)")
    check("data held", True, retention.held_summary(retention.held(ao)) + when)


def _pty_check(check: Any) -> None:
    from ..runtime import pty

    figures = pty.usage()
    if figures is None:
        check("ptys", True, "limit unknown on this platform; each session holds one")
        return
    check("ptys", True, f"{pty.describe(figures)}; each session holds one"
          + ("; near the limit: new sessions will fail with NoPtyLeft (raise it with sysctl kernel.pty.max=...)"
             if figures.near else ""), warning=figures.near)


def doctor(
    ctx: typer.Context,
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Check what ao needs: tmux, git, the data dir, the registry, and each agent CLI in use (its
    program, version and the first-run screens it would stop on). Exit 1 if something is missing."""
    ao = service(ctx)
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str, *, warning: bool = False) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail, **({"warning": True} if warning else {})})

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
    wide = _too_open(ao.data_dir)
    if wide:
        shown = ", ".join(f"{path} ({mode})" for path, mode in wide[:5]) + (" ..." if len(wide) > 5 else "")
        check("permissions", True, f"readable by other users: {shown}; run `chmod -R go-rwx {ao.data_dir.root}`",
              warning=True)
    else:
        check("permissions", True, "data dir and its files are private (owner only)")
    try:
        check("registry", True, f"{ao.data_dir.db_path} (schema version {ao.schema_version()}, "
              f"{len(ao.projects())} projects, {len(ao.sessions())} active sessions)")
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        check("registry", False, f"{ao.data_dir.db_path}: {exc}")
    from ..reconcile import health

    controller = health.read(ao.data_dir)
    check("controller", controller is None or controller["healthy"],
          "no controller has run with this data dir" if controller is None else controller["summary"])
    _capacity_checks(ao, check)
    _pty_check(check)
    try:
        _retention_checks(ao, check)
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        check("retention", False, f"cannot read what the data dir holds: {exc}")
    try:
        _agent_checks(ao, check)
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        check("agents", False, f"cannot check the agents in use: {exc}")
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
            mark = "FAIL" if not c["ok"] else "WARN" if c.get("warning") else "ok"
            typer.echo(f"{mark:<4}  {c['check']:<{width}}  {c['detail']}")
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


def retention(
    ctx: typer.Context,
    events: Annotated[str | None, typer.Option("--events", metavar="AGE",
                      help="Age after which an event is forgotten (e.g. 14d, 36h, 2w; never keeps them).")] = None,
    max_events: Annotated[str | None, typer.Option("--max-events", metavar="N|none",
                          help="Newest events kept at most, whatever their age; none: no cap.")] = None,
    messages: Annotated[str | None, typer.Option("--messages", metavar="AGE",
                        help="Age after which a finished message (delivered, failed, ...) is forgotten; "
                             "queued ones always stay.")] = None,
    sessions: Annotated[str | None, typer.Option("--sessions", metavar="AGE",
                        help="Time after its end when a terminated session's row and its sessions/<id> "
                             "folder go; live sessions are never touched.")] = None,
    prune_now: Annotated[bool, typer.Option("--prune-now", help="Apply the policy now rather than at the "
                                            "controller's next hourly prune.")] = False,
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Show or change what ao forgets, and when: events, finished messages, terminated sessions and their
    folders. The policy is kept in the data dir; the controller applies it at most once an hour."""
    from ..reconcile import retention as policy

    changes = {"events": events, "max_events": max_events, "messages_age": messages, "sessions": sessions}
    current = policy.update(ctx.obj, **changes) if any(v is not None for v in changes.values()) \
        else policy.load(ctx.obj)
    ao = service(ctx)
    pruned = policy.prune(ao) if prune_now else None
    figures = policy.held(ao)
    last = policy.last_prune(ao.data_dir)
    if output == ShortFormat.json:
        emit({"policy": current.as_json(), "held": figures, "pruned": pruned.as_json() if pruned else None,
              "lastPrune": last}, "json")
        return
    typer.echo(f"policy: {current.summary()}")
    if pruned is not None:
        typer.echo(f"pruned: {pruned.summary()}")
    typer.echo(f"holds:  {policy.held_summary(figures)}")
    typer.echo(f"last pruned: {iso(last['at'])}" if last else "last pruned: never (the controller prunes hourly)")


def schema() -> None:
    """Print the JSON Schema of ao/v1 manifests (the same file as manifests/schema/ao-v1.schema.json)."""
    from ..manifest.schema import schema_text

    typer.echo(schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ao reconcile", "ao reconcile -p shop --dry-run", "ao reconcile --max-running 3"))(reconcile)
    app.command(epilog=examples("ao doctor", "ao doctor -o json"))(doctor)
    app.command(epilog=examples("ao schema > ao-v1.schema.json"))(schema)
    app.command(epilog=examples("ao retention", "ao retention --events 30d --max-events 500000",
                                "ao retention --sessions 1d --prune-now", "ao retention --messages never -o json"))(
        retention)
