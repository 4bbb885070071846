"""The dashboard in a real browser: Playwright driving Debian's Chromium, headless, against a real
`ao serve` (with its controller) running demo agents in real tmux."""

from __future__ import annotations

import json
import os
import shutil
import time

import httpx
import pytest

from tests.conftest import LOGIN_BUG, demo_manifest, needs_tmux, retry_until, tmux
from tests.integration.api_server import start_server, stop_server

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extras)")

pytestmark = [needs_tmux, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                             "(apt-get install chromium; CI installs it)")]

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT = 20_000  # ms: a deadline, never a measure


def shop(repo, workers=LOGIN_BUG, orchestrator=False):
    return demo_manifest(repo, workers, orchestrator=orchestrator)


@pytest.fixture
def server(data_dir):
    srv = start_server(data_dir)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser():  # one Chromium for the file: launching it is the slowest part of a test
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def logged_in(page, server):
    page.goto(server.login_url)  # the one-time link sets the token cookie
    return page


def idle(ao, sid: str) -> None:
    def seen() -> bool:
        views = {v["id"]: v for v in json.loads(ao("get", "sessions", "-o", "json").stdout)}
        return views.get(sid, {}).get("activity") == "idle"
    retry_until(seen, timeout=20, message=f"{sid} is idle")


def terminal_text(page) -> str:
    return page.evaluate("window.aoTermText ? window.aoTermText() : ''")


def test_a_waiting_agent_heads_every_page_and_clears_when_answered_in_the_live_terminal(
        server, page, ao, repo, write_manifest, data_dir):
    # The orchestrator's name is taken by a session ao did not start: blocked, it needs a person too.
    tmux(data_dir, "-f", "/dev/null", "new-session", "-d", "-s", "shop-orchestrator", "--", "sleep", "1000")
    applied = ao("apply", "-f", str(write_manifest(shop(repo, orchestrator=True))))
    assert applied.returncode == 1 and "session/shop-orchestrator blocked" in applied.stderr
    idle(ao, "shop-1")
    response = logged_in(page, server).goto(server.base + "/")
    assert response.headers["x-frame-options"] == "DENY"  # no other site may frame buttons that act
    blocked = page.locator("#attention li[data-attention='shop-orchestrator']")
    assert page.title() == "(1) ao"
    assert "blocked by a foreign session named shop-orchestrator" in blocked.inner_text()
    assert "remove or rename the other tmux session" in blocked.inner_text()
    # The API carries the activity too.
    with server.client() as api:
        listed = {v["id"]: v for v in api.get("/api/v1/sessions").json()}
        assert listed["shop-1"]["activity"] == "idle" and listed["shop-1"]["activitySince"]
        in_project = {v["id"]: v for v in api.get("/api/v1/projects/shop").json()["sessions"]}
        assert in_project["shop-1"]["activity"] == "idle"
        assert api.get("/api/v1/sessions/shop-1").json()["activity"] == "idle"
        sent = api.post("/api/v1/sessions/shop-1/messages", json={"message": "/ask Delete build?"})
        assert sent.status_code == 200, sent.text
    # The open page learns it from the event stream: the entry, its reason, what to do, the count.
    entry = page.locator("#attention li[data-attention='shop-1']")
    entry.wait_for(timeout=WAIT)
    assert "waiting: question: Delete build? (y/n)" in entry.inner_text()
    assert "answer it in the live terminal" in entry.inner_text()
    page.wait_for_function("document.title === '(2) ao'", timeout=WAIT)
    assert page.locator("#attention li").first.get_attribute("data-attention") == "shop-1"  # most urgent first
    # Its link opens the session page: the live terminal shows the question; typing `n` answers it.
    entry.get_by_role("link", name="shop-1").click()
    page.wait_for_url("**/sessions/shop-1")
    page.wait_for_function("window.aoTermText && window.aoTermText().includes('Delete build? (y/n)')", timeout=WAIT)
    assert "waiting" in page.locator("#summary").inner_text()
    page.locator("#term").click()
    page.keyboard.type("n")
    page.keyboard.press("Enter")
    page.wait_for_function("!document.querySelector(\"#attention li[data-attention='shop-1']\")", timeout=WAIT)
    page.wait_for_function("document.title === '(1) ao: shop-1'", timeout=WAIT)
    # History: the message (sender, state) and the Waiting / NoLongerWaiting events.
    history = page.locator("#history")
    page.wait_for_function("document.querySelector('#history').innerText.includes('NoLongerWaiting')", timeout=WAIT)
    assert "/ask Delete build?" in history.locator("table.messages").inner_text()
    assert "Waiting" in history.locator("table.events").inner_text()
    with server.client() as api:
        state = api.get("/api/v1/messages", params={"session": "shop-1"}).json()[-1]["outcome"]
    sent_row = history.locator("table.messages tbody tr").first.inner_text()
    assert "user" in sent_row and state in sent_row, sent_row


