"""`ao get`, `ao describe`, `ao events`: read desired and observed state."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AoError, NotFound
from ..reconcile.capacity import size
from ..reconcile.status import conditions
from ..registry.records import Phase
from ..sessions.agents import describe_argv
from ..sessions.secrets import redact
from ..views import event_view, message_view, project_view, session_view
from .common import demo_manifest_hint, examples, service
from .output import (
    EventFormat,
    Format,
    ShortFormat,
    age,
    emit,
    first_line,
    iso,
    line,
    table,
)

if TYPE_CHECKING:
    from ..reconcile.service import Service

WATCH_INTERVAL = 0.5

get_app = typer.Typer(help="List projects or sessions.", no_args_is_help=True)

ProjectFilter = Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")]
FormatOption = Annotated[Format, typer.Option("--output", "-o", help="table, wide, json or yaml.")]


def _observe(ao: Service) -> dict[str, Any] | None:
    """Observed state for the AGENT column, or None (with a warning) when tmux cannot be asked."""
    try:
        return ao.observe()
    except AoError as exc:
        typer.echo(f"warning: {exc}; the AGENT column shows '?'", err=True)
        return None


def _quiet_observe(ao: Service) -> dict[str, Any] | None:
    try:
        return ao.observe()
    except AoError:
        return None  # already warned when the watch began


def _session_views(ao: Service, records: list, live: dict[str, Any] | None,
                   activity: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    activity, rss = ao.activity() if activity is None else activity, ao.memory_usage(live or {})
    views = [session_view(r, (live or {}).get(r.id), activity.get(r.id), rss.get(r.id)) for r in records]
    if live is None:  # unknown, which is not the same as "missing"
        for view in views:
            view["agent"] = "?"
    return views


def _watch_sessions(ao: Service, project: str | None, all_: bool, output: Format) -> None:
    """Print the table once, then one line per session whenever its state changes (Ctrl-C ends)."""
    shown: dict[str, tuple] = {}
    first = True
    while True:
        records = ao.sessions(project, include_terminated=True)
        for record, view in zip(records, _session_views(ao, records, _observe(ao) if first else _quiet_observe(ao)),
                                strict=True):
            key = (view["phase"], view["agent"], view["activity"], view["activityReason"], view["restarts"],
                   view["reason"])
            if shown.get(record.id) == key:
                continue
            shown[record.id] = key
            if first and not all_ and record.phase == Phase.TERMINATED:
                continue  # already over when the watch began: remembered, not shown, and not a change later
            if output == Format.json:
                typer.echo(json.dumps(view))
            else:
                doing = " ".join(x for x in (view["activity"] or "-", view["activityReason"]) if x)
                line(f"{iso(time.time())}  {view['id']:<22} {view['phase']:<17} agent {view['agent']:<13} "
                     f"{doing:<30} restarts {view['restarts']:<3} {view['reason'] or ''}")
        first = False
        time.sleep(WATCH_INTERVAL)


def _activity_cell(view: dict[str, Any], row: Any, now: float) -> str:
    """`waiting 2h`: the activity and for how long (the reason is in -o wide and describe)."""
    if not view["activity"]:
        return "-"
    return f"{view['activity']} {age(row.since, now)}" if row is not None and view["activity"] != "exited" \
        else view["activity"]


def _waiting_for(view: dict[str, Any]) -> str:
    """What the agent waits for, or, for a session waiting to start, the limit that holds it."""
    if view["phase"] == Phase.PENDING and view["reason"] == "Capacity":
        return (view["message"] or "").removeprefix("waiting for capacity: ")
    return view["activityReason"] if view["activity"] == "waiting" else ""


def _sessions(ctx: typer.Context, project: str | None, output: Format, all_: bool, watch: bool = False) -> None:
    ao = service(ctx)
    if project is not None and ao.project(project) is None:
        raise NotFound(f"no project named {project!r}", hint="see `ao get projects`")
    if watch:
        _watch_sessions(ao, project, all_, output)
        return
    records = ao.sessions(project, include_terminated=all_)
    activity = ao.activity()
    views = _session_views(ao, records, _observe(ao), activity)
    if output in (Format.json, Format.yaml):
        emit(views, output.value)
        return
    now = time.time()
    headers = ["ID", "PROJECT", "KIND", "NAME", "ISSUE", "PHASE", "AGENT", "ACTIVITY", "RESTARTS", "AGE"]
    rows = [[v["id"], v["project"], v["kind"], v["name"], v["issue"], v["phase"], v["agent"],
             _activity_cell(v, activity.get(r.id), now), v["restarts"], age(r.created_at, now)]
            for v, r in zip(views, records, strict=True)]
    if output == Format.wide:
        headers += ["PID", "MEMORY", "BRANCH", "WORKSPACE", "REASON", "WAITING FOR"]
        for row, v in zip(rows, views, strict=True):
            row += [v["pid"], size(v["rssBytes"]), v["branch"], v["workspace"], v["reason"], _waiting_for(v)]
    if not rows:
        typer.echo("No sessions." if project is None else f"No sessions in project {project}.", err=True)
        return
    table(headers, rows)


@get_app.command("sessions", epilog=examples(
    "ao get sessions", "ao get sessions -p shop -o wide", "ao get sessions -w",
    "ao get sessions -o json | jq '.[].phase'"))
def get_sessions(
    ctx: typer.Context,
    project: ProjectFilter = None,
    output: FormatOption = Format.table,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include terminated sessions.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep printing changes (Ctrl-C ends).")] = False,
) -> None:
    """List sessions: phase from the registry, AGENT from the live runtime."""
    _sessions(ctx, project, output, all_, watch)


@get_app.command("projects", epilog=examples("ao get projects", "ao get projects -o yaml"))
def get_projects(ctx: typer.Context, output: FormatOption = Format.table) -> None:
    """List projects with their generation and session counts."""
    ao = service(ctx)
    projects = ao.projects()
    sessions = ao.sessions()
    live = _observe(ao) or {}
    views = [project_view(p, [s for s in sessions if s.project == p.name], live, ao.declared(p)) for p in projects]
    if output in (Format.json, Format.yaml):
        emit(views, output.value)
        return
    if not views:
        typer.echo(f"No projects. Apply a manifest: {demo_manifest_hint()}", err=True)
        return
    headers = ["NAME", "SYNC", "HEALTH", "RUNNING", "GENERATION", "OBSERVED", "PENDING", "AGE"]
    rows = [[v["name"], v["sync"], v["health"], f"{v['running']}/{v['declared']}", v["generation"],
             v["observedGeneration"], v["pending"], age(p.created_at)] for v, p in zip(views, projects, strict=True)]
    if output == Format.wide:
        headers += ["PREFIX", "MAX WORKERS", "SOURCE"]
        for row, v in zip(rows, views, strict=True):
            row += [v["prefix"], v["maxRunningWorkers"], v["source"]]
    table(headers, rows)


@get_app.command("messages", epilog=examples("ao get messages", "ao get messages -s shop-orchestrator",
                                              "ao get messages -p shop -o json"))
def get_messages(
    ctx: typer.Context,
    project: ProjectFilter = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Messages to or from this session.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many recent messages.")] = 50,
    output: FormatOption = Format.table,
) -> None:
    """List messages sent with `ao send` (and by ao itself), with their outcome."""
    views = [message_view(m) for m in service(ctx).messages(project=project, session=session, limit=limit)]
    if output in (Format.json, Format.yaml):
        emit(views, output.value)
        return
    if not views:
        typer.echo("No messages.", err=True)
        return
    rows = [[v["at"], v["from"] or "-", v["to"], v["outcome"],
             (v["body"].splitlines() or [""])[0][:60] + (" ..." if "\n" in v["body"] or len(v["body"]) > 60 else "")]
            for v in views]
    table(["TIME", "FROM", "TO", "STATE", "MESSAGE"], rows)


# kubectl-style singular forms
get_app.command("session", hidden=True)(get_sessions)
get_app.command("project", hidden=True)(get_projects)
get_app.command("message", hidden=True)(get_messages)


def describe(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="`project` or `session`.")],
    name: Annotated[str, typer.Argument(help="Project name or session ID.")],
    output: Annotated[ShortFormat, typer.Option("--output", "-o", help="text or json.")] = ShortFormat.text,
) -> None:
    """Show everything about one project or session, with its recent events."""
    ao = service(ctx)
    if kind in ("session", "sessions"):
        record = ao.session(name)
        if record is None:
            raise NotFound(f"no session {name!r}", hint="see `ao get sessions --all`")
        observed = _observe(ao) or {}
        live = observed.get(name)
        view = session_view(record, live, ao.activity().get(name), ao.memory_usage(observed).get(name))
        view["conditions"] = [{**c, "lastTransitionTime": iso(c["lastTransitionTime"])} for c in conditions(record, live)]
        view["spec"] = record.spec
        view["command"] = describe_argv(record.argv) if record.argv else None
        view["argv"] = record.argv
        events = ao.events(session=name, limit=20)
    elif kind in ("project", "projects"):
        project = ao.project(name)
        if project is None:
            raise NotFound(f"no project {name!r}", hint="see `ao get projects`")
        view = project_view(project, ao.sessions(name), _observe(ao) or {}, ao.declared(project))
        view["deleted"] = bool(project.deleted)
        view["workers"] = [{"name": w.name, "owner": w.owner, **w.spec} for w in ao.workers(name)]
        view["sessionIds"] = [s.id for s in ao.sessions(name)]
        events = ao.events(project=name, limit=20)
    else:
        raise typer.BadParameter(f"unknown kind {kind!r}; expected project or session", param_hint="KIND")
    view["events"] = [event_view(e) for e in events]
    view = redact(view)  # values of secret-looking keys in spec.agent.env are not printed
    if output == ShortFormat.json:
        emit(view, "json")
        return
    import yaml

    events_view = view.pop("events")
    typer.echo(yaml.safe_dump(view, sort_keys=False, allow_unicode=True, width=100).rstrip())
    typer.echo("events:" if events_view else "events: []")
    for event in events_view:
        line(f"  {event['at']}  {event['type']:<7} {event['reason']:<16} {event['message']}")


def events(
    ctx: typer.Context,
    project: ProjectFilter = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Only this session.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many recent events.")] = 50,
    output: Annotated[EventFormat, typer.Option(
        "--output", "-o", help="text, wide (whole multi-line messages) or json.")] = EventFormat.text,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C ends).")] = False,
) -> None:
    """Show recent events: what ao did and why (creations, restarts, reaps, failures)."""
    ao = service(ctx)
    rows = ao.events(project=project, session=session, limit=limit)
    if output == EventFormat.json and not follow:
        emit([event_view(e) for e in rows], "json")
        return
    if not rows and not follow:
        typer.echo("No events.", err=True)
        return
    if not follow:
        table(["TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"],
              [[iso(e.at), e.type, e.reason, e.session or e.project, first_line(e.message)] for e in rows])
        if output == EventFormat.wide:
            for e in rows:
                if "\n" in e.message.strip():
                    line("")
                    line(f"{iso(e.at)} {e.reason} {e.session or e.project}:")
                    for text in e.message.rstrip().splitlines():
                        line(text)
        return
    last = 0
    while True:
        for event in rows:
            last = event.id
            if output == EventFormat.json:
                typer.echo(json.dumps(event_view(event)))
            else:
                message = event.message.rstrip() if output == EventFormat.wide else first_line(event.message)
                head, *more = message.splitlines() or [""]
                line(f"{iso(event.at)}  {event.type:<7} {event.reason:<16} {event.session or event.project or '-':<20} "
                     f"{head}")
                for text in more:
                    line(text)
        time.sleep(WATCH_INTERVAL)
        rows = ao.events(project=project, session=session, after_id=last)


def register(app: typer.Typer) -> None:
    app.add_typer(get_app, name="get")
    app.command(epilog=examples("ao describe session shop-1", "ao describe project shop -o json"))(describe)
    app.command(epilog=examples("ao events", "ao events -p shop -n 20", "ao events -f",
                                                        "ao events -s shop-2 -o json"))(events)
