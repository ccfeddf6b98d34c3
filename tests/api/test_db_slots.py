"""Requests wait for a store session on the event loop, never in a worker thread: no more sessions at once
than the slots, each waiting request bounded, and a request that finds none free in time gets a 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.db_slots import DbSlots
from api.main import POOL
from core.store.auth import Role
from tests.api.conftest import Headers


def test_no_more_sessions_at_once_than_slots_and_every_waiter_gets_one() -> None:
    slots = DbSlots(limit=2, wait_s=5)
    holding, most = 0, 0

    async def request() -> None:
        nonlocal holding, most
        async with slots.slot():
            holding += 1
            most = max(most, holding)
            await asyncio.sleep(0.02)
            holding -= 1

    async def burst() -> None:
        await asyncio.gather(*(request() for _ in range(7)))

    asyncio.run(burst())

    assert (most, holding) == (2, 0)


def test_a_request_that_finds_no_slot_in_time_is_refused_and_the_slot_still_serves_the_next() -> None:
    slots = DbSlots(limit=1, wait_s=0.05)

    async def crowded() -> None:
        async with slots.slot():
            with pytest.raises(PoolTimeout, match=r"no store session free within 0.05 s"):
                async with slots.slot():
                    pass
        async with slots.slot():
            pass

    asyncio.run(crowded())


def test_the_app_takes_a_slot_for_each_request_s_session_and_answers_503_when_none_frees(
    app: FastAPI, client: TestClient, as_role: Callable[[Role], Headers]
) -> None:
    headers = as_role(Role.VIEWER)
    assert client.get("/rounds", headers=headers).status_code == 200
    app.state.db_slots = DbSlots(limit=0, wait_s=0.05)  # every slot taken

    answer = client.get("/rounds", headers=headers)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert "store is busy" in answer.json()["detail"]
    assert client.get("/healthz").status_code == 200, "routes without a session are not held up"


def test_a_served_app_has_as_many_slots_as_its_pool_keeps_connections(app: FastAPI) -> None:
    slots: DbSlots = app.state.db_slots
    assert (slots.limit, slots.wait_s) == (POOL["pool_size"], POOL["pool_timeout"])
