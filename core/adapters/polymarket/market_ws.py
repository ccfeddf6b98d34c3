"""The CLOB market channel for one round's tokens: books, level changes, trades, tick sizes, resolution.

Book integrity: every connection starts with a `BookReset` of both tokens (whatever came before may have
been missed), so the engine trusts a book again only from the snapshot the new subscription brings. If a
token's snapshot has not come `snapshot_wait_s` after subscribing, it is fetched over REST (`GET /book`).
A connection silent for `resync_after_s` is dropped and made again (see `FeedClient`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from core.adapters.polymarket.feed import Emit, FeedClient, Parse
from core.clock import Clock
from core.events import BookReset, BookSnapshot, Event

log = logging.getLogger(__name__)

FetchSnapshot = Callable[[str], Awaitable[BookSnapshot | None]]

PING_TEXT = "PING"
PING_INTERVAL_S = 10.0
# The unified SDK calls this socket dead after 30 s without a PONG.
IDLE_TIMEOUT_S = 30.0
SNAPSHOT_WAIT_S = 2.0


def market_subscribe_frame(token_ids: Sequence[str]) -> str:
    return json.dumps(
        {"assets_ids": list(token_ids), "type": "market", "custom_feature_enabled": True},
        separators=(",", ":"),
    )


class MarketFeed(FeedClient):
    """One subscription per round (both outcome tokens); a new round gets a new feed."""

    def __init__(
        self,
        url: str,
        token_ids: Sequence[str],
        *,
        parse: Parse,
        clock: Clock,
        malformed_count: Callable[[], int] | None = None,
        name: str = "market",
        stale_after_s: float = 5.0,
        resync_after_s: float | None = 5.0,
        fetch_snapshot: FetchSnapshot | None = None,
        snapshot_wait_s: float = SNAPSHOT_WAIT_S,
        ping_interval_s: float = PING_INTERVAL_S,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        if not token_ids:
            raise ValueError("a market feed needs at least one token id")
        self.token_ids = tuple(token_ids)
        self._fetch_snapshot = fetch_snapshot
        self._snapshot_wait_s = snapshot_wait_s
        self._snapshot_ms: dict[str, int] = {}
        self.rest_snapshots = 0
        frame = market_subscribe_frame(token_ids)
        super().__init__(
            name,
            url,
            subscribe=lambda: [frame],
            parse=parse,
            clock=clock,
            malformed_count=malformed_count,
            ping_text=PING_TEXT,
            ping_interval_s=ping_interval_s,
            stale_after_s=stale_after_s,
            idle_timeout_s=3 * ping_interval_s,
            resync_after_s=resync_after_s,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )

    def _connected(self, why: str) -> Sequence[Event]:
        now = self._clock.now_ms()
        return [BookReset(ts_ms=now, token_id=token, reason=why) for token in self.token_ids]

    def _subscribed(self, emit: Emit) -> Coroutine[Any, Any, None] | None:
        if self._fetch_snapshot is None:
            return None
        return self._backfill_snapshots(emit, self._fetch_snapshot, self._clock.now_ms())

    async def _backfill_snapshots(self, emit: Emit, fetch: FetchSnapshot, since_ms: int) -> None:
        """The REST book of every token the subscription has not sent one of within `snapshot_wait_s`."""
        await asyncio.sleep(self._snapshot_wait_s)
        for token in self.token_ids:
            if self._snapshot_ms.get(token, -1) >= since_ms:
                continue
            snapshot = await fetch(token)
            if snapshot is not None and self._snapshot_ms.get(token, -1) < since_ms:
                self.rest_snapshots += 1
                log.warning(
                    "feed %s: no snapshot of token %s… on subscribing; took the REST book",
                    self.name,
                    token[:12],
                )
                self._deliver(emit, snapshot)

    def _deliver(self, emit: Emit, event: Event) -> None:
        if type(event) is BookSnapshot:
            self._snapshot_ms[event.token_id] = event.ts_ms
        super()._deliver(emit, event)
