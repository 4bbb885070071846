"""The dashboard's HTML: whole pages and the fragments the page swaps in when something changes.

Every value shown is escaped here; the browser script (static/ao.js) only swaps fragments, ticks
the "for how long" clocks and runs the live terminal.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..manifest.models import Preset
from ..registry.records import HELD, MANIFEST_OWNER, Kind, Phase
from ..views import event_view, message_view
from .attention import Attention

E = html.escape
LAST_LINES = 2  # of each agent's screen, in the sessions table


@dataclass
class Fleet:
    """What one page render needs: every session's view (attention covers all projects)."""

    views: list[dict[str, Any]]
    attention: list[Attention]
    owners: dict[tuple[str, str], str]  # (project, worker) -> owner

    def of(self, project: str) -> list[dict[str, Any]]:
        return [v for v in self.views if v["project"] == project]

    def orchestrator(self, project: str) -> dict[str, Any] | None:
        return next((v for v in self.of(project) if v["kind"] == Kind.ORCHESTRATOR), None)


def page(title: str, body: str, *, attention: list[Attention], after: int, session: str = "") -> str:
    counted = f"({len(attention)}) {title}" if attention else title
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{E(counted)}</title>"
            "<link rel='stylesheet' href='/static/ao.css'>"
            + ("<link rel='stylesheet' href='/static/xterm.css'><script src='/static/xterm.js'></script>"
               if session else "")
            + f"</head><body data-title='{E(title)}' data-after='{after}' data-session='{E(session)}'>"
            "<a class='skip' href='#main'>Skip to content</a>"
            "<section id='attention' data-fragment='/ui/attention' aria-live='polite'>"
            f"{attention_section(attention)}</section><main id='main'>{body}</main>"
            "<div id='status' role='status' class='muted'></div><script src='/static/ao.js'></script></body></html>")


def badge(value: Any, *, css: str = "") -> str:
    text = E(str(value))
    return f"<span class='badge {E(css) or (text.split()[0] if text else '')}'>{text}</span>"


def since(iso: str | None) -> str:
    """A clock the browser keeps ticking: "for 3m"."""
    return f" <time class='since' data-since='{E(iso)}'></time>" if iso else ""


def activity_cell(view: dict[str, Any]) -> str:
    activity = view.get("activity") or "-"
    reason = view.get("activityReason") or ""
    return (f"{badge(activity, css='act-' + str(activity))}{since(view.get('activitySince'))}"
            + (f"<br><span class='reason'>{E(reason)}</span>" if reason else ""))


def attention_section(items: list[Attention]) -> str:
    if not items:
        return "<div class='calm'>Nothing needs you right now.</div>"
    rows = "".join(
        f"<li class='urgency-{a.urgency}' data-attention='{E(a.session)}'><a href='/sessions/{E(a.session)}'>"
        f"<b>{E(a.session)}</b></a> <span class='what'>{E(a.what)}</span>{since(a.since)}"
        f"<div class='todo'>&rarr; {E(a.todo)}</div></li>" for a in items)
    return f"<h2>Needs you ({len(items)})</h2><ol class='attention'>{rows}</ol>"


def actions(view: dict[str, Any], owner: str | None) -> str:
    sid, phase = E(view["id"]), view["phase"]
    lost = "Its agent is restarted: work not yet saved in its terminal is lost."
    buttons = []
    if phase == Phase.STOPPED:
        buttons.append(("start", "Start", ""))
    elif phase not in (Phase.TERMINATED, Phase.TERMINATING):
        buttons.append(("stop", "Stop", f"Stop {view['id']}? {lost.replace('restarted', 'stopped')}"))
    buttons.append(("relaunch", "Relaunch", f"Relaunch {view['id']}? {lost}"))
    if phase in HELD and phase != Phase.STOPPED:
        buttons.append(("resume", "Resume", ""))
    elif phase not in HELD:
        buttons.append(("suspend", "Suspend", ""))
    if view["kind"] == Kind.WORKER and owner not in (None, MANIFEST_OWNER):
        buttons.append(("delete", "Delete", f"Delete {view['id']}? Its agent is stopped and the worker removed."))
    return " ".join(f"<button data-action='{a}' data-id='{sid}' data-confirm='{E(c)}'>{label}</button>"
                    for a, label, c in buttons)


def session_rows(fleet: Fleet, project: str, screens: dict[str, str]) -> str:
    rows = []
    orchestrator = fleet.orchestrator(project)
    for view in sorted(fleet.of(project), key=lambda v: (v["kind"] != Kind.ORCHESTRATOR, v["id"])):
        sid = E(view["id"])
        lines = [line for line in screens.get(view["id"], "").splitlines() if line.strip()][-LAST_LINES:]
        lead = ""
        if view["kind"] == Kind.WORKER and orchestrator:
            lead = f"<br><span class='muted'>reports to <a href='/sessions/{E(orchestrator['id'])}'>" \
                   f"{E(orchestrator['id'])}</a></span>"
        rows.append(
            f"<tr data-session='{sid}'><td><a href='/sessions/{sid}'><b>{sid}</b></a><br>"
            f"<span class='muted'>{E(view['kind'])}: {E(view['name'])}</span>{lead}</td>"
            f"<td>{badge(view['phase'])}<br><span class='muted'>{E(view['reason'] or '')}</span></td>"
            f"<td class='activity'>{activity_cell(view)}</td>"
            f"<td>{E(view['issue'] or '-')}<br><code>{E(view['branch'] or '-')}</code></td>"
            f"<td>{view['restarts']}</td>"
            f"<td><pre class='output'>{E(chr(10).join(lines)) or '&nbsp;'}</pre></td>"
            f"<td class='actions'>{actions(view, fleet.owners.get((project, view['name'])))}</td></tr>")
    return "".join(rows) or "<tr><td colspan='7' class='muted'>No sessions.</td></tr>"


