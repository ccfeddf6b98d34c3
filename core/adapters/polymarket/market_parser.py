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

import msgspec

from core.adapters.polymarket import wire
from core.adapters.polymarket.parse import (
    MAX_SIZE,
    ZERO,
    FrameParser,
    Handler,
    Malformed,
    decimal,
    price,
    size,
)
from core.events import BookDelta, BookSnapshot, Level, MarketResolved, Outcome, TickSizeChange, TradePrint

MarketEvent = BookSnapshot | BookDelta | TradePrint | TickSizeChange | MarketResolved

_OUTCOMES = {"up": Outcome.UP, "down": Outcome.DOWN}
_PRICE = attrgetter("price")
_REST_BOOK = msgspec.json.Decoder(wire.BookMessage)
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

    def rest_book(self, body: bytes, recv_ms: int) -> BookSnapshot | None:
        """`GET /book`'s answer (the channel's `book` without its tag) as a snapshot; None, counted as
        malformed, when it is not one."""
        try:
            msg = _REST_BOOK.decode(body)
            out: list[MarketEvent] = []
            self._book(msg, recv_ms, out)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed.record("rest_book", body, str(exc))
            return None
        except Malformed as exc:
            self.malformed.record(exc.kind, body, str(exc))
            return None
        snapshot = out[0]
        return snapshot if isinstance(snapshot, BookSnapshot) else None

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
        start = len(out)
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
        if changes and (changes[-1].best_bid is not None or changes[-1].best_ask is not None):
            self._attach_best(changes, out, start)
        return None if changes else "no_changes"

    def _attach_best(self, changes: list[wire.PriceChangeEntry], out: list[MarketEvent], start: int) -> None:
        """The venue's best bid and ask onto each token's last change of the frame: stated after every
        change, they are certain only after the last (whether an entry's figures include the entries after
        it is not documented). A side it states as empty or as 0 is left unchecked."""
        seen: set[str] = set()
        for index in range(len(changes) - 1, -1, -1):
            change = changes[index]
            if change.asset_id in seen:
                continue
            seen.add(change.asset_id)
            delta = out[start + index]
            if isinstance(delta, BookDelta):
                out[start + index] = msgspec.structs.replace(
                    delta, best_bid=self._best(change.best_bid), best_ask=self._best(change.best_ask)
                )

    def _best(self, text: wire.Num | None) -> Decimal | None:
        if text is None or text == "":
            return None
        value = self._prices.get(text)
        if value is None:
            value = decimal(text)
            if not ZERO < value < 1:  # an empty side, stated as 0 (or 1): nothing to check
                return None
        return value

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
