"""Live-page support: the Server-Sent Events stream of changes, and the schedule preview.

``GET /api/scheduler/events`` streams :class:`~jobdeck.events.ChangeEvent` s as they happen. A browser's
``EventSource`` cannot send headers, so the stream accepts the dashboard's session cookie as well as a bearer
token. It sends a ``retry:`` hint first, a keep-alive comment every ``KEEPALIVE_S`` seconds, and ends when the
client goes away, when the runtime stops, or as soon as the server starts a graceful shutdown (``jobdeck serve``
calls :func:`end_event_streams`, which closes the event bus) — an open stream never holds a shutdown up. An app
serving jobdeck with its own uvicorn calls :func:`end_event_streams` from its server's shutdown too, or sets
uvicorn's ``--timeout-graceful-shutdown``: uvicorn waits for open responses before it runs the lifespan's shutdown.

``GET /api/scheduler/schedules/preview`` checks a schedule string and shows its next fire times, changing
nothing: the dashboard's schedule editor calls it as the operator types.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from jobdeck.api.deps import RuntimeDep
from jobdeck.api.envelope import Envelope, ok
from jobdeck.api.responses import errors
from jobdeck.api.routing import EnvelopeRoute, TrailingSlashRouter
from jobdeck.auth import SESSION_COOKIE
from jobdeck.errors import AuthError
from jobdeck.events import ChangeEvent
from jobdeck.models import Principal
from jobdeck.runtime import Runtime
from jobdeck.schedules import describe_schedule

__all__ = ["KEEPALIVE_S", "RETRY_MS", "SchedulePreviewOut", "end_event_streams", "router"]

KEEPALIVE_S = 15.0
RETRY_MS = 2000
_TICK_S = 0.5
_MAX_STREAM_S = 30 * 60.0
"""A stream is closed after this long; the browser reconnects at once (a bound for proxies and stale tabs)."""

router = TrailingSlashRouter(prefix="/api/scheduler", tags=["scheduler"], route_class=EnvelopeRoute)

_bearer = HTTPBearer(auto_error=False, description="An access token or API token; or the dashboard's session cookie")


async def stream_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of the stream: by bearer header, or by the dashboard's session cookie.

    :raises AuthError: neither is present and valid (401)
    """
    if credentials is not None:
        return await runtime.auth.authenticate(credentials.credentials)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return await runtime.auth.authenticate_session(session)
    raise AuthError("Not signed in: send 'Authorization: Bearer <token>' or the dashboard's session cookie")


StreamUser = Annotated[Principal, Depends(stream_principal)]


def end_event_streams(app: Any) -> None:
    """End every open event stream of ``app`` (jobdeck's app, or a host app with jobdeck's lifespan) now. Call it
    when the server begins a graceful shutdown: the server waits for open responses before the lifespan's shutdown."""
    runtime = getattr(app.state, "jobdeck", None)
    if isinstance(runtime, Runtime):
        runtime.events.close()


def _frame(event: ChangeEvent, number: int) -> str:
    return f"id: {number}\nevent: change\ndata: {json.dumps(event.as_json(), separators=(',', ':'))}\n\n"


async def event_stream(request: Request, runtime: Runtime) -> AsyncIterator[str]:
    """The SSE frames for one client, until it disconnects or the server or runtime stops."""
    with runtime.events.subscribe() as subscription:
        started = last_sent = time.monotonic()
        hello = {"kind": "hello", "at": runtime.clock.now().isoformat()}
        yield f"retry: {RETRY_MS}\nevent: hello\ndata: {json.dumps(hello)}\n\n"
        number = 0
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), timeout=_TICK_S)
            except TimeoutError:
                now = time.monotonic()
                if not runtime.engine.running or now - started > _MAX_STREAM_S or await request.is_disconnected():
                    return
                if now - last_sent >= KEEPALIVE_S:
                    last_sent = now
                    yield ": keep-alive\n\n"
                continue
            if event is None:  # the bus closed: the server is shutting down
                return
            if not event.public:
                continue
            number += 1
            last_sent = time.monotonic()
            yield _frame(event, number)


@router.get(
    "/events",
    operation_id="streamEvents",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "A Server-Sent Events stream of changes"},
        **errors(401, 503),
    },
)
async def stream_events(request: Request, runtime: RuntimeDep, user: StreamUser) -> StreamingResponse:
    """Server-Sent Events: one ``change`` event per execution or job change (``kind``, ``action``, ``job_id``,
    ``execution_ids``, ``status``). Events say what changed, not the new values: re-read what you show. A
    ``resync`` event means events were dropped; reload everything."""
    return StreamingResponse(
        event_stream(request, runtime),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no", "Connection": "keep-alive"},
    )


class SchedulePreviewOut(BaseModel):
    valid: bool = Field(description="Always true in a 200 answer; an invalid schedule is a 422 naming `schedule`")
    error: str | None
    schedule: str
    timezone: str
    kind: str
    description: str = Field(description="The schedule in words, in the requested language")
    next_run_times: list[datetime]


@router.get(
    "/schedules/preview",
    response_model=Envelope[SchedulePreviewOut],
    responses=errors(401, 503),
    operation_id="previewSchedule",
)
async def preview_schedule(
    request: Request,
    runtime: RuntimeDep,
    user: StreamUser,
    schedule: Annotated[str, Query(min_length=1, max_length=200, description="A schedule string to check")],
    timezone: Annotated[str, Query(max_length=64, description="IANA timezone the schedule fires in")] = "UTC",
    language: Annotated[str, Query(pattern="^(en|zh)$", description="Language of the description")] = "en",
    count: Annotated[int, Query(ge=1, le=20, description="How many fire times to compute")] = 5,
) -> dict[str, object]:
    """Check a schedule string and compute its next fire times (in the display timezone), changing nothing.
    An invalid schedule is a 422 whose ``data.errors`` names the field ``schedule`` with the reason."""
    preview = runtime.service.preview_schedule(schedule, timezone=timezone, count=count)
    data = SchedulePreviewOut(
        valid=True,
        error=None,
        schedule=schedule,
        timezone=timezone,
        kind=preview.schedule.kind.value,
        description=describe_schedule(preview.schedule, language=language),
        next_run_times=[t.astimezone(runtime.display_tz) for t in preview.next_run_times],
    )
    return ok(request, data)