SESSIONS_HEAD = ("<table class='sessions'><thead><tr><th>Session</th><th>Phase</th><th>Activity</th>"
                 "<th>Issue / branch</th><th>Restarts</th><th>Screen</th><th>Actions</th></tr></thead>")


def spawn_form(project: str, default_agent: str) -> str:
    options = "".join(f"<option value='{p.value}'{' selected' if p.value == default_agent else ''}>{p.value}</option>"
                      for p in Preset)
    return (f"<form id='spawn' class='spawn' data-project='{E(project)}'><h2>Start a worker</h2>"
            "<label>Issue <input name='issue' placeholder='e.g. 42' required></label>"
            "<label>Agent <select name='agent'>" + options + "</select></label>"
            "<label class='wide'>Prompt <textarea name='prompt' rows='2' "
            "placeholder='What the worker should do (optional)'></textarea></label>"
            "<button type='submit'>Start worker</button></form>"
            f"<p><button data-action='ensure-orchestrator' data-project='{E(project)}'>Ensure orchestrator</button> "
            "<span class='muted'>starts the project's orchestrator, or reuses the running one</span></p>")


def session_summary(fleet: Fleet, view: dict[str, Any]) -> str:
    owner = fleet.owners.get((view["project"], view["name"]))
    orchestrator = fleet.orchestrator(view["project"])
    if view["kind"] == Kind.ORCHESTRATOR:
        team = [v for v in fleet.of(view["project"]) if v["kind"] == Kind.WORKER]
        crew = "".join(f"<li><a href='/sessions/{E(v['id'])}'>{E(v['id'])}</a> {badge(v['phase'])} "
                       f"{activity_cell(v)}</li>" for v in team) or "<li class='muted'>no workers</li>"
        relation = f"<h2>Team</h2><ul class='team'>{crew}</ul>"
    elif orchestrator:
        relation = (f"<p>Orchestrator: <a href='/sessions/{E(orchestrator['id'])}'>{E(orchestrator['id'])}</a> "
                    f"{activity_cell(orchestrator)}</p>")
    else:
        relation = "<p class='muted'>This project runs no orchestrator.</p>"
    # A running session's message is its start command: shown only when it explains a problem.
    shown = view.get("message") and view["phase"] != Phase.RUNNING
    message = f"<p class='muted'>{E(view['message'])}</p>" if shown else ""
    return (f"<div class='summary'>{badge(view['phase'])} <span class='muted'>{E(view['reason'] or '')}</span> "
            f"<span class='activity'>{activity_cell(view)}</span> &middot; "
            f"<span class='muted'>agent {E(view['agent'])}, restarts {view['restarts']}, issue "
            f"{E(view['issue'] or '-')}, branch <code>{E(view['branch'] or '-')}</code></span>{message}</div>"
            f"<p class='actions'>{actions(view, owner)}</p>{relation}")


def history(events: list, messages: list) -> str:
    event_rows = "".join(
        f"<tr><td><time datetime='{E(e['at'] or '')}'>{E((e['at'] or '')[11:19])}</time></td>"
        f"<td>{badge(e['type'], css='ev-' + str(e['type']))}</td><td>{E(e['reason'])}</td><td>{E(e['message'])}</td></tr>"
        for e in map(event_view, reversed(events))) or "<tr><td colspan='4' class='muted'>No events.</td></tr>"
    message_rows = "".join(
        f"<tr data-message='{m['id']}'><td>{E((m['at'] or '')[11:19])}</td><td>{E(m['from'] or 'user')}</td>"
        f"<td><pre class='body'>{E(m['body'])}</pre></td><td>{badge(m['outcome'], css='msg-' + m['outcome'])}"
        f"<br><span class='muted'>{E(m['detail'] or '')}</span></td></tr>"
        for m in map(message_view, reversed(messages))) or "<tr><td colspan='4' class='muted'>No messages.</td></tr>"
    return ("<div class='history'><section><h2>Messages</h2><table class='messages'><thead><tr><th>Time</th>"
            f"<th>From</th><th>Message</th><th>State</th></tr></thead><tbody>{message_rows}</tbody></table></section>"
            "<section><h2>Events</h2><table class='events'><thead><tr><th>Time</th><th>Type</th><th>Reason</th>"
            f"<th>Message</th></tr></thead><tbody>{event_rows}</tbody></table></section></div>")


def terminal_block(session_id: str) -> str:
    sid = E(session_id)
    return (f"<h2>Terminal</h2><div id='term' data-id='{sid}' aria-label='live terminal of {sid}'></div>"
            f"<p class='muted'>Click the terminal and type, or attach: <code>ao attach {sid}</code></p>"
            f"<form class='send' data-id='{sid}'><input name='message' aria-label='message' "
            f"placeholder='Message to {sid} (sent with ao send rules)'>"
            "<label><input type='checkbox' name='queue'> queue if busy</label><button type='submit'>Send</button></form>")
