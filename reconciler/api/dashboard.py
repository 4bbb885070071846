"""The dashboard: server-rendered pages (reconciler/api/pages.py), fragments the page swaps in when the
event stream (/api/v1/events, one per page) says something changed, and the live terminal
(reconciler/api/terminal.py). Every action calls the JSON API, so the browser and scripts do the same."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..reconcile.service import Service
from ..views import project_view, session_view
from . import auth, pages, terminal
from .attention import attention_list
from .deps import ServiceDep

STATIC = Path(__file__).parent / "static"
# The pages carry buttons that act: no other site may frame them (clickjacking).
PAGE_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                "Cache-Control": "no-store"}
HISTORY_LIMIT = 100


def _html(content: str, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def login_page() -> HTMLResponse:
    body = ("<h1>ao</h1><p>This dashboard needs its token. Open the URL that <code>ao serve</code> printed "
            "when it started, or read the token from <code>$AO_DATA_DIR/api-token</code>.</p>")
    return _html("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ao</title>"
                        f"<link rel='stylesheet' href='/static/ao.css'></head><body><main>{body}</main></body></html>",
                        status_code=401)


def load(ao: Service) -> pages.Fleet:
    """Every session's view with its activity, read once per request (attention covers all projects)."""
    live, activity = ao.observe(), ao.activity()
    views = [session_view(r, live.get(r.id), activity.get(r.id)) for r in ao.sessions()]
    owners = {(w.project, w.name): w.owner for w in ao.workers()}
    return pages.Fleet(views, attention_list(views), owners)


def screens(ao: Service, views: list[dict]) -> dict[str, str]:
    """The visible screen of each running agent, in a few runtime calls for the whole table."""
    ids = [v["id"] for v in views if v.get("pid")]
    try:
        return ao.runtime.screens(ids) if ids else {}
    except Exception:  # noqa: BLE001 - the table still renders when the multiplexer cannot be asked
        return {}


def project_rows(ao: Service, fleet: pages.Fleet) -> str:
    live = ao.observe()
    rows = []
    for record in ao.projects():
        view = project_view(record, ao.sessions(record.name), live)
        name = html.escape(record.name)
        counts = Counter(v.get("activity") or "none" for v in fleet.of(record.name))
        activity = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "-"
        rows.append(f"<tr data-project='{name}'><td><a href='/projects/{name}'>{name}</a></td>"
                    f"<td>{pages.badge(view['sync'])}</td><td>{pages.badge(view['health'])}</td>"
                    f"<td>{view['running']}/{view['sessions']}</td><td>{html.escape(activity)}</td>"
                    f"<td>{view['generation']}</td></tr>")
    return "".join(rows) or ("<tr><td colspan='6' class='muted'>No projects yet: "
                             "<code>ao apply -f examples/demo.yaml</code></td></tr>")


def _last_event(ao: Service) -> int:
    events = ao.events(limit=1)
    return events[-1].id if events else 0


def _not_found(what: str, fleet: pages.Fleet, after: int) -> HTMLResponse:
    body = f"<p>No {html.escape(what)}. <a href='/'>All projects</a></p>"
    return _html(pages.page("ao", body, attention=fleet.attention, after=after), status_code=404)


