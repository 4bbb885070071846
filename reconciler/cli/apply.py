"""`ao apply`, `ao diff`, `ao delete`: change desired state from manifests."""

from __future__ import annotations

import difflib
from typing import Annotated

import typer

from ..errors import EXIT_FAILURE, UsageError
from .common import MaxRunningOption, MemoryReserveOption, examples, service, set_limits
from .output import ShortFormat
from .report import print_apply, print_pass

FilesOption = Annotated[
    list[str],
    typer.Option("--filename", "-f", help="Manifest file or directory (recursive); `-` reads stdin. Repeatable."),
]
OutputOption = Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")]


def _load(paths: list[str], *, preflight: bool = False):  # type: ignore[no-untyped-def]
    from ..manifest.loader import load_paths

    if not paths:
        raise UsageError("no manifests given", hint="pass -f FILE, -f DIR or -f - (stdin)")
    loaded = load_paths(paths)
    if preflight:  # repo and runtime checks: a mistake is reported before anything is recorded
        from ..manifest.preflight import check

        check(loaded)
    return loaded


def apply(
    ctx: typer.Context,
    filename: FilesOption = [],  # noqa: B006 - typer reads the default
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show what would change; change nothing.")] = False,
    output: OutputOption = ShortFormat.text,
    wait: Annotated[bool, typer.Option("--wait", help="Return once the projects are Synced and Healthy.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="With --wait: seconds before failing (exit 1).")] = 120.0,
    max_running: MaxRunningOption = None,
    memory_reserve: MemoryReserveOption = None,
) -> None:
    """Record the desired state from manifests, then converge the affected projects once.

    Every document is validated first; if any is invalid nothing is applied (exit 2).
    Workers that a manifest declared before and no longer declares are reaped; workers
    added with `ao spawn` are kept.
    """
    loaded = _load(filename, preflight=True)
    if not dry_run:
        set_limits(ctx, max_running, memory_reserve)
    ao = service(ctx)
    report = ao.apply(loaded, dry_run=dry_run)
    print_apply(report, output.value)
    if wait and not dry_run:
        from .control import _wait_until, project_blocker, wait_failure

        names = [p.name for p in loaded]
        blocker = _wait_until(lambda: project_blocker(ao, names), timeout)
        if blocker is not None:
            typer.echo(wait_failure(blocker, timeout), err=True)
            raise typer.Exit(EXIT_FAILURE)
        typer.echo(f"{', '.join('project/' + n for n in names)} synced and healthy", err=output == ShortFormat.json)
    elif not report.reconcile.ok:
        raise typer.Exit(EXIT_FAILURE)


def _spec_text(spec: dict, workers: list[dict]) -> list[str]:  # type: ignore[type-arg]
    import yaml

    return yaml.safe_dump({**spec, "workers": workers}, sort_keys=True).splitlines(keepends=True)


def diff(
    ctx: typer.Context,
    filename: FilesOption = [],  # noqa: B006
    output: OutputOption = ShortFormat.text,
) -> None:
    """Show what `ao apply` would change. Exit 0: no difference, 1: differences, 2: error."""
    loaded = _load(filename, preflight=True)
    ao = service(ctx)
    report = ao.apply(loaded, dry_run=True)
    if output == ShortFormat.text:
        for project in loaded:
            old = ao.project(project.name)
            spec = project.manifest.spec.model_dump(mode="json")
            spec["repo"] = str(project.repo_path())
            new_workers = spec.pop("workers")
            before = [] if old is None or old.deleted else _spec_text(
                old.spec, [w.spec for w in ao.manifest_workers(project.name)]
            )
            after = _spec_text(spec, new_workers)
            typer.echo("".join(difflib.unified_diff(before, after, f"project/{project.name} (applied)",
                                                    f"project/{project.name} ({project.source})")), nl=False)
    print_apply(report, output.value)
    if report.changed:
        raise typer.Exit(1)


def delete(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Argument(help="`project` or `session`.")] = None,
    name: Annotated[str | None, typer.Argument(help="Project name or session ID.")] = None,
    filename: FilesOption = [],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be reaped; change nothing.")] = False,
    output: OutputOption = ShortFormat.text,
) -> None:
    """Delete projects (and reap all their sessions), or one worker added with `ao spawn`."""
    if filename and (kind or name):
        raise UsageError("give either -f PATH or a kind and name, not both")
    if kind in ("session", "sessions") and name:
        if dry_run:
            raise UsageError("--dry-run is not supported for sessions")
        report = service(ctx).delete_session(name)
        if output == ShortFormat.text and name not in {a.session_id for a in report.actions}:
            typer.echo(f"session/{name} already terminated")
        print_pass(report, output.value)
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE)
        return
    if filename:
        names = [p.name for p in _load(filename)]
    elif kind in ("project", "projects") and name:
        names = [name]
    else:
        raise UsageError("nothing to delete",
                         hint="use `ao delete project NAME`, `ao delete session ID` or `ao delete -f FILE`")
    report = service(ctx).delete_projects(names, dry_run=dry_run)
    print_apply(report, output.value)
    if not report.reconcile.ok:
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ao apply -f shop.yaml", "ao apply -f manifests/ --dry-run", "cat shop.yaml | ao apply -f -",
                                 "ao apply -f shop.yaml --wait --timeout 60", "ao apply -f shop.yaml -o json"))(apply)
    app.command(epilog=examples("ao diff -f shop.yaml", "ao diff -f manifests/ && echo in sync"))(diff)
    app.command(epilog=examples("ao delete project shop", "ao delete session shop-7", "ao delete -f shop.yaml --dry-run"))(delete)