def test_typing_into_the_live_terminal_reaches_the_agent_and_shows_its_echo(server, page, ao, repo, write_manifest,
                                                                            data_dir):
    assert ao("apply", "-f", str(write_manifest(shop(repo)))).returncode == 0
    idle(ao, "shop-1")
    logged_in(page, server).goto(f"{server.base}/sessions/shop-1")
    page.wait_for_function("document.querySelector('#term').dataset.connected === '1'", timeout=WAIT)
    page.locator("#term").click()
    page.keyboard.type("hello from xterm")
    page.keyboard.press("Enter")
    # The demo agent echoes each submitted line as "| <line>"; the browser shows the pane's new screen.
    page.wait_for_function("window.aoTermText().includes('| hello from xterm')", timeout=WAIT)
    assert "| hello from xterm" in tmux(data_dir, "capture-pane", "-p", "-t", "=shop-1:").stdout
    # The message box sends under ao's send rules; the message shows in the history with its state.
    page.get_by_label("message").fill("hello from the form")
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("window.aoTermText().includes('| hello from the form')", timeout=WAIT)
    page.wait_for_function("document.querySelector('table.messages').innerText.includes('hello from the form')",
                           timeout=WAIT)


def test_the_terminal_socket_needs_the_token_and_the_same_origin(server, ao, repo, write_manifest):
    import websockets.sync.client as ws
    from websockets.exceptions import InvalidStatus

    assert ao("apply", "-f", str(write_manifest(shop(repo)))).returncode == 0
    url = server.base.replace("http://", "ws://") + "/ws/sessions/shop-1/terminal"
    auth = {"Authorization": f"Bearer {server.token}"}
    # Refused at the handshake: no token, a wrong token, or a page of another origin with the cookie.
    for headers in ({}, {"Authorization": "Bearer nope"}, {**auth, "Origin": "http://evil.example"},
                    {"Cookie": f"ao_token={server.token}", "Origin": "http://evil.example"}):
        with pytest.raises(InvalidStatus) as refused:
            ws.connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 403
    with ws.connect(url, additional_headers={**auth, "Origin": server.base}) as sock:
        assert "screen" in json.loads(sock.recv(timeout=10))


