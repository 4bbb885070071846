"""What `ao get`, `ao describe` and `ao events` print, without typer.

The typer commands in `get.py` call these, and so does the light path of `entry.py`, which runs the
common read commands without loading typer at all (see `cli/light.py`): both print the same bytes.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ..errors import AoError, NotFound
from ..registry.records import Phase
from ..sessions.secrets import redact
from ..views import event_view, message_view, project_view, session_view
from ..wording import size
from .output import (
    EventFormat,
    Format,
    ShortFormat,
    age,
    demo_manifest_hint,
    echo,
    emit,
    first_line,
    iso,
    line,
    table,
)

if TYPE_CHECKING:
    from ..paths import DataDir
    from ..reconcile.service import Service

WATCH_INTERVAL = 0.5


def service(data_dir: DataDir) -> Service:
    from ..reconcile.service import Service

    return Service(data_dir)


def _observe(ao: Service) -> dict[str, Any] | None:
    """Observed state for the AGENT column, or None (with a warning) when tmux cannot be asked."""
    try:
        return ao.observe()
    except AoError as exc:
        echo(f"warning: {exc}; the AGENT column shows '?'", err=True)
        return None


def _quiet_observe(ao: Service) -> dict[str, Any] | None:
    try:
        return ao.observe()
    except AoError:
        return None  # already warned when the watch began


def _session_views(ao: Service, records: list, live: dict[str, Any] | None,
                   activity: dict[str, Any] | None = None, *, memory: bool = True) -> list[dict[str, Any]]:
    """`memory`: measure each session's memory (a scan of every process), for the outputs that show it."""
    activity = ao.activity() if activity is None else activity
    rss = ao.memory_usage(live or {}) if memory else {}
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
                echo(json.dumps(view))
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


def sessions(data_dir: DataDir, project: str | None, output: Format, all_: bool, watch: bool = False) -> None:
    ao = service(data_dir)
    if project is not None and ao.project(project) is None:
        raise NotFound(f"no project named {project!r}", hint="see `ao get projects`")
    if watch:
        _watch_sessions(ao, project, all_, output)
        return
    records = ao.sessions(project, include_terminated=all_)
    activity = ao.activity()
    views = _session_views(ao, records, _observe(ao), activity, memory=output != Format.table)
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
        echo("No sessions." if project is None else f"No sessions in project {project}.", err=True)
        return
    table(headers, rows)


def projects(data_dir: DataDir, output: Format) -> None:
    ao = service(data_dir)
    projects = ao.projects()
    sessions = ao.sessions()
    live = _observe(ao) or {}
    views = [project_view(p, [s for s in sessions if s.project == p.name], live, ao.declared(p)) for p in projects]
    if output in (Format.json, Format.yaml):
        emit(views, output.value)
        return
    if not views:
        echo(f"No projects. Apply a manifest: {demo_manifest_hint()}", err=True)
        return
    headers = ["NAME", "SYNC", "HEALTH", "RUNNING", "GENERATION", "OBSERVED", "PENDING", "AGE"]
    rows = [[v["name"], v["sync"], v["health"], f"{v['running']}/{v['declared']}", v["generation"],
             v["observedGeneration"], v["pending"], age(p.created_at)] for v, p in zip(views, projects, strict=True)]
    if output == Format.wide:
        headers += ["PREFIX", "MAX WORKERS", "SOURCE"]
        for row, v in zip(rows, views, strict=True):
            row += [v["prefix"], v["maxRunningWorkers"], v["source"]]
    table(headers, rows)


def messages(data_dir: DataDir, project: str | None, session: str | None, limit: int, output: Format) -> None:
    views = [message_view(m) for m in service(data_dir).messages(project=project, session=session, limit=limit)]
    if output in (Format.json, Format.yaml):
        emit(views, output.value)
        return
    if not views:
        echo("No messages.", err=True)
        return
    rows = [[v["at"], v["from"] or "-", v["to"], v["outcome"],
             (v["body"].splitlines() or [""])[0][:60] + (" ..." if "\n" in v["body"] or len(v["body"]) > 60 else "")]
            for v in views]
    table(["TIME", "FROM", "TO", "STATE", "MESSAGE"], rows)


KINDS = ("session", "sessions", "project", "projects")


def describe(data_dir: DataDir, kind: str, name: str, output: ShortFormat) -> None:
    ao = service(data_dir)
    if kind in ("session", "sessions"):
        from ..sessions.agents import describe_argv  # its presets are for describe only
        record = ao.session(name)
        if record is None:
            raise NotFound(f"no session {name!r}", hint="see `ao get sessions --all`")
        observed = _observe(ao) or {}
        live = observed.get(name)
        view = session_view(record, live, ao.activity().get(name), ao.memory_usage(observed).get(name))
        from ..reconcile.status import conditions

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
        raise ValueError(f"unknown kind {kind!r}")  # the commands check KIND first
    view["events"] = [event_view(e) for e in events]
    view = redact(view)  # values of secret-looking keys in spec.agent.env are not printed
    if output == ShortFormat.json:
        emit(view, "json")
        return
    from .yaml_text import dump

    events_view = view.pop("events")
    echo(dump(view).rstrip())
    echo("events:" if events_view else "events: []")
    for event in events_view:
        line(f"  {event['at']}  {event['type']:<7} {event['reason']:<16} {event['message']}")


def events(data_dir: DataDir, project: str | None, session: str | None, limit: int, output: EventFormat,
           follow: bool) -> None:
    ao = service(data_dir)
    rows = ao.events(project=project, session=session, limit=limit)
    if output == EventFormat.json and not follow:
        emit([event_view(e) for e in rows], "json")
        return
    if not rows and not follow:
        echo("No events.", err=True)
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
                echo(json.dumps(event_view(event)))
            else:
                message = event.message.rstrip() if output == EventFormat.wide else first_line(event.message)
                head, *more = message.splitlines() or [""]
                line(f"{iso(event.at)}  {event.type:<7} {event.reason:<16} {event.session or event.project or '-':<20} "
                     f"{head}")
                for text in more:
                    line(text)
        time.sleep(WATCH_INTERVAL)
        rows = ao.events(project=project, session=session, after_id=last)
