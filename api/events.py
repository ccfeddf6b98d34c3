"""The live stream behind `GET /events/stream`: the running round's state and every decision, order, order
event, fill, risk event and settlement of one mode, as Server-Sent Events.

Two sources, one shape (the event name is the record's kind, the data what Redis carries:
`{"kind": <table>, "row": {...}}`, or the `LiveState` for `state`):
- Redis pub/sub when `BTC_AGENT_REDIS_URL` is set: the round publishes there as it writes;
- the store otherwise: polled every `POLL_S` for rows of the last `LOOKBACK_S` not sent yet (rows are keyed
  by id, so a row the outbox writes late still goes out once), and the newest heartbeat.
If Redis fails mid-stream the stream says so (`notice`) and goes on from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select
from sse_starlette import ServerSentEvent

from api.status import latest_heartbeat
from core.clock import Clock
from core.live.publish import events_channel, state_key
from core.store.models import (
    DecisionRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    RiskEventRow,
    SettlementRow,
)

log = logging.getLogger(__name__)

POLL_S = 0.2
LOOKBACK_S = 120.0
"""How far back each poll looks for rows not sent yet: more than any outbox lag a live round survives."""
STREAMED: tuple[type[SQLModel], ...] = (
    DecisionRow,
    OrderRow,
    OrderEventRow,
    FillRow,
    RiskEventRow,
    SettlementRow,
)
EVENT_NAMES = {
    "decisions": "decision",
    "orders": "order",
    "order_events": "order_event",
    "fills": "fill",
    "risk_events": "risk_event",
    "settlements": "settlement",
}
"""Table -> the event's name on the stream."""


def record_event(table: str, row: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(
        json.dumps({"kind": table, "row": row}),
        event=EVENT_NAMES.get(table, table),
        id=str(row.get("id", "")),
    )


def state_event(state: dict[str, Any] | str) -> ServerSentEvent:
    return ServerSentEvent(state if isinstance(state, str) else json.dumps(state), event="state")


class StoreStream:
    """The store as a stream: what was written since the client connected, then every `POLL_S`."""

    def __init__(self, engine: Engine, mode: str, clock: Clock) -> None:
        self._engine = engine
        self._mode = mode
        self._clock = clock
        self._since = clock.now()
        self._sent: dict[str, float] = {}
        self._heartbeat: str | None = None

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        while True:
            for event in await asyncio.to_thread(self.poll):
                yield event
            await asyncio.sleep(POLL_S)

    def poll(self) -> list[ServerSentEvent]:
        """New rows of the mode's own runs, oldest first, and the heartbeat when it changed."""
        now = self._clock.now()
        floor = max(self._since, now - timedelta(seconds=LOOKBACK_S))
        found: list[tuple[float, str, dict[str, Any]]] = []
        with Session(self._engine) as session:
            for model in STREAMED:
                for row in self._rows(session, model, floor):
                    if row.id in self._sent:
                        continue
                    ts = row.ts.timestamp()
                    self._sent[row.id] = ts
                    found.append((ts, str(model.__tablename__), row.model_dump(mode="json")))
            beat = latest_heartbeat(session, self._mode)
        cutoff = (now - timedelta(seconds=LOOKBACK_S)).timestamp()
        self._sent = {key: ts for key, ts in self._sent.items() if ts >= cutoff}
        events = [record_event(table, row) for _, table, row in sorted(found, key=lambda item: item[0])]
        if beat is not None and beat.id != self._heartbeat and beat.ts >= floor:
            self._heartbeat = beat.id
            events.append(state_event(beat.details))
        return events

    def _rows(self, session: Session, model: type[SQLModel], floor: Any) -> list[Any]:
        if model is OrderEventRow:
            query: Any = (
                select(OrderEventRow)
                .join(OrderRow, col(OrderRow.id) == col(OrderEventRow.order_id))
                .where(col(OrderRow.run_id) == self._mode)
                .where(col(OrderEventRow.ts) >= floor)
            )
        else:
            query = (
                select(model)
                .where(model.run_id == self._mode)  # type: ignore[attr-defined]
                .where(model.ts >= floor)  # type: ignore[attr-defined]
            )
        return list(session.exec(query).all())


class RedisStream:
    """Redis pub/sub as a stream: the mode's events channel and its state channel."""

    def __init__(self, url: str, namespace: str, mode: str) -> None:
        self._url = url
        self._events = events_channel(namespace, mode)
        self._state = state_key(namespace, mode)

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=1.0)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._events, self._state)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                channel = message["channel"].decode()
                text = message["data"].decode()
                if channel == self._state:
                    yield state_event(text)
                    continue
                try:
                    parsed = json.loads(text)
                    yield record_event(str(parsed["kind"]), dict(parsed["row"]))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("redis: a malformed event on %s dropped: %s", self._events, exc)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


async def live_events(
    *, redis: Callable[[], RedisStream] | None, store: Callable[[], StoreStream]
) -> AsyncIterator[ServerSentEvent]:
    """Redis's stream when configured, the store's otherwise or once Redis fails."""
    if redis is not None:
        try:
            async for event in redis().events():
                yield event
        except (aioredis.RedisError, OSError) as exc:
            log.warning("event stream: redis failed (%s); going on from the store", exc)
            yield ServerSentEvent(
                json.dumps({"source": "store", "reason": f"redis: {type(exc).__name__}: {exc}"}),
                event="notice",
            )
    async for event in store().events():
        yield event
