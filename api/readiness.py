"""GET /readyz: can this API do its work? The store answers at the schema it needs; the Prefect API and Redis
answer when configured; the running round's feeds are live (when a round runs). Each check says what it
found; callers get the category, the log the details."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import httpx
import redis
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.live import LiveReader
from api.models import Check, Readiness
from core.config import Settings
from core.store.db import alembic_config

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0


def schema_head(url: str) -> str | None:
    """The newest migration this code knows: the revision the store must be at."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def check_store(store: Engine, head: str | None) -> Check:
    try:
        with store.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        log.warning("readiness: store unreachable: %s", exc)
        return Check(name="store", status="failed", detail=f"unreachable ({type(exc).__name__})")
    if revision != head:
        return Check(
            name="store",
            status="failed",
            detail=f"schema at {revision or 'nothing'}, this API needs {head}: run `btc-agent db upgrade`",
        )
    return Check(name="store", status="ok", detail=f"reachable, schema at {revision}")


async def check_prefect(url: str | None) -> Check:
    if not url:
        return Check(name="prefect", status="skipped", detail="no Prefect API configured (PREFECT_API_URL)")
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            answer = await client.get(f"{url.rstrip('/')}/health")
    except httpx.HTTPError as exc:
        log.warning("readiness: Prefect API at %s unreachable: %s", url, exc)
        return Check(name="prefect", status="failed", detail=f"unreachable ({type(exc).__name__})")
    if answer.status_code != 200:
        return Check(name="prefect", status="failed", detail=f"/health answered {answer.status_code}")
    return Check(name="prefect", status="ok", detail="reachable")


def prefect_api_url(settings: Settings) -> str | None:
    """`api.prefect_api_url`, else Prefect's own setting: the server the rounds report to."""
    if settings.api.prefect_api_url:
        return settings.api.prefect_api_url
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


async def readiness(
    store: Engine, head: str | None, settings: Settings, *, live: LiveReader, now: datetime
) -> Readiness:
    prefect_url = await asyncio.to_thread(prefect_api_url, settings)  # Prefect's first import is slow
    checks = list(
        await asyncio.gather(
            _store_in_time(store, head),
            check_prefect(prefect_url),
            asyncio.to_thread(check_redis, settings.redis_url),
            asyncio.to_thread(check_feeds, store, live, settings.mode, now),
        )
    )
    return Readiness(ready=all(c.status != "failed" for c in checks), checks=checks)


def check_redis(url: str | None) -> Check:
    if not url:
        return Check(name="redis", status="skipped", detail="no Redis configured (BTC_AGENT_REDIS_URL)")
    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("readiness: Redis unreachable: %s", exc)
        return Check(name="redis", status="failed", detail=f"unreachable ({type(exc).__name__})")
    finally:
        client.close()
    return Check(name="redis", status="ok", detail="reachable")


def check_feeds(store: Engine, live: LiveReader, mode: str, now: datetime) -> Check:
    """The running round's feeds, as its latest state says: failed when one is stale or disconnected."""
    try:
        with Session(store) as session:
            state, problem, _ = live.read(session, mode, now)
    except SQLAlchemyError as exc:
        return Check(
            name="feeds", status="skipped", detail=f"the round's state is unreadable ({type(exc).__name__})"
        )
    if state is None:
        return Check(name="feeds", status="skipped", detail=problem or "no round is running")
    down = sorted(name for name, feed in state.feeds.items() if feed.stale or not feed.connected)
    if down:
        return Check(
            name="feeds", status="failed", detail=f"{state.round_slug}: {', '.join(down)} stale or down"
        )
    return Check(
        name="feeds", status="ok", detail=f"{state.round_slug}: {', '.join(sorted(state.feeds))} live"
    )


async def _store_in_time(store: Engine, head: str | None) -> Check:
    try:
        return await asyncio.wait_for(asyncio.to_thread(check_store, store, head), CHECK_TIMEOUT_S * 2)
    except TimeoutError:
        return Check(name="store", status="failed", detail=f"no answer in {CHECK_TIMEOUT_S * 2:g} s")