def register(app: FastAPI, token: str) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    terminal.register(app)

    @app.get("/login", include_in_schema=False)
    def login(request: Request) -> Response:
        """Exchange the one-time code printed by `ao serve` for the token cookie."""
        if not app.state.redeem(request.query_params.get("code", "")):
            return login_page()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    @app.get("/", include_in_schema=False)
    def index(ao: ServiceDep) -> HTMLResponse:
        fleet = load(ao)
        table = ("<table><thead><tr><th>Project</th><th>Sync</th><th>Health</th><th>Running</th><th>Activity</th>"
                 f"<th>Generation</th></tr></thead><tbody id='projects' data-fragment='/ui/projects'>"
                 f"{project_rows(ao, fleet)}</tbody></table>")
        return _html(pages.page("ao", f"<h1>ao</h1><h2>Projects</h2>{table}", attention=fleet.attention,
                                       after=_last_event(ao)))

    @app.get("/ui/projects", include_in_schema=False)
    def projects_fragment(ao: ServiceDep) -> HTMLResponse:
        return _html(project_rows(ao, load(ao)))

    @app.get("/projects/{name}", include_in_schema=False)
    def project_page(name: str, ao: ServiceDep) -> HTMLResponse:
        fleet, after = load(ao), _last_event(ao)
        record = ao.project(name)
        if record is None or record.deleted:
            return _not_found(f"project {name}", fleet, after)
        view = project_view(record, ao.sessions(name), ao.observe())
        head = (f"<nav><a href='/'>&larr; projects</a></nav><h1>{html.escape(name)}</h1>"
                f"<div>{pages.badge(view['sync'])} {pages.badge(view['health'])} <span class='muted'>generation "
                f"{view['generation']}, observed {view['observedGeneration']}</span></div>")
        agent = (record.spec.get("agent") or {}).get("preset", "") if isinstance(record.spec.get("agent"), dict) else ""
        table = (f"{pages.SESSIONS_HEAD}<tbody id='sessions' data-fragment='/ui/projects/{html.escape(name)}/sessions'>"
                 f"{pages.session_rows(fleet, name, screens(ao, fleet.of(name)))}</tbody></table>")
        return _html(pages.page(f"ao: {name}", head + pages.spawn_form(name, agent) + table,
                                       attention=fleet.attention, after=after))

    @app.get("/sessions/{session_id}", include_in_schema=False)
    def session_page(session_id: str, ao: ServiceDep) -> HTMLResponse:
        fleet, after = load(ao), _last_event(ao)
        view = next((v for v in fleet.views if v["id"] == session_id), None)
        if view is None:
            return _not_found(f"session {session_id}", fleet, after)
        sid = html.escape(session_id)
        body = (f"<nav><a href='/projects/{html.escape(view['project'])}'>&larr; {html.escape(view['project'])}</a>"
                f"</nav><h1>{sid}</h1><div id='summary' data-fragment='/ui/sessions/{sid}/summary'>"
                f"{pages.session_summary(fleet, view)}</div>{pages.terminal_block(session_id)}"
                f"<div id='history' data-fragment='/ui/sessions/{sid}/history'>{_history(ao, session_id)}</div>")
        return _html(pages.page(f"ao: {session_id}", body, attention=fleet.attention, after=after,
                                       session=session_id))

    # ------------------------------------------------------------ fragments, swapped in by static/ao.js

    @app.get("/ui/attention", include_in_schema=False)
    def attention_fragment(ao: ServiceDep) -> HTMLResponse:
        items = load(ao).attention
        return _html(pages.attention_section(items), headers={"X-Attention-Count": str(len(items))})

    @app.get("/ui/projects/{name}/sessions", include_in_schema=False)
    def sessions_fragment(name: str, ao: ServiceDep) -> HTMLResponse:
        fleet = load(ao)
        return _html(pages.session_rows(fleet, name, screens(ao, fleet.of(name))))

    @app.get("/ui/sessions/{session_id}/summary", include_in_schema=False)
    def summary_fragment(session_id: str, ao: ServiceDep) -> HTMLResponse:
        fleet = load(ao)
        view = next((v for v in fleet.views if v["id"] == session_id), None)
        if view is None:
            return _html(f"<p>No session {html.escape(session_id)} any more.</p>", status_code=404)
        return _html(pages.session_summary(fleet, view))

    @app.get("/ui/sessions/{session_id}/history", include_in_schema=False)
    def history_fragment(session_id: str, ao: ServiceDep) -> HTMLResponse:
        return _html(_history(ao, session_id))


def _history(ao: Service, session_id: str) -> str:
    return pages.history(ao.events(session=session_id, limit=HISTORY_LIMIT),
                         ao.messages(session=session_id, limit=HISTORY_LIMIT))
