"""`ao serve`: the HTTP API and dashboard, with the controller loop, in one command."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from ..errors import AoError, UsageError
from .common import examples


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8777,
    no_controller: Annotated[bool, typer.Option("--no-controller", help="Serve only; do not run the controller loop.")] = False,
    watch: Annotated[list[Path], typer.Option("--watch", "-w", help="Manifest folder for the controller (repeatable).")] = [],  # noqa: B006
    resync: Annotated[float, typer.Option("--resync", min=0.2, help="Controller: seconds between passes.")] = 2.0,
) -> None:
    """Serve the HTTP API (/api/v1) and the dashboard (/), and run the controller loop.

    Every API request needs the token in $AO_DATA_DIR/api-token as `Authorization: Bearer
    <token>`. The dashboard URL printed at start carries a one-time login code that sets a
    cookie. The OpenAPI description is at /api/v1/openapi.json.
    """
    import uvicorn

    from ..api.app import create_app
    from ..api.auth import load_or_create_token
    from ..reconcile.controller import Controller, Settings, format_line
    from ..reconcile.ratelimit import LaunchLimiter
    from ..reconcile.service import Service

    folders = [folder.resolve() for folder in watch]
    if any(not f.is_dir() for f in folders):
        raise UsageError("--watch takes folders of manifests")
    data_dir = ctx.obj
    token = load_or_create_token(data_dir)
    app = create_app(data_dir, token)
    loop = None
    if not no_controller:
        loop = Controller(Service(data_dir, limiter=LaunchLimiter(10.0), on_wait=lambda _: None),
                          Settings(watch=folders, resync=resync),
                          log=lambda entry: typer.echo(format_line(entry, "text"), err=True))

        def run_controller() -> None:
            from ..reconcile import health

            try:
                loop.run()
            except AoError as exc:
                typer.echo(f"controller not started: {exc}", err=True)
            except Exception as exc:  # noqa: BLE001 - never die silently: /healthz must say so
                typer.echo(f"controller stopped by an error: {exc!r}", err=True)
                health.write(data_dir, {"state": "running", "at": 0, "ok": False, "error": f"crashed: {exc!r}"})

        threading.Thread(target=run_controller, name="ao-controller", daemon=True).start()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    typer.echo(f"ao API:        http://{shown}:{port}/api/v1 (token in {data_dir.root / 'api-token'})")
    typer.echo(f"ao dashboard:  http://{shown}:{port}/login?code={app.state.codes.issue()}  (one-time link)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if loop is not None:
            loop.request_stop()


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ao serve", "ao serve --port 9000 --watch manifests/",
                                "ao serve --no-controller"))(serve)
