"""Routes under /api/v1/sessions, /api/v1/orchestrators and /api/v1/messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from ..reconcile.service import Service
from ..reconcile.status import conditions
from ..views import message_view, session_view
from .deps import (
    PROJECT_NOT_FOUND,
    SESSION_NOT_FOUND,
    ServiceDep,
    SessionId,
    require_token,
)
from .errors import ApiError
from .models import (
    CommandResult,
    EnsureRequest,
    EnsureResult,
    MessageRequest,
    MessageView,
    Output,
    PassResult,
    SentMessage,
    SessionView,
    SpawnRequest,
    SpawnResult,
)
from .projects import pass_body

router = APIRouter(tags=["sessions"], dependencies=[Depends(require_token)])


def session_or_404(ao: Service, session_id: str) -> dict:
    record = ao.session(session_id)
    if record is None:
        raise ApiError(404, "SESSION_NOT_FOUND", f"no session {session_id!r}")
    observed = ao.observe().get(session_id)
    rss = ao.memory_usage({session_id: observed} if observed else {}).get(session_id)
    view = session_view(record, observed, ao.activity().get(record.id), rss)
    view["conditions"] = conditions(record, observed)
    return view


@router.get("/sessions", response_model=list[SessionView])
def list_sessions(ao: ServiceDep, project: str | None = None) -> list[dict]:
    observed = ao.observe()
    activity, rss = ao.activity(), ao.memory_usage(observed)
    return [session_view(s, observed.get(s.id), activity.get(s.id), rss.get(s.id)) for s in ao.sessions(project)]


@router.get("/sessions/{session_id}", response_model=SessionView)
def get_session(session_id: SessionId, ao: ServiceDep) -> dict:
    return session_or_404(ao, session_id)


@router.post("/sessions", status_code=201, response_model=SpawnResult, dependencies=[PROJECT_NOT_FOUND])
def spawn(body: SpawnRequest, ao: ServiceDep) -> dict:
    """Add a worker owned by the API (re-applying the project's manifest keeps it), like `ao spawn`."""
    result = ao.spawn(body.project, issue=body.issue, prompt=body.prompt, name=body.name,
                      agent=body.agent.value if body.agent else None, owner="api")
    view = session_or_404(ao, result.session_id) if result.session_id else None
    return {"worker": result.worker, "orchestrator": result.orchestrator_id, "session": view,
            **pass_body(result.report)}


@router.delete("/sessions/{session_id}", response_model=PassResult, dependencies=[SESSION_NOT_FOUND])
def delete_session(session_id: SessionId, ao: ServiceDep) -> dict:
    return pass_body(ao.delete_session(session_id))


@router.post("/orchestrators", status_code=201, response_model=EnsureResult, dependencies=[PROJECT_NOT_FOUND],
             responses={200: {"model": EnsureResult, "description": "The active orchestrator, reused"}})
def ensure_orchestrator(body: EnsureRequest, ao: ServiceDep) -> JSONResponse:
    """The project's one orchestrator: 200 with the active one, 201 when created or relaunched."""
    sid, status = ao.ensure_orchestrator(body.project)
    view = session_or_404(ao, sid)
    return JSONResponse({"status": status, "session": view}, status_code=200 if status == "reused" else 201)


@router.post("/sessions/{session_id}/messages", response_model=SentMessage)
def send_message(session_id: SessionId, body: MessageRequest, request: Request) -> dict:
    """Type a message into the session's agent; the same rules and outcomes as `ao send`."""
    from ..messaging import cli as sending

    codes = {sending.EXIT_UNKNOWN_SESSION: (404, "SESSION_NOT_FOUND"),
             sending.EXIT_TERMINATED: (409, "SESSION_TERMINATED"),
             sending.EXIT_NOT_RUNNING: (409, "SESSION_NOT_RUNNING"),
             sending.EXIT_AGENT_WAITING: (409, "AGENT_WAITING"),  # nothing typed; the message is queued
             sending.EXIT_USAGE: (422, "MESSAGE_INVALID"),
             sending.EXIT_AGENT_WAITING: (409, "AGENT_WAITING"),  # a dialog on screen; the message is queued
             sending.EXIT_FAILED: (502, "DELIVERY_FAILED")}
    try:
        sent = sending.send(session_id, body.message, data_dir=request.app.state.data_dir, sender=body.sender,
                            queue=body.queue)
    except sending.SendError as exc:
        status, code = codes.get(exc.code, (502, "SEND_FAILED"))
        raise ApiError(status, code, str(exc)) from exc
    return {"id": session_id, "outcome": sent["outcome"], "detail": sent["detail"], "body": sent["body"]}


@router.get("/sessions/{session_id}/output", response_model=Output)
def output(session_id: SessionId, ao: ServiceDep, lines: Annotated[int, Query(ge=1, le=10000)] = 50) -> dict:
    session_or_404(ao, session_id)
    if session_id not in ao.observe():
        raise ApiError(409, "SESSION_NOT_RUNNING", f"session {session_id} has no live terminal")
    return {"id": session_id, "lines": lines, "output": ao.capture(session_id, lines)}


@router.post("/sessions/{session_id}/relaunch", response_model=CommandResult, dependencies=[SESSION_NOT_FOUND])
def relaunch(session_id: SessionId, ao: ServiceDep) -> dict:
    return {"result": ao.relaunch_session(session_id)}


@router.post("/sessions/{session_id}/suspend", response_model=CommandResult, dependencies=[SESSION_NOT_FOUND])
def suspend(session_id: SessionId, ao: ServiceDep) -> dict:
    return {"result": ao.set_suspended("session", session_id, True)}


@router.post("/sessions/{session_id}/resume", response_model=CommandResult, dependencies=[SESSION_NOT_FOUND])
def resume(session_id: SessionId, ao: ServiceDep) -> dict:
    return {"result": ao.set_suspended("session", session_id, False)}


@router.post("/sessions/{session_id}/stop", response_model=CommandResult, dependencies=[SESSION_NOT_FOUND])
def stop(session_id: SessionId, ao: ServiceDep) -> dict:
    """Stop the agent on purpose; ao does not restart it until it is started again."""
    return {"result": ao.stop_session(session_id)}


@router.post("/sessions/{session_id}/start", response_model=CommandResult, dependencies=[SESSION_NOT_FOUND])
def start(session_id: SessionId, ao: ServiceDep) -> dict:
    """Start a stopped (or exited) session's agent now."""
    return {"result": ao.start_session(session_id)}


@router.get("/messages", response_model=list[MessageView])
def messages(ao: ServiceDep, session: str | None = None, project: str | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict]:
    return [message_view(m) for m in ao.messages(project=project, session=session, limit=limit)]
