"""How an Up/Down round settles: which Chainlink price, which side wins, what a position earns.

The venue's rule (reference section 2): Up iff the settlement quantity at the window's end is >= the one at
its start. The quantity is the Chainlink BTC/USD report in effect (the latest at or before the boundary)
before the TWAP switch, the 60 s TWAP after it. Our reports decide a boundary only when they cover it;
otherwise the round is undecidable and waits for the venue's official outcome, never a guess.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from itertools import pairwise
from operator import itemgetter

from core import money
from core.events import Outcome
from core.money import ZERO

Tick = tuple[int, Decimal]
"""A Chainlink report: (feed timestamp in ms, price)."""

TWAP_CUTOVER = datetime(2026, 8, 7, tzinfo=UTC)
TWAP_WINDOW_S = 60
E18_QUANTUM = Decimal("1e-18")

MAX_REPORT_AGE_MS = 10_000
"""The oldest the report in effect at a boundary may be for our reports to decide it.

Measured on the real feed of 2026-06-08 (84,558 reports; `python -m bench.settlement`): consecutive
reports are 1 s apart 98.8 % of the time; the other gaps are routine stalls of 2-4 s (977) and 7-9 s (56),
and four outages of 72, 82, 104 and 122 s. 10 s lies above every routine gap and far below the shortest
outage: a boundary in a routine gap takes the report in effect, as the venue's rule does (every such
boundary that day agrees with the venue), one in an outage or past our last report is undecidable."""

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
    """The latest report at or before `at_ms` (ticks sorted by time; of equal times the last wins).

    No age limit: this is the step function of the reports. Settlement asks `boundary_price`, which bounds
    the age of the report in effect."""
    i = bisect_right(ticks, at_ms, key=_ts)
    return ticks[i - 1][1] if i else None


def twap(ticks: Sequence[Tick], end_ms: int, window_s: int = TWAP_WINDOW_S) -> Decimal | None:
    """Time-weighted mean of the tick step function over [end - window, end); None if nothing precedes it.

    Chainlink does not publish how its TWAP streams sample, so this is our model for the simulated venue,
    not a re-derivation of the official value. Like Chainlink's reports it is exact to 18 decimals. It does
    not ask whether the window is covered; `boundary_price` does.
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


class Uncovered(StrEnum):
    """Why the reports we hold do not decide the settlement quantity at a boundary."""

    NO_REPORT = "no_report"
    """No report at or before the boundary (for a TWAP, at or before its window's start)."""
    STALE_REPORT = "stale_report"
    """The report in effect at the boundary is older than the maximum age."""
    TWAP_GAP = "twap_gap"
    """Somewhere in the TWAP window the report in effect is older than the maximum age."""
    FEED_NOT_PAST = "feed_not_past"
    """No report within the maximum age after the boundary: one stamped at or before it may be missing."""


@dataclass(frozen=True, slots=True)
class BoundaryPrice:
    """The settlement quantity at one boundary, or why the feed does not decide it: never both."""

    at_ms: int
    price: Decimal | None
    uncovered: Uncovered | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.price is None) == (self.uncovered is None):
            raise ValueError("a boundary has either a price or the reason it has none")

    def describe(self) -> str:
        return f"{self.uncovered.value} ({self.detail})" if self.uncovered is not None else "decided"


def boundary_price(
    ticks: Sequence[Tick],
    at_ms: int,
    source: SettlementSource,
    *,
    max_age_ms: int = MAX_REPORT_AGE_MS,
    past_required: bool = True,
) -> BoundaryPrice:
    """The settlement quantity at `at_ms` as the venue's rule reads it from our reports, when they cover it.

    Spot: the latest report at or before the boundary (`price_in_effect`), at most `max_age_ms` old. TWAP:
    `twap` over the 60 s before the boundary, with no stretch of it where the report in effect is older than
    `max_age_ms`. With `past_required` (an observer of a live feed, whose last reports may still be on their
    way) a boundary not stamped exactly by a report also needs a report after it, within `max_age_ms`.
    """
    if source is SettlementSource.CHAINLINK_TWAP_60S:
        return _twap_at(ticks, at_ms, max_age_ms, past_required)
    i = bisect_right(ticks, at_ms, key=_ts)
    if not i:
        return _uncovered(at_ms, Uncovered.NO_REPORT, "no report at or before it")
    stamped, price = ticks[i - 1]
    if at_ms - stamped > max_age_ms:
        age = _seconds(at_ms - stamped)
        return _uncovered(at_ms, Uncovered.STALE_REPORT, f"the report in effect is {age} s old")
    if past_required and stamped < at_ms and not _reported_by(ticks, i, at_ms + max_age_ms):
        return _not_past(at_ms, max_age_ms)
    return BoundaryPrice(at_ms, price)


