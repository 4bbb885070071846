"""GET /api/v1/events: server-sent events, one `ao` event per registry event, resumable."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ..views import event_view
from .deps import require_token

EVENT_POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15

router = APIRouter(tags=["events"], dependencies=[Depends(require_token)])


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def events(request: Request, after: Annotated[int, Query(ge=0)] = 0,
                 project: str | None = None) -> StreamingResponse:
    """Server-sent events: one `ao` event per registry event, as JSON; resumable with Last-Event-ID."""
    start = int(request.headers.get("last-event-id") or after)

    async def stream() -> AsyncIterator[str]:
        ao = request.app.state.new_service()  # lives as long as the stream, not the request
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
                elif time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(EVENT_POLL_SECONDS)
        finally:
            ao.close()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
