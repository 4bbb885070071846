"""The HTTP API (`/api/v1`) and the dashboard, as one FastAPI application.

Every route calls the same service functions as the CLI (reconciler.reconcile.service.Service), so a
browser, a script and a terminal see and steer the same desired state. Errors have one shape:
`{"error": {"code": "SESSION_NOT_FOUND", "message": "..."}}`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..errors import AoError, NotFound, RuntimeFailure, RuntimeMissing, UsageError
from ..manifest.loader import ManifestError, ManifestIssue, load_text
from ..manifest.models import NAME_PATTERN, WORKER_NAME_PATTERN, Preset
from ..manifest.schema import project_schema
from ..paths import DataDir
from ..reconcile.service import ApplyReport, PassReport, Service
from ..reconcile.status import conditions
from ..views import event_view, message_view, project_view, session_rows, session_view
from . import auth

API = "/api/v1"
SESSION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,80}$"
EVENT_POLL_SECONDS = 0.5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


class SpawnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(pattern=NAME_PATTERN, description="Project to add the worker to.")
    issue: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, max_length=20000)
    name: str | None = Field(default=None, pattern=WORKER_NAME_PATTERN, description="Worker name (default issue-<I>).")
    agent: Preset | None = Field(default=None, description="Agent preset (default: the project's).")


class EnsureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(pattern=NAME_PATTERN)


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    message: str = Field(min_length=1, max_length=20000, description="Text to type into the agent's terminal.")
    sender: str | None = Field(default=None, alias="from", pattern=r"^[a-z0-9][a-z0-9._-]{0,80}$",
                               description="Shown as the `[from <sender>]` prefix.")
    queue: bool = Field(default=False, description="Keep the message until the agent runs.")


PROJECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": project_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def create_app(data_dir: DataDir, token: str, *, make_ao: Callable[[], Service] | None = None) -> FastAPI:
    """The application; `make_ao` builds one service object per request (a registry connection each)."""
    new_ao = make_ao or (lambda: Service(data_dir, on_wait=lambda _: None))
    app = FastAPI(title="ao", version=__version__, openapi_url=f"{API}/openapi.json", docs_url=f"{API}/docs",
                  redoc_url=None, description="Declarative fleet manager for AI coding agents.")
    app.state.token = token
    app.state.codes = auth.OneTimeCodes()
    app.state.redeem = app.state.codes.redeem

    # ------------------------------------------------------------ errors and auth

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body("INVALID_REQUEST", problems), status_code=422)

    @app.middleware("http")
    async def _require_token(request: Request, call_next):  # type: ignore[no-untyped-def]
        path = request.url.path
        public = path in (f"{API}/healthz", "/login") or path.startswith("/static")
        if not public and not auth.valid(token, request.headers.get("authorization"), request.cookies.get(auth.COOKIE)):
            if path.startswith(API):
                return JSONResponse(error_body("UNAUTHORIZED", "missing or wrong token: send `Authorization: "
                                               "Bearer <token>` (the token is in $AO_DATA_DIR/api-token)"),
                                    status_code=401)
            from .dashboard import login_page

            return login_page()
        return await call_next(request)

    def run(call: Callable[[Service], Any], *, not_found: str = "NOT_FOUND") -> Any:
        ao = new_ao()
        try:
            return call(ao)
        except ManifestError as exc:
            raise ApiError(422, "MANIFEST_INVALID", str(exc)) from exc
        except NotFound as exc:
            raise ApiError(404, not_found, str(exc)) from exc
        except UsageError as exc:
            raise ApiError(409, "CONFLICT", str(exc)) from exc
        except RuntimeMissing as exc:
            raise ApiError(503, "RUNTIME_MISSING", str(exc)) from exc
        except RuntimeFailure as exc:
            raise ApiError(502, "RUNTIME_FAILURE", str(exc)) from exc
        except AoError as exc:
            raise ApiError(409, "OPERATION_FAILED", str(exc)) from exc
        finally:
            if "registry" in ao.__dict__:  # opened lazily: close only what this request opened
                ao.close()

    def session_or_404(ao: Service, session_id: str) -> dict[str, Any]:
        record = ao.session(session_id)
        if record is None:
            raise ApiError(404, "SESSION_NOT_FOUND", f"no session {session_id!r}")
        live = ao.observe().get(session_id)
        view = session_view(record, live)
        view["conditions"] = conditions(record, live)
        return view

    def pass_body(report: PassReport) -> dict[str, Any]:
        return {"ok": report.ok, "sessions": session_rows(report)}

    def apply_body(report: ApplyReport) -> dict[str, Any]:
        return {"projects": [{"name": p.name, "status": p.status} for p in report.projects],
                **pass_body(report.reconcile)}

    # ------------------------------------------------------------ projects

    @app.get(f"{API}/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get(f"{API}/projects", tags=["projects"])
    def list_projects() -> list[dict[str, Any]]:
        def call(ao: Service) -> list[dict[str, Any]]:
            live = ao.observe()
            return [project_view(p, ao.sessions(p.name), live) for p in ao.projects()]
        return run(call)

    @app.get(f"{API}/projects/{{name}}", tags=["projects"])
    def get_project(name: Annotated[str, Field(pattern=NAME_PATTERN)]) -> dict[str, Any]:
        def call(ao: Service) -> dict[str, Any]:
            record = ao.project(name)
            if record is None or record.deleted:
                raise ApiError(404, "PROJECT_NOT_FOUND", f"no project {name!r}")
            live = ao.observe()
            view = project_view(record, ao.sessions(name), live)
            view["sessions"] = [session_view(s, live.get(s.id)) for s in ao.sessions(name)]
            return view
        return run(call)

    @app.put(f"{API}/projects/{{name}}", tags=["projects"], openapi_extra=PROJECT_BODY)
    async def put_project(name: str, request: Request) -> JSONResponse:
        """Apply one manifest document (JSON or YAML); the same validation and errors as `ao apply`."""
        text = (await request.body()).decode("utf-8", errors="replace")
        loaded, issues = load_text(text, f"<api:{name}>", data_dir.root)
        if not issues and len(loaded) != 1:
            issues = [ManifestIssue(f"<api:{name}>", 0, 0, "", "expected exactly one Project document")]
        if not issues and loaded[0].name != name:
            issues = [loaded[0].issue(("metadata", "name"), f"expected {name!r} (the name in the URL)")]
        if issues:
            return JSONResponse(error_body("MANIFEST_INVALID", "\n".join(map(str, issues)),
                                           issues=[vars(i) for i in issues]), status_code=422)
        report = await asyncio.to_thread(run, lambda ao: ao.apply(loaded))
        return JSONResponse(apply_body(report), status_code=201 if report.projects[0].status == "created" else 200)

    @app.delete(f"{API}/projects/{{name}}", tags=["projects"])
    def delete_project(name: str) -> dict[str, Any]:
        return run(lambda ao: apply_body(ao.delete_projects([name])), not_found="PROJECT_NOT_FOUND")

    @app.post(f"{API}/projects/{{name}}/reconcile", tags=["projects"])
    def reconcile_project(name: str) -> dict[str, Any]:
        def call(ao: Service) -> dict[str, Any]:
            record = ao.project(name)
            if record is None or record.deleted:
                raise ApiError(404, "PROJECT_NOT_FOUND", f"no project {name!r}")
            return pass_body(ao.reconcile([name]))
        return run(call)

    # ------------------------------------------------------------ sessions

    @app.get(f"{API}/sessions", tags=["sessions"])
    def list_sessions(project: str | None = None) -> list[dict[str, Any]]:
        def call(ao: Service) -> list[dict[str, Any]]:
            live = ao.observe()
            return [session_view(s, live.get(s.id)) for s in ao.sessions(project)]
        return run(call)

    @app.get(f"{API}/sessions/{{session_id}}", tags=["sessions"])
    def get_session(session_id: str) -> dict[str, Any]:
        return run(lambda ao: session_or_404(ao, session_id))

    @app.post(f"{API}/sessions", tags=["sessions"], status_code=201)
    def spawn(body: SpawnRequest) -> dict[str, Any]:
        """Add a worker owned by the API (re-applying the project's manifest keeps it), like `ao spawn`."""
        def call(ao: Service) -> dict[str, Any]:
            result = ao.spawn(body.project, issue=body.issue, prompt=body.prompt, name=body.name,
                              agent=body.agent.value if body.agent else None, owner="api")
            view = session_or_404(ao, result.session_id) if result.session_id else None
            return {"worker": result.worker, "orchestrator": result.orchestrator_id, "session": view,
                    **pass_body(result.report)}
        return run(call, not_found="PROJECT_NOT_FOUND")

    @app.delete(f"{API}/sessions/{{session_id}}", tags=["sessions"])
    def delete_session(session_id: str) -> dict[str, Any]:
        return run(lambda ao: pass_body(ao.delete_session(session_id)), not_found="SESSION_NOT_FOUND")

    @app.post(f"{API}/orchestrators", tags=["sessions"], status_code=201)
    def ensure_orchestrator(body: EnsureRequest) -> JSONResponse:
        """The project's one orchestrator: 200 with the active one, 201 when created or relaunched."""
        def call(ao: Service) -> JSONResponse:
            sid, status = ao.ensure_orchestrator(body.project)
            view = session_or_404(ao, sid)
            return JSONResponse({"status": status, "session": view}, status_code=200 if status == "reused" else 201)
        return run(call, not_found="PROJECT_NOT_FOUND")

    @app.post(f"{API}/sessions/{{session_id}}/messages", tags=["sessions"])
    def send_message(session_id: str, body: MessageRequest) -> dict[str, Any]:
        """Type a message into the session's agent; the same rules and outcomes as `ao send`."""
        from ..messaging import cli as sending

        codes = {sending.EXIT_UNKNOWN_SESSION: (404, "SESSION_NOT_FOUND"),
                 sending.EXIT_TERMINATED: (409, "SESSION_TERMINATED"),
                 sending.EXIT_NOT_RUNNING: (409, "SESSION_NOT_RUNNING"),
                 sending.EXIT_USAGE: (422, "MESSAGE_INVALID"),
                 sending.EXIT_FAILED: (502, "DELIVERY_FAILED")}
        try:
            sent = sending.send(session_id, body.message, data_dir=data_dir, sender=body.sender, queue=body.queue)
        except sending.SendError as exc:
            status, code = codes.get(exc.code, (500, "SEND_FAILED"))
            raise ApiError(status, code, str(exc)) from exc
        return {"id": session_id, "outcome": sent["outcome"], "detail": sent["detail"], "body": sent["body"]}

    @app.get(f"{API}/sessions/{{session_id}}/output", tags=["sessions"])
    def output(session_id: str, lines: Annotated[int, Query(ge=1, le=10000)] = 50) -> dict[str, Any]:
        def call(ao: Service) -> dict[str, Any]:
            session_or_404(ao, session_id)
            if session_id not in ao.observe():
                raise ApiError(409, "SESSION_NOT_RUNNING", f"session {session_id} has no live terminal")
            return {"id": session_id, "lines": lines, "output": ao.runtime.capture(session_id, lines)}
        return run(call)

    @app.post(f"{API}/sessions/{{session_id}}/relaunch", tags=["sessions"])
    def relaunch(session_id: str) -> dict[str, Any]:
        return run(lambda ao: {"result": ao.relaunch_session(session_id)}, not_found="SESSION_NOT_FOUND")

    @app.post(f"{API}/sessions/{{session_id}}/suspend", tags=["sessions"])
    def suspend(session_id: str) -> dict[str, Any]:
        return run(lambda ao: {"result": ao.set_suspended("session", session_id, True)}, not_found="SESSION_NOT_FOUND")

    @app.post(f"{API}/sessions/{{session_id}}/resume", tags=["sessions"])
    def resume(session_id: str) -> dict[str, Any]:
        return run(lambda ao: {"result": ao.set_suspended("session", session_id, False)}, not_found="SESSION_NOT_FOUND")

    @app.get(f"{API}/messages", tags=["sessions"])
    def messages(session: str | None = None, project: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        return run(lambda ao: [message_view(m) for m in ao.messages(project=project, session=session,
                                                                               limit=limit)])

    # ------------------------------------------------------------ events (server-sent)

    @app.get(f"{API}/events", tags=["events"], response_class=StreamingResponse)
    async def events(request: Request, after: Annotated[int, Query(ge=0)] = 0,
                     project: str | None = None) -> StreamingResponse:
        """Server-sent events: one `ao` event per registry event, as JSON; resumable with Last-Event-ID."""
        start = int(request.headers.get("last-event-id") or after)

        async def stream() -> AsyncIterator[str]:
            ao = new_ao()
            last, quiet_since = start, time.monotonic()
            yield "retry: 1000\n\n"
            try:
                while not await request.is_disconnected():
                    rows = await asyncio.to_thread(ao.events, project=project, after_id=last, limit=500)
                    for row in rows:
                        last = row.id
                        yield f"id: {row.id}\nevent: ao\ndata: {json.dumps(event_view(row))}\n\n"
                    if rows:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > 15:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                    await asyncio.sleep(EVENT_POLL_SECONDS)
            finally:
                ao.close()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    from .dashboard import register as register_dashboard

    register_dashboard(app, new_ao, token)
    return app

