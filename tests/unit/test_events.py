import json
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.events import (
    BookDelta,
    BookReset,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    Level,
    Liquidity,
    MarketResolved,
    OrderStatus,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    TickSizeChange,
    Timer,
    TradePrint,
    TradeStatus,
    decode_event,
    encode_event,
)

TS = 1_778_437_800_000
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"

ONE_OF_EACH: list[tuple[str, Event]] = [
    (
        "price",
        PriceTick(ts_ms=TS, source=PriceSource.CHAINLINK, price=Decimal("97123.45"), source_ts_ms=TS - 7),
    ),
    (
        "book",
        BookSnapshot(
            ts_ms=TS,
            token_id=TOKEN,
            bids=(Level(Decimal("0.48"), Decimal("120")), Level(Decimal("0.47"), Decimal("35.5"))),
            asks=(Level(Decimal("0.50"), Decimal("80")),),
            tick_size=Decimal("0.01"),
        ),
    ),
    (
        "book_delta",
        BookDelta(ts_ms=TS, token_id=TOKEN, side=Side.BUY, price=Decimal("0.49"), size=Decimal(0)),
    ),
    (
        "trade",
        TradePrint(ts_ms=TS, token_id=TOKEN, price=Decimal("0.51"), size=Decimal("10"), side=Side.SELL),
    ),
    ("tick_size", TickSizeChange(ts_ms=TS, token_id=TOKEN, tick_size=Decimal("0.001"))),
    ("book_reset", BookReset(ts_ms=TS, token_id=TOKEN, reason="reconnect")),
    (
        "order",
        OrderUpdate(
            ts_ms=TS,
            order_id="agent-0001",
            status=OrderStatus.PARTIALLY_FILLED,
            filled_size=Decimal("2.5"),
            venue_order_id="0xabc",
            reason="partial",
        ),
    ),
    (
        "fill",
        Fill(
            ts_ms=TS,
            order_id="agent-0001",
            trade_id="trade-9",
            token_id=TOKEN,
            side=Side.BUY,
            price=Decimal("0.48"),
            size=Decimal("2.083334"),
            fee=Decimal("0.03640"),
            liquidity=Liquidity.TAKER,
            status=TradeStatus.CONFIRMED,
        ),
    ),
    ("timer", Timer(ts_ms=TS, name="activation")),
    ("feed", FeedStatus(ts_ms=TS, feed="chainlink", stale=True)),
    ("resolved", MarketResolved(ts_ms=TS, winning_token_id=TOKEN, winning_outcome=Outcome.DOWN)),
]
EVENTS = [event for _, event in ONE_OF_EACH]
IDS = [type(event).__name__ for event in EVENTS]

timestamps = st.integers(min_value=0, max_value=2**53)
finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)
book_prices = st.decimals(min_value=0, max_value=1, places=4)
sizes = st.decimals(min_value=0, max_value=10**9, places=6)


def test_one_example_of_every_event_type_is_covered() -> None:
    assert {type(event) for event in EVENTS} == set(Event.__subclasses__())


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_events_are_immutable(event: Event) -> None:
    with pytest.raises(AttributeError):
        event.ts_ms = 0  # type: ignore[misc]


def test_book_levels_are_immutable() -> None:
    level = Level(Decimal("0.5"), Decimal(10))

    with pytest.raises(AttributeError):
        level.size = Decimal(0)  # type: ignore[misc]


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_every_event_type_round_trips_through_its_encoding(event: Event) -> None:
    decoded = decode_event(encode_event(event))

    assert decoded == event
    assert type(decoded) is type(event)


@pytest.mark.parametrize(("tag", "event"), ONE_OF_EACH, ids=IDS)
def test_an_encoded_event_carries_its_type_tag(tag: str, event: Event) -> None:
    assert json.loads(encode_event(event))["type"] == tag


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_an_event_decodes_from_text_as_well_as_bytes(event: Event) -> None:
    assert decode_event(encode_event(event).decode()) == event


def test_decimals_are_encoded_as_exact_strings() -> None:
    price = Decimal("97123.456789012345678901234567")
    tick = PriceTick(ts_ms=TS, source=PriceSource.BINANCE, price=price, source_ts_ms=TS)

    assert json.loads(encode_event(tick))["price"] == "97123.456789012345678901234567"


