"""Feature state: what the engine knows at each instant, updated in O(1) per event.

`FeatureView` is the read-only face strategies and the risk guard see; `FeatureState` is the engine's
implementation. Feature math is float (prices of BTC, returns, volatility, probabilities); book prices stay
Decimal in `TokenBook`, because fills are money.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

from core.engine.probability import DEFAULT_SIGMA
from core.events import (
    BookDelta,
    BookReset,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    MarketResolved,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    TickSizeChange,
    Timer,
    TradePrint,
)
from core.market.book import TokenBook
from core.market.rounds import Round
from core.market.settlement import TWAP_WINDOW_S, SettlementSource


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

    @property
    def settlement_window_mean(self) -> float | None:
        """Mean of the per-second Chainlink spot samples so far inside the final TWAP window [close - 60 s,
        close); None before it opens. TWAP rounds need it to price the part of the window already averaged."""
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


RETURN_HORIZONS_S = (10, 30, 60, 300)
FEEDS = ("chainlink", "chainlink_twap", "binance", "pyth", "market", "user")
"""The data feeds whose age is tracked, named by what they carry (see `FeatureState`)."""

DEFAULT_STALE_AFTER_S: Mapping[str, float] = MappingProxyType(
    {"chainlink": 5.0, "chainlink_twap": 5.0, "binance": 5.0, "pyth": 5.0, "market": 5.0}
)
FEED_CONNECTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"rtds": ("chainlink", "chainlink_twap", "binance"), "polybolt": ("chainlink", "chainlink_twap", "pyth")}
)
"""Adapter connections (the names their FeedStatus events carry) and the data feeds each delivers."""

DEFAULT_VOLATILITY_HALF_LIFE_S = 300.0
DEFAULT_VOLATILITY_INTERVAL_S = 10

_RING = 512
_MASK = _RING - 1
_TWAP_S = TWAP_WINDOW_S
_SLOW_GAP_S = 60
_CHAINLINK, _CHAINLINK_TWAP, _BINANCE, _PYTH, _MARKET, _USER = range(len(FEEDS))
_FEED_INDEX = {name: index for index, name in enumerate(FEEDS)}
_NEVER = -1


class FeatureState:
    """The engine's mutable `FeatureView` of one round: `apply(event)` costs O(1) amortised, in floats.

    Time: `now_ms` is the largest `ts_ms` applied. Events are ordered per stream, as the engine orders them
    (per price source, per token for its book, trades and tick size, per feed for FeedStatus): an event
    older than the latest of its own stream is ignored whole, so a late event cannot rewind anything.

    Chainlink spot is kept per whole second of the feed's own timestamps in a ring buffer (the last report
    of each second; a second without one repeats the previous value). Returns, the computed TWAP (rolling
    sum of the last 60 samples, the current partial second included) and the settlement-window mean read
    it; "now" for them is the newest report's second. A report stamped before the newest one is ignored.

    Volatility is an EWMA (half-life `volatility_half_life_s`) of squared overlapping log returns over
    `volatility_interval_s` seconds, per second, seeded with `volatility_prior`: Chainlink is smoothed, so
    1 s returns understate the volatility that matters over minutes (docs/strategies.md). Pass the previous
    round's `volatility` as the prior to carry it over. A gap longer than 60 s counts as one return.

    Strike, unless given (constructor or `set_strike`): the settlement quantity at the open, from the ticks
    seen. Spot rounds: the last Chainlink report stamped at or before `open_ms`, known once a report stamped
    after it arrives. TWAP rounds: the feed's TWAP report in effect at `open_ms`, known once a later TWAP
    report arrives; if the feed delivered no TWAP report stamped at or before the open, the mean of our
    60 per-second samples of [open - 60 s, open), which needs a sample of the window's first second. It
    stays None when the stream did not reach back far enough.

    Feeds: a data feed's age runs from the `ts_ms` of its last event (PriceTick by source; book, trade and
    tick-size events of the round's two tokens are "market"; our order updates and fills are "user").
    `feed_stale(feed)` is true when the last FeedStatus of the feed, or of a connection carrying it
    (FEED_CONNECTIONS), said stale, or when its age exceeds its threshold in `stale_after_s`. A feed with a
    threshold that was never seen is stale from `warmup_end_ms` on (default: the round's activation, the end
    of its warm-up); a feed without one ("user": quiet whenever we have no orders) only by a FeedStatus.
    """

    __slots__ = (
        "_binance",
        "_chainlink",
        "_chainlink_stamp_ms",
        "_close_s",
        "_down_book",
        "_down_id",
        "_down_last_trade",
        "_down_stream_ms",
        "_first_s",
        "_flag_ms",
        "_flags",
        "_handlers",
        "_head_s",
        "_market_gap_ms",
        "_now_ms",
        "_open_ms",
        "_open_s",
        "_open_spot",
        "_open_spot_final",
        "_open_twap_feed",
        "_open_twap_feed_final",
        "_open_twap_own",
        "_price_handlers",
        "_pyth",
        "_resolved",
        "_ring",
        "_seen",
        "_source",
        "_stale_after_ms",
        "_strike",
        "_twap_feed",
        "_twap_stamp_ms",
        "_twap_sum",
        "_up_book",
        "_up_id",
        "_up_last_trade",
        "_up_stream_ms",
        "_var",
        "_vol_decay",
        "_vol_from_s",
        "_vol_gain",
        "_vol_interval_s",
        "_warmup_end_ms",
        "_window_n",
        "_window_start_s",
        "_window_sum",
        "round",
    )

    def __init__(
        self,
        round_: Round,
        up_token_id: str,
        down_token_id: str,
        settlement_source: SettlementSource,
        *,
        tick_size: Decimal = Decimal("0.01"),
        strike: float | Decimal | None = None,
        stale_after_s: Mapping[str, float] | None = None,
        volatility_half_life_s: float = DEFAULT_VOLATILITY_HALF_LIFE_S,
        volatility_interval_s: int = DEFAULT_VOLATILITY_INTERVAL_S,
        volatility_prior: float = DEFAULT_SIGMA,
        warmup_end_ms: int | None = None,
    ) -> None:
        if up_token_id == down_token_id:
            raise ValueError(f"the Up and Down token ids must differ, both are {up_token_id!r}")
        if not volatility_half_life_s > 0 or not volatility_prior >= 0:
            raise ValueError("volatility_half_life_s must be positive and volatility_prior non-negative")
        if not 0 < volatility_interval_s < _RING // 2:
            raise ValueError(
                f"volatility_interval_s must be in 1..{_RING // 2 - 1}, got {volatility_interval_s}"
            )
        thresholds = DEFAULT_STALE_AFTER_S if stale_after_s is None else stale_after_s
        if any(not seconds > 0 for seconds in thresholds.values()):
            raise ValueError(f"stale_after_s thresholds must be positive: {dict(thresholds)}")
        self.round = round_
        self._source = settlement_source
        self._up_id, self._down_id = up_token_id, down_token_id
        self._up_book = TokenBook(up_token_id, tick_size)
        self._down_book = TokenBook(down_token_id, tick_size)
        self._up_last_trade: float | None = None
        self._down_last_trade: float | None = None
        self._strike = None if strike is None else _positive(strike, "strike")
        self._stale_after_ms = {feed: round(seconds * 1000) for feed, seconds in thresholds.items()}
        self._market_gap_ms = self._stale_after_ms.get("market", 2**62)
        self._warmup_end_ms = round_.activation_ms if warmup_end_ms is None else warmup_end_ms
        self._flags: dict[str, bool] = {}
        self._flag_ms: dict[str, int] = {}
        self._up_stream_ms = self._down_stream_ms = _NEVER
        self._seen = [_NEVER] * len(FEEDS)
        self._now_ms = 0
        self._resolved: Outcome | None = None
        self._open_ms, self._open_s, self._close_s = round_.open_ms, round_.open_s, round_.close_s
        self._window_start_s = round_.close_s - _TWAP_S
        self._chainlink: float | None = None
        self._chainlink_stamp_ms = -(2**62)
        self._binance: float | None = None
        self._pyth: float | None = None
        self._twap_feed: float | None = None
        self._twap_stamp_ms = -(2**62)
        self._open_spot: float | None = None
        self._open_spot_final = False
        self._open_twap_feed: float | None = None
        self._open_twap_feed_final = False
        self._open_twap_own: float | None = None
        self._ring = [0.0] * _RING
        self._head_s = _NEVER
        self._first_s = 0
        self._vol_from_s = 0
        self._twap_sum, self._window_sum, self._window_n = 0.0, 0.0, 0
        self._vol_interval_s = volatility_interval_s
        self._vol_decay = 0.5 ** (1.0 / volatility_half_life_s)
        self._vol_gain = (1.0 - self._vol_decay) / volatility_interval_s
        self._var = volatility_prior * volatility_prior
        self._price_handlers: dict[PriceSource, Callable[[PriceTick], None]] = {
            PriceSource.CHAINLINK: self._on_chainlink,
            PriceSource.CHAINLINK_TWAP_60S: self._on_twap,
            PriceSource.BINANCE: self._on_binance,
            PriceSource.PYTH: self._on_pyth,
        }
        self._handlers = self._dispatch_table()

    def _dispatch_table(self) -> dict[type[Event], Callable[[Any], None]]:
        return {
            PriceTick: self._on_price,
            BookDelta: self._on_book_delta,
            BookSnapshot: self._on_book_snapshot,
            TradePrint: self._on_trade,
            TickSizeChange: self._on_tick_size,
            BookReset: self._on_book_reset,
            Timer: _ignore,
            FeedStatus: self._on_feed_status,
            MarketResolved: self._on_resolved,
            OrderUpdate: self._on_user,
            Fill: self._on_user,
        }

    def apply(self, event: Event) -> None:
        """Fold one event into the features; one older than the latest of its own stream is ignored."""
        ts = event.ts_ms
        if ts > self._now_ms:  # noqa: PLR1730 - per event: a comparison costs a fraction of a call to max
            self._now_ms = ts
        handler = self._handlers.get(event.__class__)
        if handler is not None:
            handler(event)

    def set_strike(self, strike: float | Decimal) -> None:
        """The price to beat, when it comes from elsewhere (the market's page, a recorded tape)."""
        self._strike = _positive(strike, "strike")

    # Event handlers.

    def _on_price(self, tick: PriceTick) -> None:
        handler = self._price_handlers.get(tick.source)
        if handler is not None:
            handler(tick)

    def _on_chainlink(self, tick: PriceTick) -> None:
        if tick.ts_ms < self._seen[_CHAINLINK]:
            return
        self._seen[_CHAINLINK] = tick.ts_ms
        stamp = tick.source_ts_ms
        price = float(tick.price)
        if stamp < self._chainlink_stamp_ms or not 0.0 < price < math.inf:
            return
        self._chainlink_stamp_ms = stamp
        self._chainlink = price
        if not self._open_spot_final:
            if stamp <= self._open_ms:
                self._open_spot = price
            else:
                self._open_spot_final = True
        second = stamp // 1000
        if second != self._head_s:
            self._advance(second, price)
            return
        slot = second & _MASK
        ring = self._ring
        delta = price - ring[slot]
        ring[slot] = price
        self._twap_sum += delta
        if self._window_start_s <= second < self._close_s:
            self._window_sum += delta

    def _advance(self, second: int, price: float) -> None:
        """A report in a new second: finalise the seconds up to it, filling gaps with the previous sample."""
        ring = self._ring
        head = self._head_s
        if head == _NEVER:
            self._first_s = self._vol_from_s = self._head_s = second
            ring[second & _MASK] = price
            self._twap_sum = price
            if self._window_start_s <= second < self._close_s:
                self._window_sum, self._window_n = price, 1
            return
        previous = ring[head & _MASK]
        if head < self._open_s <= second:
            self._fix_own_twap_strike(head, previous)
        if second - head > _SLOW_GAP_S:
            self._jump(head, second, previous, price)
            return
        first, vol_from, k = self._first_s, self._vol_from_s, self._vol_interval_s
        decay, gain, var = self._vol_decay, self._vol_gain, self._var
        window_start, close_s = self._window_start_s, self._close_s
        twap_sum = self._twap_sum
        t = head
        while t < second:
            back = t - k
            if back >= vol_from:
                r = math.log(ring[t & _MASK] / ring[back & _MASK])
                var = decay * var + gain * r * r
            t += 1
            value = previous if t < second else price
            leaving = t - _TWAP_S
            if leaving >= first:
                twap_sum -= ring[leaving & _MASK]
            ring[t & _MASK] = value
            twap_sum += value
            if window_start <= t < close_s:
                self._window_sum += value
                self._window_n += 1
        self._var = var
        self._head_s = second
        if (second & _MASK) < (head & _MASK):
            # Once per lap of the ring, so the rolling sum cannot drift.
            twap_sum = math.fsum(ring[t & _MASK] for t in range(max(first, second - _TWAP_S + 1), second + 1))
        self._twap_sum = twap_sum

    def _jump(self, head: int, second: int, previous: float, price: float) -> None:
        """A gap of more than 60 s: one return over the gap, and the samples in between hold `previous`."""
        gap = second - head
        r = math.log(price / previous)
        decay = self._vol_decay**gap
        self._var = decay * self._var + (1.0 - decay) * r * r / gap
        self._vol_from_s = second
        ring = self._ring
        for t in range(max(head + 1, second - _RING + 1), second):
            ring[t & _MASK] = previous
        ring[second & _MASK] = price
        self._twap_sum = previous * (_TWAP_S - 1) + price
        lo, hi = max(self._window_start_s, head + 1), min(self._close_s - 1, second)
        if lo <= hi:
            filled = hi - lo + 1
            last = price if hi == second else previous
            self._window_sum += previous * (filled - 1) + last
            self._window_n += filled
        self._head_s = second

    def _fix_own_twap_strike(self, head: int, previous: float) -> None:
        """Our TWAP at the open, once the samples of [open - 60 s, open) are final."""
        start = self._open_s - _TWAP_S
        if self._first_s > start:
            return
        ring = self._ring
        total = math.fsum(ring[t & _MASK] if t <= head else previous for t in range(start, self._open_s))
        self._open_twap_own = total / _TWAP_S

    def _on_twap(self, tick: PriceTick) -> None:
        if tick.ts_ms < self._seen[_CHAINLINK_TWAP]:
            return
        self._seen[_CHAINLINK_TWAP] = tick.ts_ms
        stamp = tick.source_ts_ms
        price = float(tick.price)
        if stamp < self._twap_stamp_ms or not 0.0 < price < math.inf:
            return
        self._twap_stamp_ms = stamp
        self._twap_feed = price
        if not self._open_twap_feed_final:
            if stamp <= self._open_ms:
                self._open_twap_feed = price
            else:
                self._open_twap_feed_final = True

    def _on_binance(self, tick: PriceTick) -> None:
        if tick.ts_ms >= self._seen[_BINANCE]:
            self._seen[_BINANCE] = tick.ts_ms
            self._binance = float(tick.price)

    def _on_pyth(self, tick: PriceTick) -> None:
        if tick.ts_ms >= self._seen[_PYTH]:
            self._seen[_PYTH] = tick.ts_ms
            self._pyth = float(tick.price)

    def _claim(self, token_id: str, ts_ms: int) -> TokenBook | None:
        """The book of one of the round's tokens, if the event is not older than that token's stream."""
        if token_id == self._up_id:
            if ts_ms < self._up_stream_ms:
                return None
            self._up_stream_ms = ts_ms
            book = self._up_book
        elif token_id == self._down_id:
            if ts_ms < self._down_stream_ms:
                return None
            self._down_stream_ms = ts_ms
            book = self._down_book
        else:
            return None
        self._seen[_MARKET] = max(self._seen[_MARKET], ts_ms)
        return book

    def _on_book_delta(self, delta: BookDelta) -> None:
        # The most frequent event: `_claim` inlined.
        ts, token = delta.ts_ms, delta.token_id
        if ts - self._seen[_MARKET] > self._market_gap_ms:
            # Deltas after a silence: whatever changed meanwhile was missed.
            self._up_book.reset("silence")
            self._down_book.reset("silence")
        if token == self._up_id:
            if ts < self._up_stream_ms:
                return
            self._up_stream_ms = ts
            self._up_book.apply_delta(delta)
        elif token == self._down_id:
            if ts < self._down_stream_ms:
                return
            self._down_stream_ms = ts
            self._down_book.apply_delta(delta)
        else:
            return
        seen = self._seen
        if ts > seen[_MARKET]:  # noqa: PLR1730 - as in `apply`
            seen[_MARKET] = ts

    def _on_book_snapshot(self, snapshot: BookSnapshot) -> None:
        book = self._claim(snapshot.token_id, snapshot.ts_ms)
        if book is not None:
            book.apply_snapshot(snapshot)

    def _on_trade(self, trade: TradePrint) -> None:
        book = self._claim(trade.token_id, trade.ts_ms)
        if book is self._up_book:
            self._up_last_trade = float(trade.price)
        elif book is not None:
            self._down_last_trade = float(trade.price)

    def _on_tick_size(self, change: TickSizeChange) -> None:
        book = self._claim(change.token_id, change.ts_ms)
        if book is not None:
            book.tick = change.tick_size

    def _on_book_reset(self, reset: BookReset) -> None:
        # Not data: it neither freshens the market feed nor orders the token's stream.
        if reset.token_id == self._up_id:
            self._up_book.reset(reset.reason)
        elif reset.token_id == self._down_id:
            self._down_book.reset(reset.reason)

    def _on_feed_status(self, status: FeedStatus) -> None:
        if status.ts_ms >= self._flag_ms.get(status.feed, _NEVER):
            self._flag_ms[status.feed] = status.ts_ms
            self._flags[status.feed] = status.stale
            if status.stale and status.feed == "market":
                self._up_book.reset("stale")
                self._down_book.reset("stale")

    def _on_resolved(self, resolved: MarketResolved) -> None:
        self._resolved = resolved.winning_outcome

    def _on_user(self, event: OrderUpdate | Fill) -> None:
        self._seen[_USER] = max(self._seen[_USER], event.ts_ms)

    # FeatureView.

    @property
    def now_ms(self) -> int:
        return self._now_ms

    @property
    def round_slug(self) -> str:
        return self.round.slug

    @property
    def open_ms(self) -> int:
        return self._open_ms

    @property
    def close_ms(self) -> int:
        return self._close_s * 1000

    @property
    def time_left_s(self) -> float:
        return max(self._close_s * 1000 - self._now_ms, 0) / 1000

    @property
    def settlement_source(self) -> SettlementSource:
        return self._source

    @property
    def strike(self) -> float | None:
        if self._strike is not None:
            return self._strike
        if self._source is SettlementSource.CHAINLINK_SPOT:
            return self._open_spot if self._open_spot_final else None
        if self._open_twap_feed is not None:
            return self._open_twap_feed if self._open_twap_feed_final else None
        return self._open_twap_own

    @property
    def chainlink(self) -> float | None:
        return self._chainlink

    @property
    def chainlink_twap(self) -> float | None:
        if self._twap_feed is not None:
            return self._twap_feed
        if self._head_s == _NEVER or self._head_s - self._first_s + 1 < _TWAP_S:
            return None
        return self._twap_sum / _TWAP_S

    @property
    def binance(self) -> float | None:
        return self._binance

    @property
    def pyth(self) -> float | None:
        return self._pyth

    @property
    def settlement_estimate(self) -> float | None:
        if self._source is SettlementSource.CHAINLINK_TWAP_60S:
            return self.chainlink_twap
        return self._chainlink

    @property
    def divergence_bps(self) -> float | None:
        if self._binance is None or self._chainlink is None:
            return None
        return (self._binance - self._chainlink) / self._chainlink * 1e4

    @property
    def settlement_window_mean(self) -> float | None:
        return self._window_sum / self._window_n if self._window_n else None

    def log_return(self, horizon_s: int) -> float | None:
        if not 0 < horizon_s < _RING:
            raise ValueError(f"horizon_s must be in 1..{_RING - 1}, got {horizon_s}")
        head = self._head_s
        if head == _NEVER or head - horizon_s < self._first_s:
            return None
        ring = self._ring
        return math.log(ring[head & _MASK] / ring[(head - horizon_s) & _MASK])

    @property
    def volatility(self) -> float:
        return math.sqrt(self._var)

    def book(self, outcome: Outcome) -> TokenBook:
        return self._up_book if outcome is Outcome.UP else self._down_book

    def token_id(self, outcome: Outcome) -> str:
        return self._up_id if outcome is Outcome.UP else self._down_id

    def imbalance(self, outcome: Outcome, within_ticks: int = 3) -> float | None:
        book = self.book(outcome)
        bids, asks = book.depth(Side.BUY, within_ticks), book.depth(Side.SELL, within_ticks)
        total = bids + asks
        return float((bids - asks) / total) if total else None

    def last_trade(self, outcome: Outcome) -> float | None:
        return self._up_last_trade if outcome is Outcome.UP else self._down_last_trade

    def feed_age_s(self, feed: str) -> float | None:
        index = _FEED_INDEX.get(feed)
        if index is None or self._seen[index] == _NEVER:
            return None
        return (self._now_ms - self._seen[index]) / 1000

    def feed_stale(self, feed: str) -> bool:
        flags = self._flags
        if flags.get(feed) or any(
            flags.get(connection) for connection, carried in FEED_CONNECTIONS.items() if feed in carried
        ):
            return True
        threshold = self._stale_after_ms.get(feed)
        if threshold is None:
            return False
        index = _FEED_INDEX.get(feed)
        seen = _NEVER if index is None else self._seen[index]
        if seen == _NEVER:
            return self._now_ms >= self._warmup_end_ms
        return self._now_ms - seen > threshold

    @property
    def resolved(self) -> Outcome | None:
        return self._resolved

    def snapshot(self) -> dict[str, float | None]:
        """The main features at `now_ms`, JSON-safe, to record beside a decision."""
        features: dict[str, float | None] = {
            "now_ms": self._now_ms,
            "time_left_s": self.time_left_s,
            "strike": self.strike,
            "chainlink": self._chainlink,
            "chainlink_twap": self.chainlink_twap,
            "binance": self._binance,
            "settlement_estimate": self.settlement_estimate,
            "settlement_window_mean": self.settlement_window_mean,
            "divergence_bps": self.divergence_bps,
            "volatility": self.volatility,
        }
        for horizon in RETURN_HORIZONS_S:
            features[f"return_{horizon}s"] = self.log_return(horizon)
        for outcome in Outcome:
            book = self.book(outcome)
            features[f"{outcome}_bid"] = None if book.best_bid is None else float(book.best_bid)
            features[f"{outcome}_ask"] = None if book.best_ask is None else float(book.best_ask)
            features[f"{outcome}_last_trade"] = self.last_trade(outcome)
        for feed in ("chainlink", "binance", "market"):
            features[f"{feed}_age_s"] = self.feed_age_s(feed)
        return features


def _positive(value: float | Decimal, name: str) -> float:
    number = float(value)
    if not 0.0 < number < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _ignore(event: Event) -> None:
    """Timers only move time forward, which `apply` has done."""
