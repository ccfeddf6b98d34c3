"""`GET /events/stream`: the live round as Server-Sent Events (see api/events.py for the sources)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session
from sse_starlette import EventSourceResponse

from api.auth import Principal
from api.deps import (
    CredentialsDep,
    EngineDep,
    NowDep,
    SettingsDep,
    admitted,
    get_current_user,
)
from api.events import RedisStream, StoreStream, live_events
from api.models import Mode
from core.store.auth import Role

router = APIRouter(tags=["events"])

PING_S = 15
STREAM_DESCRIPTION = """\
Server-Sent Events, one per record as the round writes it: `decision`, `order`, `order_event`, `fill`,
`risk_event`, `settlement` (data: `{"kind": <table>, "row": {...}}`, the row as in the history routes), and
`state` about once a second (data: the LiveState of GET /status's `live`). `notice` says when the source
changes (Redis failed: the store goes on). A comment line every 15 s keeps proxies from closing the stream.
"""


def stream_viewer(
    request: Request,
    *,
    credentials: CredentialsDep,
    now: NowDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> Principal:
    """Viewer and above, checked on a session of its own that closes at once: a stream lasts for hours and
    must not hold a database connection (the usual `SessionDep` lives as long as the response)."""
    with Session(engine) as session:
        return admitted(get_current_user(session, credentials, request, now), Role.VIEWER, request, settings)


@router.get(
    "/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DESCRIPTION}},
)
async def stream_events(
    request: Request,
    _caller: Annotated[Principal, Depends(stream_viewer)],
    engine: EngineDep,
    settings: SettingsDep,
    mode: Annotated[Mode | None, Query(description="paper or live; the agent's own mode by default")] = None,
) -> EventSourceResponse:
    """The running round's records and state as they happen (viewer and above), from Redis when configured,
    else from the store (polled every 0.2 s)."""
    chosen = mode or settings.mode
    clock = request.app.state.clock
    redis_url = settings.redis_url
    redis = (
        (lambda: RedisStream(redis_url, settings.redis_namespace, chosen)) if redis_url is not None else None
    )
    return EventSourceResponse(
        live_events(redis=redis, store=lambda: StoreStream(engine, chosen, clock)), ping=PING_S
    )
