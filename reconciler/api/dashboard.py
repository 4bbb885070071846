"""The dashboard: plain server-rendered HTML, a little JavaScript, live updates from /api/v1/events."""

from __future__ import annotations

import html
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..reconcile.service import Service
from ..registry.records import HELD, MANIFEST_OWNER, Kind
from ..views import age, project_view, session_view
from . import auth
from .deps import ServiceDep

OUTPUT_LINES = 6
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.4rem;margin:0 0 .2rem} a{color:#2458c5;text-decoration:none}
table{border-collapse:collapse;width:100%;background:#fff;margin-top:1rem}
th,td{border-bottom:1px solid #e3e6ea;padding:.45rem .5rem;text-align:left;vertical-align:top}
th{font-size:.8rem;color:#5b6475;text-transform:uppercase;letter-spacing:.03em}
pre{margin:.3rem 0 0;font-size:12px;background:#12151c;color:#d8dee9;padding:.4rem;border-radius:4px;
max-width:48rem;overflow-x:auto;white-space:pre-wrap}
code{background:#eef0f3;padding:0 .25rem;border-radius:3px}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;background:#e8ebf0}
.Running,.Synced,.Healthy,.running{background:#d9f2e1}.Failed,.Degraded,.CrashLoopBackOff,.OutOfSync{background:#fbdcdc}
.Pending,.Progressing,.Suspended,.Stopped{background:#fcefc7}
form.send{display:flex;gap:.3rem;margin-top:.3rem} form.send input{flex:1;min-width:14rem}
button{cursor:pointer} .muted{color:#6b7385} #status{min-height:1.2rem;margin-top:.5rem}
"""
SCRIPT = """
const project = document.body.dataset.project;
const status = (text) => { document.getElementById('status').textContent = text; };
async function refresh() {
  if (!project) { location.reload(); return; }
  const r = await fetch('/ui/projects/' + project + '/sessions');
  if (r.ok) { document.getElementById('sessions').innerHTML = await r.text(); }
}
async function call(method, url, body) {
  const r = await fetch(url, {method, headers: {'Content-Type': 'application/json'},
                               body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({}));
  status(r.ok ? (data.result || data.outcome || 'done') : ((data.error || {}).message || r.statusText));
  refresh();
}
document.addEventListener('submit', (e) => {
  if (!e.target.matches('form.send')) return;
  e.preventDefault();
  const input = e.target.querySelector('input');
  call('POST', '/api/v1/sessions/' + e.target.dataset.id + '/messages', {message: input.value})
    .then(() => { input.value = ''; setTimeout(refresh, 800); });
});
document.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const id = b.dataset.id, a = b.dataset.action;
  if (a === 'delete') { if (confirm('Delete worker ' + id + '?')) call('DELETE', '/api/v1/sessions/' + id); }
  else call('POST', '/api/v1/sessions/' + id + '/' + a);
});
let pending = null;
const events = new EventSource('/api/v1/events?after=' + (document.body.dataset.after || 0));
events.addEventListener('ao', () => { clearTimeout(pending); pending = setTimeout(refresh, 150); });
setInterval(refresh, 4000);
"""


def _page(title: str, body: str, *, project: str = "", after: int = 0) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body data-project='{html.escape(project)}' data-after='{after}'>"
        f"{body}<div id='status' class='muted'></div><script>{SCRIPT}</script></body></html>"
    )


def login_page() -> HTMLResponse:
    body = ("<h1>ao</h1><p>This dashboard needs its token. Open the URL that <code>ao serve</code> printed "
            "when it started, or read the token from <code>$AO_DATA_DIR/api-token</code>.</p>")
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>ao</title><style>{STYLE}"
                        f"</style></head><body>{body}</body></html>", status_code=401)


def _badge(value: Any) -> str:
    text = html.escape(str(value))
    return f"<span class='badge {text.split()[0] if text else ''}'>{text}</span>"


def session_rows(ao: Service, project: str) -> str:
    """The <tbody> of a project's page: orchestrator first, then workers."""
    live = ao.observe()
    records = ao.sessions(project)
    owners = {w.name: w.owner for w in ao.workers(project)}
    rows = []
    now = time.time()
    for record in records:
        view = session_view(record, live.get(record.id))
        sid = html.escape(record.id)
        try:
            output = ao.capture(record.id, OUTPUT_LINES) if record.id in live else ""
        except Exception:  # noqa: BLE001 - a vanished session just shows no output
            output = ""
        held = record.phase in HELD
        buttons = [f"<button data-action='relaunch' data-id='{sid}'>Relaunch</button>",
                   f"<button data-action='{'resume' if held else 'suspend'}' data-id='{sid}'>"
                   f"{'Resume' if held else 'Suspend'}</button>"]
        if record.kind == Kind.WORKER and owners.get(record.worker or "") != MANIFEST_OWNER:
            buttons.append(f"<button data-action='delete' data-id='{sid}'>Delete</button>")
        rows.append(
            f"<tr data-session='{sid}'><td><b>{sid}</b><br><span class='muted'>{html.escape(view['name'])}</span></td>"
            f"<td>{_badge(view['phase'])}<br><span class='muted'>{html.escape(view['reason'] or '')}</span></td>"
            f"<td>{_badge(view['agent'])}</td><td>{view['restarts']}</td>"
            f"<td>{html.escape(view['issue'] or '-')}</td><td><code>{html.escape(view['branch'] or '-')}</code></td>"
            f"<td>{age(record.created_at, now)}</td>"
            f"<td><pre class='output'>{html.escape(output) or '&nbsp;'}</pre>"
            f"<form class='send' data-id='{sid}'><input name='message' placeholder='Message to {sid}'>"
            f"<button type='submit'>Send</button></form>"
            f"<div class='muted'>attach: <code>ao attach {sid}</code></div></td>"
            f"<td>{' '.join(buttons)}</td></tr>"
        )
    return "".join(rows) or "<tr><td colspan='9' class='muted'>No sessions.</td></tr>"


def register(app: FastAPI, token: str) -> None:
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
        live = ao.observe()
        rows = []
        for record in ao.projects():
            view = project_view(record, ao.sessions(record.name), live)
            name = html.escape(record.name)
            rows.append(f"<tr><td><a href='/projects/{name}'>{name}</a></td><td>{_badge(view['sync'])}</td>"
                        f"<td>{_badge(view['health'])}</td><td>{view['running']}/{view['sessions']}</td>"
                        f"<td>{view['generation']}</td></tr>")
        table = ("<table><thead><tr><th>Project</th><th>Sync</th><th>Health</th><th>Running</th><th>Generation"
                 "</th></tr></thead><tbody>" + ("".join(rows) or "<tr><td colspan='5' class='muted'>No projects yet:"
                 " <code>ao apply -f examples/demo.yaml</code></td></tr>") + "</tbody></table>")
        return _page("ao", f"<h1>ao</h1><div class='muted'>projects</div>{table}", after=_last_event(ao))

    @app.get("/projects/{name}", include_in_schema=False)
    def project_page(name: str, ao: ServiceDep) -> HTMLResponse:
        record = ao.project(name)
        if record is None or record.deleted:
            return HTMLResponse(f"<p>No project {html.escape(name)}. <a href='/'>All projects</a></p>", status_code=404)
        view = project_view(record, ao.sessions(name), ao.observe())
        head = (f"<p><a href='/'>&larr; projects</a></p><h1>{html.escape(name)}</h1>"
                f"<div>{_badge(view['sync'])} {_badge(view['health'])} <span class='muted'>generation "
                f"{view['generation']}, observed {view['observedGeneration']}</span></div>")
        table = ("<table><thead><tr><th>Session</th><th>Phase</th><th>Agent</th><th>Restarts</th><th>Issue</th>"
                 "<th>Branch</th><th>Age</th><th>Output</th><th></th></tr></thead>"
                 f"<tbody id='sessions'>{session_rows(ao, name)}</tbody></table>")
        return _page(f"ao: {name}", head + table, project=name, after=_last_event(ao))

    @app.get("/ui/projects/{name}/sessions", include_in_schema=False)
    def fragment(name: str, ao: ServiceDep) -> HTMLResponse:
        return HTMLResponse(session_rows(ao, name))


def _last_event(ao: Service) -> int:
    events = ao.events(limit=1)
    return events[-1].id if events else 0
