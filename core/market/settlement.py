"""How an Up/Down round settles: which Chainlink price, which side wins, what a position earns."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from operator import itemgetter

from core import money
from core.events import Outcome
from core.money import ZERO

Tick = tuple[int, Decimal]
"""A Chainlink report: (feed timestamp in ms, price)."""

TWAP_CUTOVER = datetime(2026, 8, 7, tzinfo=UTC)
TWAP_WINDOW_S = 60
E18_QUANTUM = Decimal("1e-18")

_ts = itemgetter(0)


class SettlementSource(StrEnum):
    CHAINLINK_SPOT = "chainlink_spot"
    CHAINLINK_TWAP_60S = "chainlink_twap_60s"


def source_for(resolution_source: str | None, window_open: datetime) -> SettlementSource:
    """The price a round settles on: the Gamma `resolutionSource` URL decides, else the window's date."""
    if window_open.utcoffset() is None:
        raise ValueError(f"window_open {window_open.isoformat()} is naive; pass an aware UTC datetime")
    url = (resolution_source or "").lower()
    if "twap" in url:
        return SettlementSource.CHAINLINK_TWAP_60S
    if "btc-usd" in url:
        return SettlementSource.CHAINLINK_SPOT
    if url:
        raise ValueError(f"resolutionSource {resolution_source!r} is not a Chainlink BTC/USD stream we model")
    if window_open >= TWAP_CUTOVER:
        return SettlementSource.CHAINLINK_TWAP_60S
    return SettlementSource.CHAINLINK_SPOT


def decide_outcome(strike: Decimal, settle_price: Decimal) -> Outcome:
    """The market rules read "greater than or equal to", so a tie settles Up."""
    strike = money.to_decimal(strike, name="strike")
    settle_price = money.to_decimal(settle_price, name="settle_price")
    return Outcome.UP if settle_price >= strike else Outcome.DOWN


def price_in_effect(ticks: Sequence[Tick], at_ms: int) -> Decimal | None:
    """The latest report at or before `at_ms` (ticks sorted by time; of equal times the last wins)."""
    i = bisect_right(ticks, at_ms, key=_ts)
    return ticks[i - 1][1] if i else None


def twap(ticks: Sequence[Tick], end_ms: int, window_s: int = TWAP_WINDOW_S) -> Decimal | None:
    """Time-weighted mean of the tick step function over [end - window, end); None if nothing precedes it.

    Chainlink does not publish how its TWAP streams sample, so this is our model for the simulated venue,
    not a re-derivation of the official value. Like Chainlink's reports it is exact to 18 decimals.
    """
    if window_s <= 0:
        raise ValueError(f"window_s: {window_s} must be positive")
    start_ms = end_ms - window_s * 1000
    first = bisect_right(ticks, start_ms, key=_ts) - 1
    if first < 0:
        return None
    stop = bisect_left(ticks, end_ms, key=_ts, lo=first)
    area = ZERO
    for i in range(first, stop):
        segment_start = max(ticks[i][0], start_ms)
        segment_end = ticks[i + 1][0] if i + 1 < stop else end_ms
        area += ticks[i][1] * (segment_end - segment_start)
    return (area / (window_s * 1000)).quantize(E18_QUANTUM, rounding=ROUND_HALF_EVEN)


def settlement_price(ticks: Sequence[Tick], close_ms: int, source: SettlementSource) -> Decimal | None:
    """The settlement quantity at `close_ms`; the strike is the same quantity at the window's open."""
    if source is SettlementSource.CHAINLINK_TWAP_60S:
        return twap(ticks, close_ms)
    return price_in_effect(ticks, close_ms)


@dataclass(frozen=True, slots=True)
class Position:
    """Net holding of one outcome token: cost is cash paid net of sells (may be negative), fees are extra."""

    outcome: Outcome
    shares: Decimal
    cost: Decimal
    fees: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "shares", money.size(self.shares, name="shares"))
        object.__setattr__(self, "cost", money.to_decimal(self.cost, name="cost"))
        object.__setattr__(self, "fees", money.size(self.fees, name="fees"))


def pnl(position: Position, winner: Outcome) -> Decimal:
    """Winning shares redeem for 1 each, losing ones for nothing; cost and fees are sunk either way."""
    payout = position.shares if position.outcome == winner else ZERO
    return payout - position.cost - position.fees
