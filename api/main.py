"""The API application: `create_app(settings)` wires the store, the clock, the signing key and the routers.
Nothing here touches the store or the key: the first request that needs them does."""

from __future__ import annotations

import json
import logging
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from slowapi.errors import RateLimitExceeded
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.db_slots import DbSlots
from api.live import LiveReader
from api.metrics import registry_for
from api.models import Problem
from api.ratelimit import make_limiter, rate_limited
from api.readiness import schema_head
from api.routes import (
    backtest_runs,
    backtests,
    controls,
    events,
    health,
    login,
    metrics,
    pnl,
    records,
    rounds,
    tokens,
    users,
)
from api.routes import status as status_routes
from api.security import SigningKey
from api.status_cache import StatusCache
from core.clock import Clock, WallClock
from core.config import Settings
from core.store.db import make_engine, normalize_url

log = logging.getLogger(__name__)

TITLE = "polymarket-btc-agent API"
POOL: dict[str, Any] = {"pool_size": 20, "max_overflow": 60, "pool_timeout": 5}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not authenticated, or the token is expired, revoked or unknown."},
    403: {
        "model": Problem,
        "description": "Authenticated, but the role (or the client network) is not enough.",
    },
}


def unique_id(route: APIRoute) -> str:
    """Operation ids the console's generated client reads well: `<tag>-<function>`."""
    return f"{route.tags[0]}-{route.name}"


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version=version("polymarket-btc-agent"),
        summary="Status, history and metrics of the BTC Up/Down agent. See docs/api/README.md.",
        generate_unique_id_function=unique_id,
    )
    url = settings.resolved_database_url
    app.state.settings = settings
    pool = _pool_for(url)
    app.state.engine = make_engine(url, **pool)
    app.state.db_slots = DbSlots(pool.get("pool_size"), POOL["pool_timeout"])
    app.state.clock = clock or WallClock()
    app.state.signing_key = SigningKey(settings)
    app.state.schema_head = schema_head(url)
    app.state.live = LiveReader(settings)
    app.state.status_cache = StatusCache(settings.api.status_cache_seconds)
    app.state.metrics = registry_for(app.state.engine, settings.resolved_spool_dir, app.state.clock)

    app.include_router(health.router)
    app.state.limiter = make_limiter(settings)
    app.include_router(
        login.login_router(app.state.limiter, settings.api.login_rate_limit), responses=AUTH_RESPONSES
    )
    app.include_router(login.router, responses=AUTH_RESPONSES)
    for router in (
        tokens.router,
        users.router,
        status_routes.router,
        rounds.router,
        metrics.router,
        controls.router,
        events.router,
        records.router,
        pnl.router,
        backtests.router,
        backtest_runs.router,
    ):
        app.include_router(router, responses=AUTH_RESPONSES)

    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(PoolTimeout, _store_busy)
    app.add_exception_handler(RateLimitExceeded, rate_limited)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.api.trusted_proxies))
    return app


async def _store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable: %s", exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"the store is unavailable ({type(exc).__name__}); see GET /readyz"},
    )


async def _store_busy(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("store busy: %s", exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"the store is busy: no connection within {POOL['pool_timeout']} s; try again"},
        headers={"Retry-After": "1"},
    )


def _pool_for(url: str) -> dict[str, Any]:
    """A pool larger than the requests in flight need: a request holds a connection from its first query to
    its end while its parts wait for worker threads, so a pool the size of SQLAlchemy's default (15) against
    40 threads deadlocks under load. Requests take at most `pool_size` sessions at once (api/db_slots.py),
    the overflow serves the event streams' checks and the routes that open their own session. A wait for a
    slot or a connection is bounded and answered 503."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return {}
    return dict(POOL)


def app_from_environment() -> FastAPI:
    """The app of one worker process of `btc-agent api --workers N`: settings from the environment."""
    from api.serving import freeze_loaded_heap
    from core.config import load_settings

    app = create_app(load_settings())
    freeze_loaded_heap()
    return app


def openapi_document(app: FastAPI) -> str:
    """The OpenAPI document as committed in docs/api/openapi.json (stable key order, final newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