def test_start_a_worker_from_the_form_and_ensure_one_orchestrator(server, page, ao, repo, write_manifest):
    assert ao("apply", "-f", str(write_manifest(shop(repo, (), orchestrator=True)))).returncode == 0
    logged_in(page, server).get_by_role("link", name="shop").click()
    page.wait_for_url("**/projects/shop")
    assert page.locator("tr[data-session]").count() == 1  # the orchestrator the manifest asks for
    form = page.locator("form#spawn")
    form.get_by_label("Issue").fill("77")
    form.get_by_label("Prompt").fill("Fix the flaky checkout test")
    assert form.get_by_label("Agent").input_value() == "demo"
    form.get_by_role("button", name="Start worker").click()
    # The new session appears without a reload, and runs (its agent's screen shows the prompt).
    row = page.locator("tr[data-session='shop-1']")
    row.wait_for(timeout=WAIT)
    page.wait_for_function("(r => r && r.innerText.includes('Running') && r.innerText.includes('idle'))"
                           "(document.querySelector(\"tr[data-session='shop-1']\"))", timeout=WAIT)
    assert "77" in row.inner_text()
    # Ensure orchestrator: stopped (Stop asks first), the first call starts it again, the second reuses it.
    orchestrator = page.locator("tr[data-session='shop-orchestrator']")
    page.once("dialog", lambda d: d.accept())
    orchestrator.get_by_role("button", name="Stop").click()
    page.wait_for_function("document.querySelector(\"tr[data-session='shop-orchestrator']\").innerText"
                           ".includes('Stopped')", timeout=WAIT)
    button = page.get_by_role("button", name="Ensure orchestrator")
    for outcome in ("relaunched", "reused"):
        page.evaluate("document.querySelector('#status').textContent = ''")
        button.click()
        page.wait_for_function(f"document.querySelector('#status').innerText === 'shop-orchestrator: {outcome}'",
                               timeout=WAIT)
    assert page.locator("tr[data-session$='orchestrator']").count() == 1
    with server.client() as api:
        kinds = [v["kind"] for v in api.get("/api/v1/sessions", params={"project": "shop"}).json()]
    assert kinds.count("orchestrator") == 1
    # The worker links to its orchestrator; the orchestrator's page lists its team.
    row.get_by_role("link", name="shop-orchestrator").click()
    page.wait_for_url("**/sessions/shop-orchestrator")
    assert "shop-1" in page.locator("ul.team").inner_text()
    # Stop asks first (work could be lost); dismissing it changes nothing.
    page.goto(f"{server.base}/sessions/shop-1")
    page.once("dialog", lambda d: d.dismiss())
    page.locator("#summary").get_by_role("button", name="Stop").click()
    page.once("dialog", lambda d: d.accept())
    page.locator("#summary").get_by_role("button", name="Stop").click()
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Stopped')", timeout=WAIT)
    page.wait_for_function("window.aoTermText().includes('no live terminal')", timeout=WAIT)
    page.locator("#summary").get_by_role("button", name="Start").click()
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Running')", timeout=WAIT)
    page.wait_for_function("window.aoTermText().includes('end of prompt')", timeout=WAIT)  # the terminal follows
    # A worker started from the dashboard can be deleted from it (after a confirmation).
    page.goto(f"{server.base}/projects/shop")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr[data-session='shop-1']").get_by_role("button", name="Delete").click()
    page.locator("tr[data-session='shop-1']").wait_for(state="detached", timeout=WAIT)


def hundred(repo, count=100):
    workers = [f"    - name: w{i}\n      issue: {i}\n" for i in range(count)]
    return shop(repo, workers).replace("  agent:", "  workspace: none\n  agent:")


def test_a_page_of_100_sessions_stays_responsive(server, browser, ao, repo, write_manifest):
    assert ao("apply", "-f", str(write_manifest(hundred(repo))), timeout=300).returncode == 0
    with server.client() as api:
        retry_until(lambda: sum(v["phase"] == "Running" for v in api.get("/api/v1/sessions").json()) == 100,
                    timeout=120, message="100 sessions run")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    logged_in(page, server)
    started = time.monotonic()
    page.goto(f"{server.base}/projects/shop")
    assert page.locator("tr[data-session]").count() == 100
    paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime")
    loaded = time.monotonic() - started
    # A live update: suspend one session through the API; the open page shows it without a reload.
    page.evaluate("window.aoMarker = 1")
    started = time.monotonic()
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}, timeout=30) as api:
        assert api.post("/api/v1/sessions/shop-50/suspend").status_code == 200
    page.wait_for_function("document.querySelector(\"tr[data-session='shop-50']\").innerText.includes('Suspended')",
                           timeout=WAIT)
    update = time.monotonic() - started
    assert page.evaluate("window.aoMarker") == 1  # the same document: fragments, not a reload
    swap = page.evaluate("async () => { const t = performance.now(); await refresh(); return performance.now() - t; }")
    def ms(value: float | None) -> str:  # the browser does not always report a paint entry
        return "not reported" if value is None else f"{value:.0f} ms"

    print(f"\n100 sessions: first contentful paint {ms(paint)}, page loaded in {ms(loaded * 1000)}, "
          f"live update {ms(update * 1000)} after the API call, one refresh (fetch and swap) {ms(swap)}")
    page.context.close()
