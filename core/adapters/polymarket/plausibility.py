"""A plausibility gate for underlying price ticks: what cannot be a BTC price is quarantined, not traded on.

Seen or possible on the wire and accepted before this gate: a Chainlink value of 1e-18 (an E18 integer
read as a decimal), one 1000x the last price, an `eth/usd` tick on a BTC subscription, a 1970 timestamp.
A quarantined tick is counted by reason (the first of each logged at WARNING) and never reaches the
features. The jump check re-anchors when `confirmations` ticks in a row agree on the new level among
themselves, so one bad first price cannot lock the real ones out for good.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from core.events import PriceSource, PriceTick

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PriceBounds:
    """What a BTC price tick may be; the defaults leave BTC room for a tenfold move either way."""

    base: str = "btc"
    min_price: Decimal = Decimal(1_000)
    max_price: Decimal = Decimal(10_000_000)
    max_jump: Decimal = Decimal("0.10")
    earliest_ms: int = 1_577_836_800_000  # 2020-01-01: a stamp before it is a zero or a unit mix-up
    max_ahead_s: int = 300
    confirmations: int = 3


class PriceGate:
    """`admit(tick)`: None when the tick is plausible, else the reason it is quarantined (and counted)."""

    def __init__(self, feed: str, bounds: PriceBounds | None = None) -> None:
        self.feed = feed
        self.bounds = bounds or PriceBounds()
        self.quarantined: Counter[str] = Counter()
        self._last: dict[PriceSource, Decimal] = {}
        self._candidate: dict[PriceSource, tuple[Decimal, int]] = {}

    def admit(self, tick: PriceTick) -> str | None:
        reason = self._reason(tick)
        if reason is not None:
            if reason not in self.quarantined:
                log.warning(
                    "%s: quarantined an implausible %s tick (%s): price %s, symbol %s, stamped %d, received %d;"
                    " further ones are only counted",
                    self.feed,
                    tick.source.value,
                    reason,
                    tick.price,
                    tick.symbol,
                    tick.source_ts_ms,
                    tick.ts_ms,
                )
            self.quarantined[reason] += 1
        return reason

    def _reason(self, tick: PriceTick) -> str | None:
        b = self.bounds
        if tick.symbol.partition("/")[0] != b.base:
            return "symbol"
        if not b.min_price <= tick.price <= b.max_price:
            return "out_of_range"
        # How old a report may be is the features' business (feed ages); a stamp from another era is not.
        if tick.source_ts_ms < b.earliest_ms or tick.source_ts_ms - tick.ts_ms > b.max_ahead_s * 1000:
            return "timestamp"
        last = self._last.get(tick.source)
        if last is not None and abs(tick.price / last - 1) > b.max_jump:
            return None if self._confirmed(tick) else "jump"
        self._last[tick.source] = tick.price
        self._candidate.pop(tick.source, None)
        return None

    def _confirmed(self, tick: PriceTick) -> bool:
        """A jump repeated `confirmations` times in a row near one level is the market, not a glitch."""
        level, seen = self._candidate.get(tick.source, (tick.price, 0))
        seen = seen + 1 if abs(tick.price / level - 1) <= self.bounds.max_jump else 1
        if seen >= self.bounds.confirmations:
            self._last[tick.source] = tick.price
            self._candidate.pop(tick.source, None)
            log.warning(
                "%s: %s re-anchored at %s after %d ticks agreed",
                self.feed,
                tick.source.value,
                tick.price,
                seen,
            )
            return True
        self._candidate[tick.source] = (tick.price if seen == 1 else level, seen)
        return False
