"""The market channel's frames into book, trade, tick-size and resolution events.

This is the hot path (hundreds of frames a second near the close of a round), so it is written for speed.
Numbers are decoded as text and converted to Decimals through caches where they repeat (prices are a grid of
at most a few hundred ticks; a book re-sent after a trade repeats most of its sizes), inline where they do not
(a `price_change` announces a new total). `best_bid_ask` and `new_market` are understood but yield
no events (the engine keeps its own book; markets are discovered through Gamma), nor does the resolution of a
market whose outcomes are not Up/Down.
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter

from core.adapters.polymarket import wire
from core.adapters.polymarket.parse import MAX_SIZE, ZERO, FrameParser, Handler, Malformed, price, size
from core.events import BookDelta, BookSnapshot, Level, MarketResolved, Outcome, TickSizeChange, TradePrint

MarketEvent = BookSnapshot | BookDelta | TradePrint | TickSizeChange | MarketResolved

_OUTCOMES = {"up": Outcome.UP, "down": Outcome.DOWN}
_PRICE = attrgetter("price")
# Prices are a grid, so that cache stays small: its bound only guards against a feed of garbage prices. The
# sizes cache holds those of recent books, which the next snapshot of a side mostly repeats; kept small, it
# stays in the processor's cache, which matters more here than a rare miss.
_PRICES_CACHED = 10_000
_SIZES_CACHED = 2_000


class MarketParser(FrameParser[MarketEvent]):
    """Parses market-channel frames; one instance per connection."""

    def __init__(self) -> None:
        handlers: dict[type, Handler[MarketEvent]] = {
            wire.PriceChangeMessage: self._price_change,
            wire.BookMessage: self._book,
            wire.LastTradePriceMessage: self._last_trade,
            wire.TickSizeChangeMessage: self._tick_size,
            wire.MarketResolvedMessage: self._resolved,
            wire.BestBidAskMessage: _ignore("best_bid_ask"),
            wire.NewMarketMessage: _ignore("new_market"),
        }
        super().__init__(
            "polymarket market channel",
            wire.MarketFrame,
            handlers,
            usual=(wire.PriceChangeMessage, wire.BookMessage),
        )
        self._prices: dict[wire.Num, Decimal] = {}
        self._sizes: dict[wire.Num, Decimal] = {}

    def _price(self, text: wire.Num) -> Decimal:
        if text not in self._prices:
            self._learn_prices([text])
        return self._prices[text]

    def _learn_prices(self, texts: list[wire.Num]) -> None:
        """Converts and validates prices the cache lacks; a bad one makes the frame malformed."""
        if len(self._prices) >= _PRICES_CACHED:
            self._prices.clear()
        for text in texts:
            if text not in self._prices:
                self._prices[text] = price(text)

    def _levels(self, summaries: list[wire.OrderSummary], best_high: bool) -> tuple[Level, ...]:
        prices, size_of = self._prices, self._sizes.get
        try:
            levels = [Level(prices[s.price], size_of(s.size) or self._new_size(s.size)) for s in summaries]
        except KeyError:
            self._learn_prices([s.price for s in summaries])
            levels = [Level(prices[s.price], size_of(s.size) or self._new_size(s.size)) for s in summaries]
        # Captures send the best level last; sorting is linear on such a run and copes with any other order.
        levels.sort(key=_PRICE, reverse=best_high)
        return tuple(levels)

    def _new_size(self, text: wire.Num) -> Decimal:
        if len(self._sizes) >= _SIZES_CACHED:
            self._sizes.clear()
        value = self._sizes[text] = size(text)
        return value

    def _book(self, msg: wire.BookMessage, recv_ms: int, out: list[MarketEvent]) -> None:
        tick = None if msg.tick_size is None else self._price(msg.tick_size)
        bids = self._levels(msg.bids, best_high=True)
        asks = self._levels(msg.asks, best_high=False)
        out.append(BookSnapshot(msg.asset_id, bids, asks, tick, ts_ms=recv_ms))

    def _price_change(self, msg: wire.PriceChangeMessage, recv_ms: int, out: list[MarketEvent]) -> str | None:
        changes = msg.price_changes
        if changes is None:
            self._legacy_price_change(msg, recv_ms, out)
            return None
        prices = self._prices
        for change in changes:
            if change.price not in prices:
                self._learn_prices([change.price])
            # A change announces a new total, rarely seen before: converted, not cached. A JSON float goes
            # through its shortest repr (the text sent); a bad string raises InvalidOperation, a bad number.
            text = change.size
            new_size = Decimal(text) if type(text) is not float else Decimal(repr(text))
            if not ZERO <= new_size < MAX_SIZE:
                raise Malformed("bad_number", f"size {change.size!r} is negative or absurd")
            out.append(BookDelta(change.asset_id, change.side, prices[change.price], new_size, ts_ms=recv_ms))
        return None if changes else "no_changes"

    def _legacy_price_change(
        self, msg: wire.PriceChangeMessage, recv_ms: int, out: list[MarketEvent]
    ) -> None:
        if msg.asset_id is None:
            raise Malformed("schema", "price_change with neither price_changes nor asset_id")
        if msg.changes:
            for legacy in msg.changes:
                out.append(
                    BookDelta(
                        msg.asset_id, legacy.side, price(legacy.price), size(legacy.size), ts_ms=recv_ms
                    )
                )
        elif msg.price is not None and msg.size is not None and msg.side is not None:
            out.append(BookDelta(msg.asset_id, msg.side, price(msg.price), size(msg.size), ts_ms=recv_ms))
        else:
            raise Malformed("schema", "legacy price_change without changes")

    def _last_trade(self, msg: wire.LastTradePriceMessage, recv_ms: int, out: list[MarketEvent]) -> None:
        out.append(TradePrint(msg.asset_id, self._price(msg.price), size(msg.size), msg.side, ts_ms=recv_ms))

    def _tick_size(self, msg: wire.TickSizeChangeMessage, recv_ms: int, out: list[MarketEvent]) -> None:
        out.append(TickSizeChange(msg.asset_id, price(msg.new_tick_size), ts_ms=recv_ms))

    def _resolved(self, msg: wire.MarketResolvedMessage, recv_ms: int, out: list[MarketEvent]) -> str | None:
        outcome = _OUTCOMES.get(msg.winning_outcome.strip().lower())
        if outcome is None:
            return "resolved_not_up_down"
        out.append(MarketResolved(msg.winning_asset_id, outcome, ts_ms=recv_ms))
        return None


def _ignore(reason: str) -> Handler[MarketEvent]:
    def handler(msg: object, recv_ms: int, out: list[MarketEvent]) -> str:
        return reason

    return handler
