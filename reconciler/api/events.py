"""GET /api/v1/events: server-sent events, one `ao` event per registry event, resumable."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ..views import event_view
from .deps import require_token
from .errors import ApiError

EVENT_POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15
PAGE = 500  # events per read; a full page is followed at once by the next
MAX_ID = 2**63 - 1  # SQLite's largest integer
EVENT_ID = re.compile(r"[0-9]{1,19}")

router = APIRouter(tags=["events"], dependencies=[Depends(require_token)])


def resume_point(last_event_id: str | None, after: int) -> int:
    if not (last_event_id or "").strip():
        return after
    if not EVENT_ID.fullmatch(last_event_id.strip()) or int(last_event_id) > MAX_ID:
        raise ApiError(422, "INVALID_REQUEST", f"Last-Event-ID must be an event id (a whole number from 0 to "
                                               f"{MAX_ID}), got {last_event_id[:40]!r}")
    return int(last_event_id)


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def events(request: Request, after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                 project: str | None = None) -> StreamingResponse:
    """Server-sent events: one `ao` event per registry event in id order, as JSON; every event after
    `after`, or after the `Last-Event-ID` a reconnecting browser sends (it wins)."""
    start = resume_point(request.headers.get("last-event-id"), after)

    async def stream() -> AsyncIterator[str]:
        ao = request.app.state.new_service()  # lives as long as the stream, not the request
        last, quiet_since = start, time.monotonic()
        yield "retry: 1000\n\n"
        try:
            while not await request.is_disconnected():
                rows = await asyncio.to_thread(ao.events_after, last, limit=PAGE, project=project)
                for row in rows:
                    last = row.id
                    yield f"id: {row.id}\nevent: ao\ndata: {json.dumps(event_view(row))}\n\n"
                if len(rows) == PAGE:
                    continue  # a burst: read on before waiting
                if rows:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(EVENT_POLL_SECONDS)
        finally:
            ao.close()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
