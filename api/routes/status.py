"""The agent at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import NowDep, SessionDep, SettingsDep, Viewer
from api.live import LiveReader
from api.models import Status
from api.status import agent_status
from api.status_cache import StatusCache

router = APIRouter(tags=["status"])


@router.get("/status", response_model=Status)
def read_status(
    _caller: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep, request: Request
) -> Response:
    """Mode, the current round and its timers, the kill switch, today's P&L by mode, the latest decision,
    and the running round's own report when its heartbeat is fresh (else null, with the reason). Computed
    at most once a second for all callers."""
    reader: LiveReader = request.app.state.live
    cache: StatusCache = request.app.state.status_cache
    body = cache.get(now, lambda: agent_status(session, settings, now, live_read=reader.read))
    return Response(content=body, media_type="application/json")
