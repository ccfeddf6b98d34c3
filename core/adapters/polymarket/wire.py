"""Polymarket's wire formats as strict msgspec structs, for decoding what the venue sends and encoding fakes of it.

Field names are exactly those on the wire, so `encode(struct)` produces frames of the venue's shape (the simulated
venue relies on this). Numbers arrive as strings and sometimes as JSON numbers, so numeric fields accept both
(`Num`) and are turned into exact Decimals by the parsers, which also validate them. Timestamps come as epoch
seconds or milliseconds, as numbers or strings, or as ISO 8601 text: `parse_timestamp_ms` reads all of them.
Unknown fields are ignored (the venue adds fields); missing required fields and wrong types are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Literal

import msgspec

from core.clock import datetime_to_ms
from core.events import Side
from core.money import E18

Num = str | int | float
"""A number as the venue sends it: usually a decimal string, sometimes a JSON number."""

Timestamp = str | int | float
"""An instant as the venue sends it: epoch seconds or milliseconds (number or string), or ISO 8601 text."""

# --- timestamps -------------------------------------------------------------------------------------------

_SECONDS_BELOW = 10**11  # 1e11 s is the year 5138, while 1e11 ms is 1973: smaller numbers are seconds
_MILLIS_BELOW = 10**14
_MICROS_BELOW = 10**17
_LATEST_MS = 253_402_300_800_000  # 10000-01-01: beyond it no datetime exists, so it is garbage
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def parse_timestamp_ms(value: Timestamp) -> int:
    """Epoch milliseconds from any encoding the venue uses (bare numbers told apart by magnitude, sub-millisecond
    parts floored, zoneless ISO 8601 read as UTC); ValueError for anything else."""
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()) is None:
        return _iso_to_ms(value.strip())
    number = _epoch_number(value)
    if number < _SECONDS_BELOW:
        millis = int(number * 1000)
    elif number < _MILLIS_BELOW:
        millis = int(number)
    elif number < _MICROS_BELOW:
        millis = int(number / 1000)
    else:
        millis = int(number / 1_000_000)
    if millis >= _LATEST_MS:
        raise ValueError(f"timestamp: {value!r} is beyond the year 9999")
    return millis


def _epoch_number(value: Timestamp) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"timestamp: {value!r} is neither a number nor a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"timestamp: {value!r} is not finite")
    number = Decimal(repr(value) if isinstance(value, float) else value)
    if number < 0:
        raise ValueError(f"timestamp: {value!r} is before 1970")
    return number


def _iso_to_ms(text: str) -> int:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"timestamp: {text!r} is neither epoch time nor ISO 8601") from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    millis = datetime_to_ms(instant)
    if not 0 <= millis < _LATEST_MS:
        raise ValueError(f"timestamp: {text!r} is not between 1970 and 9999")
    return millis


def wire_number(value: Decimal | int) -> str:
    """A number as the venue writes it: a plain decimal string, never exponent notation."""
    return format(value, "f")


def to_e18(value: Decimal) -> str:
    """Chainlink's `full_accuracy_value` for a price: the integer price x 1e18; ValueError if it is not exact."""
    with localcontext() as ctx:
        ctx.prec = 100  # exact for any price: the default 28 digits would round silently
        scaled = value * E18
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 18 decimals")
    return str(int(scaled))


# --- market channel: wss://ws-subscriptions-clob.polymarket.com/ws/market ---------------------------------


class OrderSummary(msgspec.Struct, frozen=True, gc=False):
    """One level of a `book`: total size resting at a price."""

    price: Num
    size: Num


class MarketMessage(
    msgspec.Struct, tag_field="event_type", kw_only=True, omit_defaults=True, frozen=True, gc=False
):
    """An event on the market channel; frames carry one, or a JSON array of them."""


class BookMessage(MarketMessage, tag="book", kw_only=True, frozen=True):
    """A whole book of one token. Captures list bids ascending and asks descending: best level LAST."""

    market: str
    asset_id: str
    timestamp: Timestamp
    hash: str | None = None
    bids: list[OrderSummary]
    asks: list[OrderSummary]
    tick_size: Num | None = None
    last_trade_price: Num | None = None


