"""The HTTP API against a real `ao serve` on a free loopback port, with real tmux and git."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
import schemathesis

from tests.conftest import LOGIN_BUG, demo_manifest, needs_tmux, retry_until, tmux
from tests.integration.api_server import start_server, stop_server

pytestmark = needs_tmux


def shop(repo):
    return demo_manifest(repo, LOGIN_BUG)  # spec.agent is line 7


@pytest.fixture
def server(data_dir):
    # Without the controller, every pass in these tests is one that a request caused.
    srv = start_server(data_dir, "--no-controller")
    yield srv
    stop_server(srv)


def test_serve_runs_the_controller_loop_too(data_dir, repo):
    srv = start_server(data_dir)
    try:
        with srv.client() as api:
            assert put_shop(api, repo).status_code == 201
            pid = api.get("/api/v1/sessions/shop-1").json()["pid"]
            os.kill(pid, signal.SIGKILL)
            relaunched = retry_until(lambda: (s := api.get("/api/v1/sessions/shop-1").json())["restarts"] == 1
                                     and s["agent"] == "running" and s, message="relaunched by the controller")
            assert relaunched["pid"] != pid
    finally:
        stop_server(srv)


@pytest.fixture
def api(server):
    with server.client() as client:
        yield client


def put_shop(api, repo, text=None):
    return api.put("/api/v1/projects/shop", content=text or shop(repo),
                   headers={"Content-Type": "application/yaml"})


def test_requests_without_the_token_are_refused(server):
    with server.client(token=None) as anonymous:
        assert anonymous.get("/api/v1/healthz").status_code == 200
        for method, path in (("GET", "/api/v1/projects"), ("GET", "/api/v1/sessions"),
                             ("POST", "/api/v1/orchestrators"), ("GET", "/api/v1/openapi.json")):
            response = anonymous.request(method, path)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "UNAUTHORIZED"
    with server.client(token="wrong") as wrong:
        assert wrong.get("/api/v1/projects").status_code == 401
    with server.client(token=None) as browser:
        assert browser.get("/").status_code == 401  # the dashboard asks for the login link
        assert browser.get(server.login_url.replace(server.base, "")).status_code in (200, 303)


def test_apply_list_and_delete_a_project(api, data_dir, repo):
    created = put_shop(api, repo)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["projects"] == [{"name": "shop", "status": "created"}]
    assert {s["id"] for s in body["sessions"]} == {"shop-orchestrator", "shop-1"}
    again = put_shop(api, repo)
    assert again.status_code == 200 and again.json()["projects"][0]["status"] == "unchanged"
    projects = api.get("/api/v1/projects").json()
    assert [(p["name"], p["sync"], p["health"]) for p in projects] == [("shop", "Synced", "Healthy")]
    sessions = api.get("/api/v1/sessions", params={"project": "shop"}).json()
    assert [s["id"] for s in sessions] == ["shop-orchestrator", "shop-1"]
    one = api.get("/api/v1/sessions/shop-1").json()
    assert one["phase"] == "Running" and one["issue"] == "123" and one["conditions"][0]["type"] == "Ready"
    deleted = api.delete("/api/v1/projects/shop")
    assert deleted.status_code == 200
    assert tmux(data_dir, "list-sessions", check=False).returncode != 0  # nothing left on the server
    missing = api.delete("/api/v1/projects/shop")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PROJECT_NOT_FOUND"


def test_an_invalid_manifest_is_422_with_file_and_field_and_changes_nothing(api, repo):
    bad = shop(repo).replace("  agent: {preset: demo}", "  agent: {preset: demo}\n  colour: red")
    response = put_shop(api, repo, bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "MANIFEST_INVALID"
    assert error["issues"][0]["path"] == "spec.colour" and error["issues"][0]["line"] == 8
    assert "<api:shop>:8:3: spec.colour: unknown field 'colour'" in error["message"]
    mismatch = api.put("/api/v1/projects/other", content=shop(repo))
    assert mismatch.status_code == 422 and "the name in the URL" in mismatch.json()["error"]["message"]
    relative = put_shop(api, repo, shop(repo).replace(f"repo: {repo}", "repo: ../shop"))
    assert relative.status_code == 422 and relative.json()["error"]["issues"][0]["path"] == "spec.repo"
    assert "expected an absolute path" in relative.json()["error"]["message"]
    missing = put_shop(api, repo, shop(repo).replace(f"repo: {repo}", f"repo: {repo}-gone"))
    assert missing.status_code == 422 and missing.json()["error"]["issues"][0]["path"] == "spec.repo"
    assert api.get("/api/v1/projects").json() == []


def test_spawn_survives_reapply_and_can_be_deleted(api, repo):
    assert put_shop(api, repo).status_code == 201
    spawned = api.post("/api/v1/sessions", json={"project": "shop", "issue": "7", "prompt": "Write docs"})
    assert spawned.status_code == 201, spawned.text
    body = spawned.json()
    assert body["session"]["id"] == "shop-2" and body["worker"] == "issue-7"
    assert body["orchestrator"] == "shop-orchestrator"
    assert put_shop(api, repo).status_code == 200
    assert api.get("/api/v1/sessions/shop-2").json()["phase"] == "Running"
    refused = api.delete("/api/v1/sessions/shop-1")
    assert refused.status_code == 409 and "declared by the manifest" in refused.json()["error"]["message"]
    assert api.delete("/api/v1/sessions/shop-2").status_code == 200
    assert api.get("/api/v1/sessions/shop-2").json()["phase"] == "Terminated"
    unknown = api.post("/api/v1/sessions", json={"project": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "PROJECT_NOT_FOUND"
    invalid = api.post("/api/v1/sessions", json={"project": "shop", "bogus": 1})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "INVALID_REQUEST"


def test_concurrent_orchestrator_requests_yield_one_session(api, data_dir, repo):
    assert put_shop(api, repo).status_code == 201
    tmux(data_dir, "kill-session", "-t", "=shop-orchestrator")
    codes: list[int] = []

    def ensure() -> None:
        codes.append(api.post("/api/v1/orchestrators", json={"project": "shop"}).status_code)

    threads = [threading.Thread(target=ensure) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 200, 200, 200, 201]
    names = tmux(data_dir, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert names.count("shop-orchestrator") == 1


def test_messages_output_and_error_codes(api, repo):
    assert put_shop(api, repo).status_code == 201
    retry_until(lambda: api.get("/api/v1/sessions/shop-1/output", params={"lines": 3}).json()["output"]
                .rstrip().endswith(">"), message="agent ready")
    sent = api.post("/api/v1/sessions/shop-1/messages", json={"message": "hello\nfrom the API", "from": "dashboard"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["outcome"] == "delivered" and sent.json()["body"] == "[from dashboard] hello\nfrom the API"
    output = retry_until(lambda: (o := api.get("/api/v1/sessions/shop-1/output", params={"lines": 40}).json()["output"])
                         and "from the API" in o and o)
    assert "received (2 lines):" in output
    # A dialog only a person should answer: nothing is typed, the message waits in the queue.
    assert api.post("/api/v1/sessions/shop-1/messages", json={"message": "/ask Drop the table?"}).status_code == 200
    held = retry_until(lambda: (r := api.post("/api/v1/sessions/shop-1/messages", json={"message": "later"}))
                       .status_code == 409 and r)
    assert held.json()["error"]["code"] == "AGENT_WAITING" and "message queued" in held.json()["error"]["message"]
    shown = api.get("/api/v1/sessions/shop-1").json()
    assert (shown["activity"], shown["activityReason"]) == ("waiting", "question: Drop the table? (y/n)")
    assert api.get("/api/v1/messages", params={"session": "shop-1"}).json()[-1]["outcome"] == "queued"
    assert api.post("/api/v1/sessions/nope-1/messages", json={"message": "x"}).json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert api.post("/api/v1/sessions/shop-1/messages", json={"message": " "}).status_code == 422
    assert api.get("/api/v1/sessions/nope-1").status_code == 404
    assert api.delete("/api/v1/projects/shop").status_code == 200
    gone = api.post("/api/v1/sessions/shop-1/messages", json={"message": "still there?"})
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "SESSION_TERMINATED"


def test_events_stream_as_server_sent_events(server, api, repo):
    lines: list[str] = []

    def listen() -> None:
        with server.client() as client, client.stream("GET", "/api/v1/events") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if "Created" in line and "shop-1" in line:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert put_shop(api, repo).status_code == 201
    listener.join(timeout=20)
    data = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    assert any(d["reason"] == "Created" and d["session"] == "shop-1" for d in data)
    assert any(line.startswith("id: ") for line in lines) and "event: ao" in lines


def test_the_api_never_fails_with_a_server_error(server):
    """schemathesis generates requests for every operation of the OpenAPI description."""
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{server.base}/api/v1/openapi.json",
                                           headers={"Authorization": f"Bearer {server.token}"})
    auth = {"Authorization": f"Bearer {server.token}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/events":
            continue  # an endless stream; covered by test_events_stream_as_server_sent_events

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(headers=auth, timeout=30)
            case.validate_response(response, checks=[schemathesis.checks.not_a_server_error])

        check()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 14, checked
