"""BTC reference prices: RTDS (Chainlink spot, Chainlink 60 s TWAP, Binance) and its successor PolyBolt."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from core.adapters.polymarket.feed import FeedClient, Parse
from core.clock import Clock

RTDS_PING_TEXT = "PING"
RTDS_PING_INTERVAL_S = 5.0
# RTDS was seen answering no PING at all; BTC ticks every second, so this much silence means a dead socket.
RTDS_IDLE_TIMEOUT_S = 15.0


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class RtdsTopic:
    """One RTDS subscription entry; RTDS matches `filters` byte for byte, so it is always compact JSON."""

    topic: str
    type: str
    symbol: str

    def entry(self) -> dict[str, str]:
        return {"topic": self.topic, "type": self.type, "filters": _compact({"symbol": self.symbol})}


DEFAULT_RTDS_TOPICS = (
    RtdsTopic("crypto_prices_chainlink", "*", "btc/usd"),
    RtdsTopic("crypto_prices", "update", "btcusdt"),
    RtdsTopic("crypto_prices_twap_sixty", "update", "btc/usd"),
)


def rtds_subscribe_frames(topics: Sequence[RtdsTopic]) -> list[str]:
    """One frame per topic: RTDS rejects a whole batch for one unknown topic, so a retired topic
    must not take the others down with it."""
    return [_compact({"action": "subscribe", "subscriptions": [topic.entry()]}) for topic in topics]


class RtdsPriceFeed(FeedClient):
    """The legacy real-time data socket; no credentials."""

    def __init__(
        self,
        url: str,
        *,
        parse: Parse,
        clock: Clock,
        topics: Sequence[RtdsTopic] = DEFAULT_RTDS_TOPICS,
        malformed_count: Callable[[], int] | None = None,
        name: str = "rtds",
        stale_after_s: float = 5.0,
        resync_after_s: float | None = 5.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        if not topics:
            raise ValueError("an RTDS feed needs at least one topic")
        frames = rtds_subscribe_frames(topics)
        super().__init__(
            name,
            url,
            subscribe=lambda: frames,
            parse=parse,
            clock=clock,
            malformed_count=malformed_count,
            ping_text=RTDS_PING_TEXT,
            ping_interval_s=RTDS_PING_INTERVAL_S,
            stale_after_s=stale_after_s,
            resync_after_s=resync_after_s,
            idle_timeout_s=RTDS_IDLE_TIMEOUT_S,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )


DEFAULT_POLYBOLT_SUBSCRIPTIONS: tuple[dict[str, Any], ...] = (
    {"channel": "price.crypto", "filter": {"symbol": "btcusd", "provider": "chainlink"}},
    {"channel": "price.crypto.twap", "filter": {"symbol": "btcusd", "window_seconds": 60}},
)


class PolyBoltPriceFeed(FeedClient):
    """PolyBolt: authenticate with the CLOB API credentials, then subscribe.

    The server pings at the protocol level, which the websockets library answers; no text PING is sent.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: SecretStr,
        api_secret: SecretStr,
        api_passphrase: SecretStr,
        parse: Parse,
        clock: Clock,
        subscriptions: Sequence[dict[str, Any]] = DEFAULT_POLYBOLT_SUBSCRIPTIONS,
        malformed_count: Callable[[], int] | None = None,
        name: str = "polybolt",
        stale_after_s: float = 5.0,
        resync_after_s: float | None = 5.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        subscribe_frame = _compact({"op": "subscribe", "rid": "s1", "subscriptions": list(subscriptions)})

        def frames() -> list[str]:
            auth = {
                "apiKey": api_key.get_secret_value(),
                "secret": api_secret.get_secret_value(),
                "passphrase": api_passphrase.get_secret_value(),
            }
            return [_compact({"op": "auth", "rid": "a1", "auth": auth}), subscribe_frame]

        super().__init__(
            name,
            url,
            subscribe=frames,
            parse=parse,
            clock=clock,
            malformed_count=malformed_count,
            stale_after_s=stale_after_s,
            resync_after_s=resync_after_s,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
