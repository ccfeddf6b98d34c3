"""Feature state: what the engine knows at each instant, updated in O(1) per event.

`FeatureView` is the read-only face strategies and the risk guard see. Feature math is float (prices of BTC,
returns, volatility, probabilities); book prices stay Decimal in `TokenBook`, because fills are money.
"""

from __future__ import annotations

from typing import Protocol

from core.book import TokenBook
from core.events import Outcome
from core.settlement import SettlementSource


class FeatureView(Protocol):
    """Read-only features of one round at `now_ms`. None means "not known yet"."""

    @property
    def now_ms(self) -> int: ...
    @property
    def round_slug(self) -> str: ...
    @property
    def open_ms(self) -> int: ...
    @property
    def close_ms(self) -> int: ...
    @property
    def time_left_s(self) -> float: ...
    @property
    def settlement_source(self) -> SettlementSource: ...
    @property
    def strike(self) -> float | None: ...
    @property
    def chainlink(self) -> float | None:
        """Latest Chainlink BTC/USD spot."""
        ...

    @property
    def chainlink_twap(self) -> float | None:
        """Latest 60 s TWAP: from the feed when it publishes one, else computed from our Chainlink ticks."""
        ...

    @property
    def binance(self) -> float | None: ...
    @property
    def settlement_estimate(self) -> float | None:
        """Where the settlement quantity stands now: the TWAP for TWAP rounds, spot otherwise."""
        ...

    @property
    def divergence_bps(self) -> float | None:
        """(Binance - Chainlink) / Chainlink in basis points."""
        ...

    def log_return(self, horizon_s: int) -> float | None:
        """ln(P_now / P_{now - horizon}) of Chainlink spot, for horizons in RETURN_HORIZONS_S."""
        ...

    @property
    def volatility(self) -> float | None:
        """Realised volatility of Chainlink spot per sqrt(second)."""
        ...

    def book(self, outcome: Outcome) -> TokenBook: ...
    def token_id(self, outcome: Outcome) -> str: ...
    def imbalance(self, outcome: Outcome, within_ticks: int = 3) -> float | None:
        """(bid depth - ask depth) / (bid depth + ask depth) within N ticks of the best prices."""
        ...

    def last_trade(self, outcome: Outcome) -> float | None: ...
    def feed_age_s(self, feed: str) -> float | None:
        """Seconds since the feed ("market", "chainlink", "binance", "user") last delivered data."""
        ...

    def feed_stale(self, feed: str) -> bool: ...
    @property
    def resolved(self) -> Outcome | None: ...
