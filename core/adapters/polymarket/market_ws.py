"""The CLOB market channel for one round's tokens: books, level changes, trades, tick sizes, resolution."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from core.adapters.polymarket.feed import FeedClient, Parse
from core.clock import Clock

PING_TEXT = "PING"
PING_INTERVAL_S = 10.0
# The unified SDK calls this socket dead after 30 s without a PONG.
IDLE_TIMEOUT_S = 30.0


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
        ping_interval_s: float = PING_INTERVAL_S,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        if not token_ids:
            raise ValueError("a market feed needs at least one token id")
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
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
