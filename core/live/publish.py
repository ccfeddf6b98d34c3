"""The running round's state and records on Redis, when `BTC_AGENT_REDIS_URL` is set: low-latency and
ephemeral, beside the store (which stays the record).

- `<namespace>:<mode>:state`: the latest `LiveState` as JSON, expiring after `STATE_TTL_S` (a round that
  died stops looking alive), also published on the channel of the same name;
- `<namespace>:<mode>:events`: every decision, order, order event, fill, risk event and settlement as it is
  written, as `{"kind": <table>, "row": {...}}`.

Trading never waits for Redis: records go through a bounded queue (the oldest dropped and counted when it is
full), and every Redis failure is counted and logged once per outage, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as redis
from sqlmodel import SQLModel

from core.live.state import LiveState
from core.store.models import (
    DecisionRecord,
    FillRecord,
    OrderEventRecord,
    OrderRecord,
    RiskEventRecord,
    SettlementRecord,
    table_of,
)

log = logging.getLogger(__name__)

STATE_TTL_S = 10
QUEUE_LIMIT = 10_000
TIMEOUT_S = 1.0
PUBLISHED = (DecisionRecord, OrderRecord, OrderEventRecord, FillRecord, RiskEventRecord, SettlementRecord)


def state_key(namespace: str, mode: str) -> str:
    return f"{namespace}:{mode}:state"


def events_channel(namespace: str, mode: str) -> str:
    return f"{namespace}:{mode}:events"


class RedisPublisher:
    """`state(...)` once a second, `record(row)` from the sink (never blocks); `run()` sends the records."""

    def __init__(self, url: str, mode: str, *, namespace: str = "btc-agent") -> None:
        self._client: redis.Redis = redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self._state_key = state_key(namespace, mode)
        self._events = events_channel(namespace, mode)
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self.published = 0
        self.dropped = 0
        self.failures = 0
        self._down = False

    def record(self, row: SQLModel) -> None:
        if not isinstance(row, PUBLISHED):
            return
        message = json.dumps({"kind": table_of(row), "row": row.model_dump(mode="json")})
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    async def state(self, state: LiveState) -> None:
        text = state.model_dump_json()
        await self._send(self._client.set(self._state_key, text, ex=STATE_TTL_S))
        await self._send(self._client.publish(self._state_key, text))

    async def run(self) -> None:
        """Publish queued records until cancelled."""
        while True:
            message = await self._queue.get()
            if await self._send(self._client.publish(self._events, message)):
                self.published += 1

    async def flush(self, timeout_s: float = 2.0) -> None:
        """Publish what is queued (at the round's end), for at most `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not self._queue.empty():
                    if await self._send(self._client.publish(self._events, self._queue.get_nowait())):
                        self.published += 1

    async def close(self) -> None:
        await self._client.aclose()

    async def _send(self, command: Any) -> bool:
        try:
            await command
        except (redis.RedisError, OSError) as exc:
            self.failures += 1
            if not self._down:
                self._down = True
                log.warning(
                    "redis: %s: %s; the live state goes on in the store only", type(exc).__name__, exc
                )
            return False
        if self._down:
            self._down = False
            log.warning("redis: reachable again; publishing the live state there again")
        return True