class PriceChangeEntry(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """One level's new total size (0 removes it); BUY is the bid side."""

    asset_id: str
    price: Num
    size: Num
    side: Side
    hash: str | None = None
    best_bid: Num | None = None
    best_ask: Num | None = None


class LegacyChange(msgspec.Struct, frozen=True, gc=False):
    price: Num
    side: Side
    size: Num


class PriceChangeMessage(MarketMessage, tag="price_change", kw_only=True, frozen=True):
    """Level updates. Current format: `price_changes[]`, possibly for both tokens. Before ~Sept 2025 one token
    per frame: top-level `asset_id` with `changes[]`, or with a single `price`/`side`/`size`."""

    market: str
    price_changes: list[PriceChangeEntry] | None = None
    asset_id: str | None = None
    changes: list[LegacyChange] | None = None
    price: Num | None = None
    side: Side | None = None
    size: Num | None = None
    hash: str | None = None
    timestamp: Timestamp


class LastTradePriceMessage(MarketMessage, tag="last_trade_price", kw_only=True, frozen=True):
    """A trade on the book; `side` is the taker's."""

    market: str
    asset_id: str
    price: Num
    size: Num
    side: Side
    fee_rate_bps: Num | None = None
    timestamp: Timestamp
    transaction_hash: str | None = None


class TickSizeChangeMessage(MarketMessage, tag="tick_size_change", kw_only=True, frozen=True):
    market: str
    asset_id: str
    old_tick_size: Num
    new_tick_size: Num
    timestamp: Timestamp


class BestBidAskMessage(MarketMessage, tag="best_bid_ask", kw_only=True, frozen=True):
    """Top of book (custom feature); the engine keeps its own book, so this yields no event."""

    market: str
    asset_id: str
    best_bid: Num | None = None
    best_ask: Num | None = None
    spread: Num | None = None
    timestamp: Timestamp | None = None


class EventMessage(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    id: str | None = None
    ticker: str | None = None
    slug: str | None = None
    title: str | None = None
    description: str | None = None


class FeeScheduleMessage(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    exponent: Num | None = None
    rate: Num | None = None
    takerOnly: bool | None = None
    rebateRate: Num | None = None


class NewMarketMessage(MarketMessage, tag="new_market", kw_only=True, frozen=True):
    """A market was listed (custom feature); discovery goes through Gamma, so this yields no event."""

    id: str | None = None
    question: str | None = None
    market: str
    slug: str | None = None
    description: str | None = None
    assets_ids: list[str] | None = None
    outcomes: list[str] | None = None
    event_message: EventMessage | None = None
    timestamp: Timestamp | None = None
    tags: list[str] | None = None
    condition_id: str | None = None
    active: bool | None = None
    clob_token_ids: list[str] | None = None
    order_price_min_tick_size: Num | None = None
    group_item_title: str | None = None
    taker_base_fee: Num | None = None
    fees_enabled: bool | None = None
    fee_schedule: FeeScheduleMessage | None = None


class MarketResolvedMessage(MarketMessage, tag="market_resolved", kw_only=True, frozen=True):
    id: str | None = None
    market: str
    assets_ids: list[str] | None = None
    winning_asset_id: str
    winning_outcome: str
    timestamp: Timestamp | None = None
    tags: list[str] | None = None


AnyMarketMessage = (
    BookMessage
    | PriceChangeMessage
    | LastTradePriceMessage
    | TickSizeChangeMessage
    | BestBidAskMessage
    | NewMarketMessage
    | MarketResolvedMessage
)
MarketFrame = AnyMarketMessage | list[AnyMarketMessage]


# --- user channel: wss://ws-subscriptions-clob.polymarket.com/ws/user -------------------------------------


class UserMessage(
    msgspec.Struct, tag_field="event_type", kw_only=True, omit_defaults=True, frozen=True, gc=False
):
    """An event about our own orders and trades."""


class OrderMessage(UserMessage, tag="order", kw_only=True, frozen=True):
    """An order's state. `type` is PLACEMENT, UPDATE or CANCELLATION; `status` is free text (LIVE, MATCHED,
    CANCELED_<reason>, ...); `size_matched` can be an empty string on a killed order."""

    id: str
    owner: str | None = None
    market: str
    asset_id: str
    side: Side
    original_size: Num
    size_matched: Num
    price: Num
    associate_trades: list[str] | None = None
    outcome: str | None = None
    type: str
    created_at: Timestamp | None = None
    expiration: Timestamp | None = None
    order_type: str | None = None
    status: str
    maker_address: str | None = None
    order_owner: str | None = None
    timestamp: Timestamp | None = None


class MakerOrder(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """One resting order a trade matched; `side` is missing in frames before late 2025."""

    order_id: str
    owner: str
    maker_address: str | None = None
    matched_amount: Num
    price: Num
    fee_rate_bps: Num | None = None
    asset_id: str
    outcome: str | None = None
    side: Side | None = None


class TradeMessage(UserMessage, tag="trade", kw_only=True, frozen=True):
    """A match involving one of our orders; `trader_side` says whether ours is the taker or among the makers.
    `status` is MATCHED, MINED, CONFIRMED, RETRYING or FAILED, sometimes prefixed `TRADE_STATUS_`."""

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: Side
    size: Num
    fee_rate_bps: Num | None = None
    price: Num
    status: str
    match_time: Timestamp | None = None
    last_update: Timestamp | None = None
    outcome: str | None = None
    bucket_index: int | None = None
    owner: str | None = None
    trade_owner: str | None = None
    maker_address: str | None = None
    transaction_hash: str | None = None
    maker_orders: list[MakerOrder]
    trader_side: Literal["TAKER", "MAKER"]
    type: str | None = None
    timestamp: Timestamp | None = None


AnyUserMessage = OrderMessage | TradeMessage
UserFrame = AnyUserMessage | list[AnyUserMessage]


# --- RTDS: wss://ws-live-data.polymarket.com ---------------------------------------------------------------


class PricePoint(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """One point of a backfill; `full_accuracy_value` is missing on some topics, `value` is then all there is."""

    timestamp: Timestamp
    value: Num
    full_accuracy_value: str | None = None


class RtdsPrice(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """An update's payload. `full_accuracy_value` is an integer x 1e18 on Chainlink topics, a plain decimal on
    `crypto_prices` (Binance); `window_s` is set on TWAP topics."""

    symbol: str
    timestamp: Timestamp
    value: Num
    full_accuracy_value: str | None = None
    window_s: int | None = None
    received_at: Timestamp | None = None


class RtdsPriceHistory(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """A `subscribe` frame's payload: the last minute or two of points, sent before the updates."""

    symbol: str
    data: list[PricePoint]
    window_s: int | None = None


class RtdsMessage(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, frozen=True, gc=False):
    topic: str
    timestamp: Timestamp
    connection_id: str | None = None


class RtdsUpdate(RtdsMessage, tag="update", kw_only=True, frozen=True):
    payload: RtdsPrice


class RtdsSnapshot(RtdsMessage, tag="subscribe", kw_only=True, frozen=True):
    payload: RtdsPriceHistory


AnyRtdsMessage = RtdsUpdate | RtdsSnapshot
RtdsFrame = AnyRtdsMessage | list[AnyRtdsMessage]

RTDS_CHAINLINK = "crypto_prices_chainlink"
RTDS_BINANCE = "crypto_prices"
RTDS_TWAP_60S = "crypto_prices_twap_sixty"


# --- PolyBolt: wss://ws-live-v2.polymarket.com/ws ----------------------------------------------------------


class PolyBoltPrice(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """A price channel's payload: an update (`timestamp`, `value`, ...) or, in a snapshot, a history (`data`).
    `full_accuracy_value` is a plain decimal here, Chainlink included; `source` names the provider."""

    symbol: str
    source: str | None = None
    timestamp: Timestamp | None = None
    value: Num | None = None
    full_accuracy_value: str | None = None
    received_at: Timestamp | None = None
    is_carried_forward: bool | None = None
    window_seconds: int | None = None
    data: list[PricePoint] | None = None


class PolyBoltQuote(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    market: str
    asset_id: str
    best_bid: Num | None = None
    best_ask: Num | None = None
    hash: str | None = None
    timestamp: Timestamp | None = None


class PolyBoltMessage(
    msgspec.Struct, tag_field="channel", kw_only=True, omit_defaults=True, frozen=True, gc=False
):
    v: Literal[1]
    seq: int
    ts: Timestamp
    snapshot: bool | None = None
    dropped: int | None = None


class PolyBoltCryptoPrice(PolyBoltMessage, tag="price.crypto", kw_only=True, frozen=True):
    payload: PolyBoltPrice


class PolyBoltCryptoTwap(PolyBoltMessage, tag="price.crypto.twap", kw_only=True, frozen=True):
    payload: PolyBoltPrice


class PolyBoltMarketQuote(PolyBoltMessage, tag="price.polymarket", kw_only=True, frozen=True):
    """Best bid/ask of a token; the market channel already gives the whole book, so this yields no event."""

    payload: PolyBoltQuote


AnyPolyBoltMessage = PolyBoltCryptoPrice | PolyBoltCryptoTwap | PolyBoltMarketQuote
PolyBoltFrame = AnyPolyBoltMessage | list[AnyPolyBoltMessage]


# --- encoding ---------------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()


def encode(message: msgspec.Struct | Sequence[msgspec.Struct]) -> bytes:
    """A frame exactly as the venue would send it: one event, or a JSON array of events."""
    return _encoder.encode(message)


def book_message(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    tick_size: Decimal | None = None,
    last_trade_price: Decimal | None = None,
    hash: str | None = None,
) -> BookMessage:
    """A `book` from (price, size) levels in any order, laid out as captured: best bid last, best ask last."""
    return BookMessage(
        market=market,
        asset_id=asset_id,
        timestamp=str(timestamp_ms),
        hash=hash,
        bids=[OrderSummary(wire_number(p), wire_number(s)) for p, s in sorted(bids)],
        asks=[OrderSummary(wire_number(p), wire_number(s)) for p, s in sorted(asks, reverse=True)],
        tick_size=None if tick_size is None else wire_number(tick_size),
        last_trade_price=None if last_trade_price is None else wire_number(last_trade_price),
    )


def price_change_entry(
    asset_id: str,
    side: Side,
    price: Decimal,
    size: Decimal,
    *,
    best_bid: Decimal | None = None,
    best_ask: Decimal | None = None,
    hash: str | None = None,
) -> PriceChangeEntry:
    """One level change, numbers written as the venue writes them."""
    return PriceChangeEntry(
        asset_id=asset_id,
        price=wire_number(price),
        size=wire_number(size),
        side=side,
        hash=hash,
        best_bid=None if best_bid is None else wire_number(best_bid),
        best_ask=None if best_ask is None else wire_number(best_ask),
    )


def encode_price_change(*, market: str, timestamp_ms: int, changes: Iterable[PriceChangeEntry]) -> bytes:
    """A current-format `price_change` frame."""
    return encode(PriceChangeMessage(market=market, price_changes=list(changes), timestamp=str(timestamp_ms)))


def encode_last_trade_price(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    price: Decimal,
    size: Decimal,
    side: Side,
    fee_rate_bps: int = 0,
) -> bytes:
    """A `last_trade_price` frame; `side` is the taker's."""
    return encode(
        LastTradePriceMessage(
            market=market,
            asset_id=asset_id,
            price=wire_number(price),
            size=wire_number(size),
            side=side,
            fee_rate_bps=str(fee_rate_bps),
            timestamp=str(timestamp_ms),
        )
    )


def encode_rtds_price(
    *,
    topic: str,
    symbol: str,
    price: Decimal,
    source_ts_ms: int,
    sent_ms: int,
    connection_id: str | None = None,
) -> bytes:
    """An RTDS `update`: E18 `full_accuracy_value` on Chainlink topics, a plain decimal on Binance's."""
    chainlink = topic != RTDS_BINANCE
    return encode(
        RtdsUpdate(
            topic=topic,
            timestamp=sent_ms,
            connection_id=connection_id,
            payload=RtdsPrice(
                symbol=symbol,
                timestamp=source_ts_ms,
                value=float(price),
                full_accuracy_value=to_e18(price) if chainlink else wire_number(price),
                window_s=60 if topic == RTDS_TWAP_60S else None,
            ),
        )
    )