def _twap_at(ticks: Sequence[Tick], end_ms: int, max_age_ms: int, past_required: bool) -> BoundaryPrice:
    start_ms = end_ms - TWAP_WINDOW_S * 1000
    first = bisect_right(ticks, start_ms, key=_ts) - 1
    if first < 0:
        return _uncovered(end_ms, Uncovered.NO_REPORT, "no report at or before the window's start")
    stop = bisect_left(ticks, end_ms, key=_ts, lo=first)
    stamps = [ticks[i][0] for i in range(first, stop)] + [end_ms]
    oldest = max(later - earlier for earlier, later in pairwise(stamps))
    if oldest > max_age_ms:
        return _uncovered(
            end_ms, Uncovered.TWAP_GAP, f"the window holds a report {_seconds(oldest)} s old at one point"
        )
    if past_required and not _reported_by(ticks, stop, end_ms + max_age_ms):
        return _not_past(end_ms, max_age_ms)
    price = twap(ticks, end_ms)
    assert price is not None, "a report precedes the window"
    return BoundaryPrice(end_ms, price)


def _reported_by(ticks: Sequence[Tick], after: int, by_ms: int) -> bool:
    """The first report from index `after` on exists and is stamped no later than `by_ms`."""
    return after < len(ticks) and ticks[after][0] <= by_ms


def _not_past(at_ms: int, max_age_ms: int) -> BoundaryPrice:
    return _uncovered(at_ms, Uncovered.FEED_NOT_PAST, f"no report within {_seconds(max_age_ms)} s after it")


def _uncovered(at_ms: int, why: Uncovered, detail: str) -> BoundaryPrice:
    return BoundaryPrice(at_ms, None, why, detail)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}"


def settlement_price(
    ticks: Sequence[Tick], at_ms: int, source: SettlementSource, *, max_age_ms: int = MAX_REPORT_AGE_MS
) -> Decimal | None:
    """The settlement quantity at a boundary from a feed known to be complete up to it (the simulated
    venue's own), or None when the reports do not cover it. An observer asks `boundary_price`."""
    return boundary_price(ticks, at_ms, source, max_age_ms=max_age_ms, past_required=False).price


@dataclass(frozen=True, slots=True)
class RoundSettlement:
    """Our settlement of one round: the strike and the final value, and the winner when both are decided."""

    source: SettlementSource
    strike: BoundaryPrice
    final: BoundaryPrice

    @property
    def winner(self) -> Outcome | None:
        if self.strike.price is None or self.final.price is None:
            return None
        return decide_outcome(self.strike.price, self.final.price)

    @property
    def undecidable(self) -> str | None:
        """Why our rule cannot settle the round, in words; None when it can."""
        reasons = [
            f"{name}: {boundary.describe()}"
            for name, boundary in (("open", self.strike), ("close", self.final))
            if boundary.uncovered is not None
        ]
        return "; ".join(reasons) or None


def settle_round(
    ticks: Sequence[Tick],
    open_ms: int,
    close_ms: int,
    source: SettlementSource,
    *,
    strike: Decimal | None = None,
    max_age_ms: int = MAX_REPORT_AGE_MS,
) -> RoundSettlement:
    """Our settlement of a round from the Chainlink reports we received (sorted by time); `strike` is the
    venue's price to beat when it published one. Undecidable (no winner) rather than a guess."""
    opened = (
        BoundaryPrice(open_ms, strike)
        if strike is not None
        else boundary_price(ticks, open_ms, source, max_age_ms=max_age_ms)
    )
    return RoundSettlement(source, opened, boundary_price(ticks, close_ms, source, max_age_ms=max_age_ms))


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
