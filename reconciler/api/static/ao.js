// ao's dashboard: one event stream per page; on each event the page's fragments are fetched again
// and swapped in (no full reloads); clocks tick locally; the session page runs a live terminal.
'use strict';
const page = document.body.dataset;
const statusLine = (text) => { const s = document.getElementById('status'); if (s) s.textContent = text; };

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.floor(s) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + (s < 600 ? ' ' + Math.floor(s % 60) + 's' : '');
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd';
}
function tick() {
  for (const t of document.querySelectorAll('time[data-since]')) t.textContent = 'for ' + ago(t.dataset.since);
}

function setCount(n) {
  document.title = (n > 0 ? '(' + n + ') ' : '') + page.title;
}

// Swap a fragment only when the server's HTML changed, and keep the keyboard focus on the same button.
const swapped = new WeakMap();
function swap(el, text) {
  const focused = el.contains(document.activeElement) ? document.activeElement : null;
  const key = focused && focused.dataset.action ? [focused.dataset.action, focused.dataset.id] : null;
  el.innerHTML = text;
  swapped.set(el, text);
  if (key) {
    const again = [...el.querySelectorAll('button[data-action]')]
      .find((b) => b.dataset.action === key[0] && b.dataset.id === key[1]);
    if (again) again.focus();
  }
}

let refreshing = false, again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    await Promise.all([...document.querySelectorAll('[data-fragment]')].map(async (el) => {
      const r = await fetch(el.dataset.fragment, {credentials: 'same-origin'});
      if (!r.ok) return;
      const text = await r.text();
      if (swapped.get(el) !== text) swap(el, text);
      if (el.id === 'attention') setCount(+(r.headers.get('X-Attention-Count') || 0));
    }));
    tick();
    window.aoRefreshed = (window.aoRefreshed || 0) + 1;
  } catch (e) { /* the server restarts: the next event or timer tries again */ }
  refreshing = false;
  if (again) { again = false; refresh(); }
}

async function call(method, url, body) {
  const r = await fetch(url, {method, credentials: 'same-origin', headers: {'Content-Type': 'application/json'},
                               body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({}));
  const text = r.ok ? (data.result || data.outcome || (data.session && (data.session.id + ': ' + (data.status || 'started')))
                       || (data.worker ? 'worker ' + data.worker + ' added' : 'done'))
                    : ((data.error || {}).message || (data.detail && JSON.stringify(data.detail)) || r.statusText);
  statusLine(text);
  refresh();
  return {ok: r.ok, data};
}

document.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const a = b.dataset.action;
  if (a === 'ensure-orchestrator') { call('POST', '/api/v1/orchestrators', {project: b.dataset.project}); return; }
  if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
  const url = '/api/v1/sessions/' + encodeURIComponent(b.dataset.id);
  if (a === 'delete') call('DELETE', url); else call('POST', url + '/' + a);
});

document.addEventListener('submit', async (e) => {
  const form = e.target;
  if (form.matches('form.send')) {
    e.preventDefault();
    const input = form.querySelector('input[name=message]');
    const res = await call('POST', '/api/v1/sessions/' + encodeURIComponent(form.dataset.id) + '/messages',
                           {message: input.value, queue: form.querySelector('input[name=queue]').checked});
    if (res.ok) input.value = '';
  } else if (form.matches('form.spawn')) {
    e.preventDefault();
    const f = new FormData(form), body = {project: form.dataset.project, agent: f.get('agent')};
    if (f.get('issue')) body.issue = f.get('issue');
    if (f.get('prompt')) body.prompt = f.get('prompt');
    const res = await call('POST', '/api/v1/sessions', body);
    if (res.ok) form.reset();
  }
});

// One event stream per page; a burst of events is one refresh.
let pending = null;
const events = new EventSource('/api/v1/events?after=' + (page.after || 0));
events.addEventListener('ao', () => { clearTimeout(pending); pending = setTimeout(refresh, 100); });
// Activity (idle <-> working) changes without an event: a slow timer catches it up.
setInterval(refresh, 3000);
setInterval(tick, 1000);
tick();

// ------------------------------------------------------------ the live terminal
const box = document.getElementById('term');
if (box && window.Terminal) {
  const term = new Terminal({cursorBlink: true, fontSize: 13, scrollback: 0, convertEol: false,
                             theme: {background: '#12151c'}});
  term.open(box);
  window.aoTerm = term;
  window.aoTermText = () => {
    const b = term.buffer.active, out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
    return out.join('\n');
  };
  let socket = null;
  const connect = () => {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    socket = new WebSocket(scheme + location.host + '/ws/sessions/' + encodeURIComponent(box.dataset.id) + '/terminal');
    socket.onopen = () => { box.dataset.connected = '1'; };
    socket.onmessage = (m) => {
      const s = JSON.parse(m.data);
      if (s.size && (term.cols !== s.size[0] || term.rows !== s.size[1])) term.resize(s.size[0], s.size[1]);
      let out = '\x1b[0m\x1b[H\x1b[2J' + s.screen.split('\n').join('\x1b[0m\r\n');
      if (s.cursor) out += '\x1b[' + (s.cursor[1] + 1) + ';' + (s.cursor[0] + 1) + 'H';
      term.write(out);
    };
    socket.onclose = () => { box.dataset.connected = ''; setTimeout(connect, 1000); };
  };
  term.onData((d) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(d); });
  connect();
}
