"""The dashboard in a real browser: Playwright driving Debian's Chromium, headless."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import LOGIN_BUG, demo_manifest, needs_tmux
from tests.integration.api_server import start_server, stop_server

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extras)")

pytestmark = [needs_tmux, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                             "(apt-get install chromium; CI installs it)")]

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def shop(repo):
    return demo_manifest(repo, LOGIN_BUG, orchestrator=False)


@pytest.fixture
def server(data_dir):
    srv = start_server(data_dir)
    yield srv
    stop_server(srv)


@pytest.fixture
def page(tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()


def test_dashboard_shows_a_new_session_and_delivers_a_message(server, page, ao, repo, write_manifest):
    # An empty project first, so that its page is open before the worker exists.
    empty = write_manifest(shop(repo).split("  workers:")[0] + "  workers: []\n")
    assert ao("apply", "-f", str(empty)).returncode == 0
    page.goto(server.login_url)  # the one-time link sets the token cookie
    page.get_by_role("link", name="shop").click()
    page.wait_for_url("**/projects/shop")
    assert "No sessions." in page.locator("#sessions").inner_text()
    # Applied from the CLI: the open page shows the new session without a reload.
    assert ao("apply", "-f", str(write_manifest(shop(repo)))).returncode == 0
    row = page.locator("tr[data-session='shop-1']")
    row.wait_for(timeout=15_000)
    page.wait_for_function("document.querySelector(\"tr[data-session='shop-1'] pre\").innerText.trim().endsWith('>')",
                           timeout=15_000)
    assert "Running" in row.inner_text() and "ao attach shop-1" in row.inner_text()
    row.locator("input[name='message']").fill("hello from the browser")
    row.get_by_role("button", name="Send").click()
    page.wait_for_function(
        "document.querySelector(\"tr[data-session='shop-1'] pre\").innerText.includes('| hello from the browser')",
        timeout=15_000)
    assert "delivered" in page.locator("#status").inner_text()
    # The one-time link does not work twice, and without the cookie the dashboard is refused.
    other = page.context.browser.new_context().new_page()
    response = other.goto(server.login_url)
    assert response.status == 401
    other.context.close()
