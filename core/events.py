"""The engine's input vocabulary: immutable, timestamped events, parsed once at the edge.

`ts_ms` is when the agent observed the event, on its own clock; it orders the engine's input stream and is
what a replay reproduces. Feed-side timestamps, where they matter (settlement), are kept beside it.
Structs are msgspec's: cheap to build (no validation on construction), and encodable for tapes.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Outcome(StrEnum):
    """Which of a round's two tokens."""

    UP = "up"
    DOWN = "down"


class PriceSource(StrEnum):
    CHAINLINK = "chainlink"
    CHAINLINK_TWAP_60S = "chainlink_twap_60s"
    BINANCE = "binance"
    PYTH = "pyth"


class OrderType(StrEnum):
    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


class OrderStatus(StrEnum):
    """The agent's view of an order; venue statuses are mapped onto it by the adapters."""

    PENDING = "pending"
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class TradeStatus(StrEnum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


class Level(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One price level of a book: total size resting at a price."""

    price: Decimal
    size: Decimal


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every engine input."""

    ts_ms: int


class PriceTick(Event, tag="price", frozen=True, gc=False):
    """An underlying BTC price; `source_ts_ms` is the feed's own stamp (Chainlink's for settlement)."""

    source: PriceSource
    price: Decimal
    source_ts_ms: int
    symbol: str = "btc/usd"


class BookSnapshot(Event, tag="book", frozen=True, gc=False):
    """A whole book of one token, normalised best level first on both sides."""

    token_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    tick_size: Decimal | None = None


class BookDelta(Event, tag="book_delta", frozen=True, gc=False, omit_defaults=True):
    """A level's new total size (0 removes it); BUY is the bid side. The last change of a token in a frame
    carries the venue's best bid and ask after the frame when it states them, so the book can check itself."""

    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


class TradePrint(Event, tag="trade", frozen=True, gc=False):
    """A trade on the venue, anyone's; `side` is the taker's."""

    token_id: str
    price: Decimal
    size: Decimal
    side: Side


class TickSizeChange(Event, tag="tick_size", frozen=True, gc=False):
    token_id: str
    tick_size: Decimal


class BookReset(Event, tag="book_reset", frozen=True, gc=False):
    """The feed can no longer vouch for a token's book (a reconnect, a silence, a resync asked for): the
    book is untrusted until the venue's next snapshot of it."""

    token_id: str
    reason: str


class OrderUpdate(Event, tag="order", frozen=True, gc=False):
    """A status change of one of our orders, keyed by our client order id."""

    order_id: str
    status: OrderStatus
    filled_size: Decimal = Decimal(0)
    venue_order_id: str | None = None
    reason: str | None = None


class Fill(Event, tag="fill", frozen=True, gc=False):
    """A (partial) execution of one of our orders, with the fee the venue charged."""

    order_id: str
    trade_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    status: TradeStatus = TradeStatus.MATCHED


class Timer(Event, tag="timer", frozen=True, gc=False):
    """A scheduled wake-up (activation, cut-off, close), so time passes even when feeds are quiet."""

    name: str


class FeedStatus(Event, tag="feed", frozen=True, gc=False):
    """A feed went stale or recovered: risk refuses to trade on stale data."""

    feed: str
    stale: bool


class MarketResolved(Event, tag="resolved", frozen=True, gc=False):
    winning_token_id: str
    winning_outcome: Outcome


AnyEvent = (
    PriceTick
    | BookSnapshot
    | BookDelta
    | TradePrint
    | TickSizeChange
    | BookReset
    | OrderUpdate
    | Fill
    | Timer
    | FeedStatus
    | MarketResolved
)

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    """JSON with the event's type tag; Decimals as exact strings."""
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> AnyEvent:
    """The inverse of `encode_event`; raises msgspec.ValidationError on a malformed or unknown event."""
    return _decoder.decode(data)
