"""Screenshots of the dashboard's main pages from a real run, into docs/screenshots/.

A throwaway data dir and git repository, demo agents in real tmux, a real `ao serve`, and headless
Chromium driven by Playwright (the test extras). One worker is made to ask a y/n question so the
attention list has something to show.

    .venv/bin/python scripts/screenshots.py            # needs tmux, git and chromium
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
AO = str(Path(sys.executable).parent / "ao")
VIEWPORT = {"width": 1440, "height": 900}
MANIFEST = """apiVersion: ao/v1
kind: Project
metadata:
  name: shop
spec:
  repo: {repo}
  agent: {{preset: demo}}
  orchestrator:
    rules: Keep each worker on one small task.
  workers:
    - name: login-bug
      issue: 123
      prompt: Fix the login redirect loop
    - name: cart
      issue: 124
      prompt: Speed up the cart page
    - name: search
      issue: 125
      prompt: Add fuzzy matching to product search
"""


def wait(condition, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll until `condition()` is truthy (a deadline, not a sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"screenshots: timed out waiting for {what}")


def run(*argv: str, env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"screenshots: {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_repo(path: Path, env: dict[str, str]) -> None:
    path.mkdir()
    run("git", "init", "-q", "-b", "main", env=env, cwd=path)
    (path / "README.md").write_text("# shop\n")
    run("git", "add", ".", env=env, cwd=path)
    run("git", "-c", "user.email=demo@example.com", "-c", "user.name=demo", "commit", "-qm", "init",
        env=env, cwd=path)


def shoot(page, name: str, *, full: bool = False) -> None:  # type: ignore[no-untyped-def]
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)
    print(f"wrote docs/screenshots/{name}.png")


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ao-shots-") as tmp:
        base = Path(tmp)
        env = {**os.environ, "AO_DATA_DIR": str(base / "data")}
        make_repo(base / "repo", env)
        manifest = base / "shop.yaml"
        manifest.write_text(MANIFEST.format(repo=base / "repo"))
        run(AO, "apply", "-f", str(manifest), env=env)
        port = free_port()
        log = base / "serve.log"
        server = subprocess.Popen([AO, "serve", "--port", str(port), "--resync", "0.5"], env=env,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT)
        try:
            login = wait(lambda: re.search(r"(http://\S+/login\?code=\S+)", log.read_text()), "ao serve")
            url = login.group(1).replace("localhost", "127.0.0.1")
            origin = f"http://127.0.0.1:{port}"
            wait(lambda: all(v["activity"] == "idle"
                             for v in json.loads(run(AO, "get", "sessions", "-o", "json", env=env))), "agents idle")
            run(AO, "send", "shop-2", "/ask Drop the cart_items table?", env=env)
            run(AO, "send", "shop-1", "Please rebase on main before you push.", env=env)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True,
                                            args=["--headless=new", "--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url)
                page.wait_for_selector("#attention li", timeout=60_000)
                shoot(page, "overview")
                page.goto(f"{origin}/projects/shop")
                page.wait_for_function("document.querySelectorAll('tr[data-session]').length === 4")
                page.wait_for_timeout(1500)  # let the activity clocks tick once, for the picture only
                shoot(page, "project")
                page.goto(f"{origin}/sessions/shop-2")
                page.wait_for_function("window.aoTermText && window.aoTermText().includes('(y/n)')",
                                       timeout=30_000)
                shoot(page, "session-waiting", full=True)
                page.goto(f"{origin}/sessions/shop-orchestrator")
                page.wait_for_function("window.aoTermText && window.aoTermText().trim().length > 0",
                                       timeout=30_000)
                shoot(page, "orchestrator")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=15)
            subprocess.run([AO, "delete", "-f", str(manifest)], env=env, capture_output=True, check=False)
            tmux = shutil.which("tmux")
            if tmux:
                from reconciler.paths import DataDir

                sock = DataDir.resolve(base / "data").tmux_socket
                subprocess.run([tmux, "-S", str(sock), "kill-server"], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