def test_trailing_zeros_of_a_decimal_survive_the_round_trip() -> None:
    delta = BookDelta(ts_ms=TS, token_id=TOKEN, side=Side.SELL, price=Decimal("0.50"), size=Decimal("10.000"))

    decoded = decode_event(encode_event(delta))

    assert isinstance(decoded, BookDelta)
    assert (str(decoded.price), str(decoded.size)) == ("0.50", "10.000")


def test_book_levels_are_encoded_as_price_size_pairs() -> None:
    snapshot = BookSnapshot(ts_ms=TS, token_id=TOKEN, bids=(Level(Decimal("0.48"), Decimal("120")),), asks=())

    assert json.loads(encode_event(snapshot))["bids"] == [["0.48", "120"]]


def test_defaults_are_filled_in_when_decoding() -> None:
    decoded = decode_event(b'{"type":"order","ts_ms":1,"order_id":"agent-1","status":"live"}')

    assert decoded == OrderUpdate(ts_ms=1, order_id="agent-1", status=OrderStatus.LIVE)


@given(
    ts_ms=timestamps,
    source_ts_ms=timestamps,
    source=st.sampled_from(PriceSource),
    price=finite_decimals,
)
def test_any_price_tick_round_trips_exactly(
    ts_ms: int, source_ts_ms: int, source: PriceSource, price: Decimal
) -> None:
    tick = PriceTick(ts_ms=ts_ms, source=source, price=price, source_ts_ms=source_ts_ms)

    decoded = decode_event(encode_event(tick))

    assert decoded == tick
    assert isinstance(decoded, PriceTick)
    assert decoded.price.as_tuple() == price.as_tuple()


@given(
    ts_ms=timestamps,
    token_id=st.text(),
    side=st.sampled_from(Side),
    price=book_prices,
    size=sizes,
)
def test_any_book_delta_round_trips_exactly(
    ts_ms: int, token_id: str, side: Side, price: Decimal, size: Decimal
) -> None:
    delta = BookDelta(ts_ms=ts_ms, token_id=token_id, side=side, price=price, size=size)

    decoded = decode_event(encode_event(delta))

    assert decoded == delta
    assert isinstance(decoded, BookDelta)
    assert (decoded.price.as_tuple(), decoded.size.as_tuple()) == (price.as_tuple(), size.as_tuple())


@given(price=finite_decimals)
def test_any_decimal_is_encoded_as_its_exact_string(price: Decimal) -> None:
    tick = PriceTick(ts_ms=TS, source=PriceSource.PYTH, price=price, source_ts_ms=TS)

    assert json.loads(encode_event(tick))["price"] == str(price)


@pytest.mark.parametrize(
    "data",
    [b"", b"{not json", b'{"type":"price",', b"\xff\xfe", "[1, 2"],
    ids=["empty", "not-json", "truncated", "not-utf8", "unclosed-array"],
)
def test_malformed_json_is_refused(data: bytes | str) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_event(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"liquidation","ts_ms":1}',
        b'{"ts_ms":1,"name":"activation"}',
        b"[]",
        b'"price"',
        b'{"type":"timer","name":"activation"}',
        b'{"type":"timer","ts_ms":"soon","name":"activation"}',
        b'{"type":"price","ts_ms":1,"source":"coinbase","price":"1","source_ts_ms":1}',
        b'{"type":"price","ts_ms":1,"source":"pyth","price":"lots","source_ts_ms":1}',
        b'{"type":"book_delta","ts_ms":1,"token_id":"t","side":"HOLD","price":"0.5","size":"1"}',
    ],
    ids=[
        "unknown-type",
        "no-type",
        "array",
        "string",
        "missing-field",
        "wrong-field-type",
        "unknown-price-source",
        "price-not-a-number",
        "unknown-side",
    ],
)
def test_well_formed_json_that_is_not_an_event_is_refused(data: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_event(data)


def test_the_refusal_of_an_unknown_type_names_the_tag() -> None:
    with pytest.raises(msgspec.ValidationError, match="liquidation"):
        decode_event(b'{"type":"liquidation","ts_ms":1}')
