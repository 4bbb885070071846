"""The HTTP API under hostile requests: forged cookie writes, malformed input, event bursts."""

from __future__ import annotations

import json

import pytest

from reconciler.registry.store import Registry
from tests.conftest import LOGIN_BUG, demo_manifest, needs_tmux
from tests.integration.api_server import free_port, start_server, stop_server

pytestmark = needs_tmux


@pytest.fixture
def server(data_dir):
    srv = start_server(data_dir, "--no-controller")
    yield srv
    stop_server(srv)


@pytest.fixture
def api(server):
    with server.client() as client:
        yield client


def alias_bomb(levels: int = 8) -> str:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, levels):
        name, below = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{below}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_cookie_writes_from_another_origin_are_refused(server, api, repo):
    assert api.put("/api/v1/projects/shop", content=demo_manifest(repo, LOGIN_BUG)).status_code == 201
    suspend = "/api/v1/sessions/shop-1/suspend"
    # What a page on another site (or another port of localhost) makes the browser send with the cookie.
    forged = [{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
              {"Origin": f"http://127.0.0.1:{free_port()}", "Sec-Fetch-Site": "same-site"},
              {"Origin": "http://evil.example"},
              {"Origin": "null"},
              {}]  # no browser headers at all: not one of our pages either
    with server.client(token=None) as browser:
        browser.cookies.set("ao_token", server.token)
        for headers in forged:
            refused = browser.post(suspend, headers=headers)
            assert refused.status_code == 403, headers
            assert refused.json()["error"]["code"] == "CROSS_ORIGIN"
            message = browser.post("/api/v1/sessions/shop-1/messages", json={"message": "rm -rf"}, headers=headers)
            assert message.status_code == 403
        assert browser.get("/api/v1/sessions/shop-1").json()["phase"] == "Running"  # reading is no forgery
        assert api.get("/api/v1/messages", params={"session": "shop-1"}).json() == []
        # The dashboard's own page: same origin.
        own = browser.post(suspend, headers={"Origin": server.base, "Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200, own.text
        assert api.get("/api/v1/sessions/shop-1").json()["phase"] == "Suspended"
    # A bearer token cannot be attached by another site, whatever Origin says.
    resumed = api.post("/api/v1/sessions/shop-1/resume", headers={"Origin": "http://evil.example"})
    assert resumed.status_code == 200, resumed.text


def test_bad_requests_get_a_4xx_with_the_error_shape(server, api):
    def error(response, status=422, code="MANIFEST_INVALID") -> str:
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert body["code"] == code
        return body["message"]

    with server.client() as client:
        for bad in ("abc", "-1", "1e3", "9" * 30):
            with client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": bad}) as response:
                response.read()
                assert "Last-Event-ID must be an event id" in error(response, code="INVALID_REQUEST")
        with client.stream("GET", "/api/v1/events", params={"after": 10**30}) as response:
            response.read()
            error(response, code="INVALID_REQUEST")
    head = "apiVersion: ao/v1\nkind: Project\nmetadata: {name: shop}\n"
    bodies = {
        "control character U+0001": (head + "spec: {repo: /x\x01}\n").encode(),
        "integer of 5000 characters is too long": (head + "spec: {n: " + "9" * 5000 + "}\n").encode(),
        "nesting deeper than": ("{a: " * 5000).encode(),
        "nesting deeper than ": ("[" * 20000).encode(),
        "aliases expand this document past": alias_bomb().encode(),
        "not UTF-8 text (byte 0xff)": head.encode().replace(b"shop", b"sh\xffop"),
    }
    for expected, body in bodies.items():
        message = error(api.put("/api/v1/projects/shop", content=body))
        assert expected in message, message
    assert api.get("/api/v1/projects").json() == []
    assert "path.name" in error(api.put("/api/v1/projects/Not%0aA-Name", content=head), code="INVALID_REQUEST")
    assert "path.session_id" in error(api.post("/api/v1/sessions/a%1b[2J/relaunch"), code="INVALID_REQUEST")


def test_the_event_stream_sends_every_event_of_a_burst_in_order(server, data_dir):
    registry = Registry.open(data_dir.db_path)
    with registry.transaction():
        for n in range(1234):
            registry.add_event("Burst", f"event {n}", project="shop")
    ids = [row["id"] for row in registry.db.query("select id from events order by id")]
    registry.close()

    def stream(**request) -> list[int]:
        seen: list[int] = []
        with server.client() as client, client.stream("GET", "/api/v1/events", **request) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    assert json.loads(line[5:])["reason"] == "Burst"
                if line.startswith("id: "):
                    seen.append(int(line[4:]))
                    if seen[-1] == ids[-1]:
                        return seen
        return seen

    assert stream() == ids
    assert stream(params={"after": ids[100]}) == ids[101:]
    # A reconnecting browser resumes exactly after the last id it saw; the header wins over ?after.
    assert stream(params={"after": 0}, headers={"Last-Event-ID": str(ids[999])}) == ids[1000:]
