"""A PUT of a manifest is parsed off the event loop: a slow parse never stalls other requests."""

from __future__ import annotations

import asyncio
import threading

import httpx

from reconciler.api import projects
from reconciler.api.app import create_app
from reconciler.paths import DataDir


def test_a_slow_manifest_parse_does_not_block_other_requests(tmp_path, monkeypatch):
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []
    real = projects.load_text

    def slow_load_text(*args, **kwargs):
        started.set()
        release.wait(timeout=10)  # a safety net only: the test releases it
        finished.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(projects, "load_text", slow_load_text)
    app = create_app(DataDir.resolve(tmp_path / "data").ensure(), "secret")

    async def scenario() -> tuple[int, bool, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ao",
                                     headers={"Authorization": "Bearer secret"}) as client:
            put = asyncio.create_task(client.put("/api/v1/projects/shop", content="kind: Project\n"))
            await asyncio.to_thread(started.wait, 20)
            health = await client.get("/api/v1/healthz")  # answered while the parse is still running
            parse_was_running = not finished
            release.set()
            return health.status_code, parse_was_running, (await put).status_code

    health, parse_was_running, put = asyncio.run(scenario())
    assert health == 200
    assert parse_was_running, "healthz waited for the manifest parse: it ran on the event loop"
    assert put == 422
