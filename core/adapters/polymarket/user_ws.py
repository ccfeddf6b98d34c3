"""The CLOB user channel: our own orders and trades, authenticated with the L2 API credentials."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import SecretStr

from core.adapters.polymarket.feed import FeedClient, Parse
from core.clock import Clock

PING_TEXT = "PING"
PING_INTERVAL_S = 10.0
USER_FEED = "user"
"""The name its FeedStatus events carry: in live mode its staleness trips the kill switch (no fills seen)."""


class UserFeed(FeedClient):
    """Our orders and fills in `condition_ids` (all markets when empty).

    The credentials stay `SecretStr` until the subscribe frame is built at connect time; the frame is
    neither stored nor logged. A quiet user channel is normal, so a PONG is enough to count it alive.
    """

    def __init__(
        self,
        url: str,
        condition_ids: Sequence[str],
        *,
        api_key: SecretStr,
        api_secret: SecretStr,
        api_passphrase: SecretStr,
        parse: Parse,
        clock: Clock,
        malformed_count: Callable[[], int] | None = None,
        name: str = USER_FEED,
        ping_interval_s: float = PING_INTERVAL_S,
        stale_after_s: float = 3 * PING_INTERVAL_S,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        markets = list(condition_ids)

        def subscribe() -> list[str]:
            message: dict[str, object] = {
                "type": "user",
                "auth": {
                    "apiKey": api_key.get_secret_value(),
                    "secret": api_secret.get_secret_value(),
                    "passphrase": api_passphrase.get_secret_value(),
                },
            }
            if markets:
                message["markets"] = markets
            return [json.dumps(message, separators=(",", ":"))]

        super().__init__(
            name,
            url,
            subscribe=subscribe,
            parse=parse,
            clock=clock,
            malformed_count=malformed_count,
            ping_text=PING_TEXT,
            ping_interval_s=ping_interval_s,
            stale_after_s=stale_after_s,
            stale_on_any_frame=True,
            idle_timeout_s=3 * ping_interval_s,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
