"""GET /readyz: can this API do its work? The store answers at the schema it needs; the Prefect API answers
when one is configured. Each check says what it found; callers get the category, the log the details."""

from __future__ import annotations

import asyncio
import logging

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

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


async def readiness(store: Engine, head: str | None, settings: Settings) -> Readiness:
    prefect_url = await asyncio.to_thread(prefect_api_url, settings)  # Prefect's first import is slow
    checks = list(await asyncio.gather(_store_in_time(store, head), check_prefect(prefect_url)))
    return Readiness(ready=all(c.status != "failed" for c in checks), checks=checks)


async def _store_in_time(store: Engine, head: str | None) -> Check:
    try:
        return await asyncio.wait_for(asyncio.to_thread(check_store, store, head), CHECK_TIMEOUT_S * 2)
    except TimeoutError:
        return Check(name="store", status="failed", detail=f"no answer in {CHECK_TIMEOUT_S * 2:g} s")
