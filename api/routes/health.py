"""Liveness and readiness, for the process supervisor and the proxy: no authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import EngineDep, NowDep, SettingsDep
from api.models import Liveness, Readiness
from api.readiness import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Liveness:
    """The process is up and answering."""
    return Liveness()


@router.get("/readyz", responses={503: {"model": Readiness, "description": "A check failed."}})
async def readyz(
    request: Request, response: Response, engine: EngineDep, settings: SettingsDep, now: NowDep
) -> Readiness:
    """Each check with what it found: the store (reachable, schema current), the Prefect API and Redis (when
    configured), the running round's feeds (when a round runs). 503 when one failed."""
    found = await readiness(
        engine, request.app.state.schema_head, settings, live=request.app.state.live, now=now
    )
    if not found.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return found
