"""`ao spawn` and `ao orchestrator ensure`: what an orchestrator (or a person) runs to grow the team."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated

import typer

from ..errors import EXIT_FAILURE
from ..sessions.presets import PRESETS
from .common import examples, service
from .output import ShortFormat, emit
from .report import print_pass

orchestrator_app = typer.Typer(
    help="The project's canonical orchestrator session.",
    no_args_is_help=True,
    epilog=examples("ao orchestrator ensure -p shop"),
)
ProjectOption = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
OutputOption = Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")]
# The presets as choices, built as manifest/models.py builds its `Preset` (which would load pydantic here).
Preset = StrEnum("Preset", {name.upper().replace("-", "_"): name for name in PRESETS})  # type: ignore[misc]


def spawn(
    ctx: typer.Context,
    project: ProjectOption,
    issue: Annotated[str | None, typer.Option("--issue", "-i", help="Issue number or key.")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="The worker's task.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Worker name (default issue-<I> or task).")] = None,
    agent: Annotated[Preset | None, typer.Option("--agent", "-a", help="Agent preset (default: the project's).")] = None,
    output: OutputOption = ShortFormat.text,
) -> None:
    """Add a worker to a project and start it; prints its session ID.

    The worker belongs to `ao spawn`: re-applying the project's manifest keeps it.
    `ao delete session ID` removes it.
    """
    result = service(ctx).spawn(project, issue=issue, prompt=prompt, name=name,
                                agent=agent.value if agent else None)
    if output == ShortFormat.json:
        emit({"project": result.project, "worker": result.worker, "id": result.session_id,
              "orchestrator": result.orchestrator_id, "ok": result.report.ok}, "json")
    else:
        # What the spawn did, not the whole project's pass: the new session and anything that failed.
        mine = [o for o in result.report.outcomes if o.action.session_id == result.session_id or not o.ok]
        print_pass(replace(result.report, outcomes=mine, unchanged=[], actions=[o.action for o in mine]), "text")
        typer.echo(f"worker {result.worker} is session {result.session_id}")
        if result.orchestrator_id:
            typer.echo(f"its orchestrator is {result.orchestrator_id}; message it with: "
                       f'ao send --session {result.orchestrator_id} --message "..."')
    if not result.report.ok:
        raise typer.Exit(EXIT_FAILURE)


@orchestrator_app.command("ensure", epilog=examples("ao orchestrator ensure -p shop",
                                                    "ao orchestrator ensure -p shop -o json"))
def ensure(ctx: typer.Context, project: ProjectOption, output: OutputOption = ShortFormat.text) -> None:
    """Make sure the project's one orchestrator runs: reuse it, relaunch it in place, or create it."""
    session_id, status = service(ctx).ensure_orchestrator(project)
    if output == ShortFormat.json:
        emit({"id": session_id, "status": status}, "json")
    else:
        typer.echo(f"session/{session_id} {status}")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples('ao spawn -p shop --issue 123 --prompt "Fix the login redirect loop"',
                                "ao spawn -p shop --name docs --agent codex --prompt \"Document the API\"",
                                "ao spawn -p shop -i 7 -o json"))(spawn)
    app.add_typer(orchestrator_app, name="orchestrator")
