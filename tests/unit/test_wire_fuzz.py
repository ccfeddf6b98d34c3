"""Every parser survives anything: each frame ends exactly one way (events, ignored, or counted malformed),
and no exception escapes, whatever bytes, JSON or damaged real frames it is given."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.adapters.polymarket import wire
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.parse import FrameParser
from core.adapters.polymarket.price_parser import PolyBoltParser, RtdsParser
from core.adapters.polymarket.user_parser import UserParser
from core.events import Side
from core.market.fees import CRYPTO_FEES_V2

RECV_MS = 1_786_604_072_257
MS = 1_786_604_072_222
UP, DOWN, MARKET = "1111", "2222", "0xabc"
OUR_KEY = "our-key"

PARSERS: dict[str, Callable[[], FrameParser[Any]]] = {
    "market": MarketParser,
    "rtds": RtdsParser,
    "polybolt": PolyBoltParser,
    "user": lambda: UserParser(api_key=OUR_KEY, fee_schedule=CRYPTO_FEES_V2, client_ids={"0xours": "c-1"}),
}

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fates(parser: FrameParser[Any], frame: bytes | str) -> tuple[list[Any], int, int]:
    """Events, and how much the malformed and ignored counts grew, for one frame."""
    malformed, ignored = parser.malformed.total, parser.ignored.total()
    events = parser.parse(frame, RECV_MS)
    return events, parser.malformed.total - malformed, parser.ignored.total() - ignored


def assert_one_fate(parser: FrameParser[Any], frame: bytes | str) -> tuple[list[Any], int, int]:
    events, malformed, ignored = fates(parser, frame)
    assert (bool(events), malformed, ignored) in {(True, 0, 0), (False, 1, 0), (False, 0, 1)}
    assert all(event.ts_ms == RECV_MS for event in events)
    return events, malformed, ignored


def benign(frame: bytes | str) -> bool:
    """A keepalive or an empty array: not data, and not malformed either."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    if text.strip().upper() in {"PING", "PONG"}:
        return True
    try:
        return bool(json.loads(text) == [])
    except ValueError:
        return False


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(frame=st.one_of(st.binary(max_size=600), st.text(max_size=300)))
def test_arbitrary_bytes_are_malformed_unless_benign(name: str, frame: bytes | str) -> None:
    events, malformed, _ = assert_one_fate(PARSERS[name](), frame)

    assert events == []
    assert malformed == (0 if benign(frame) else 1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
tagged_objects = st.builds(
    lambda tag, field, body: {field: tag, **body},
    st.sampled_from(
        [
            "book",
            "price_change",
            "last_trade_price",
            "tick_size_change",
            "market_resolved",
            "order",
            "trade",
            "update",
            "subscribe",
            "price.crypto",
            "price.crypto.twap",
        ]
    ),
    st.sampled_from(["event_type", "type", "channel"]),
    st.dictionaries(
        st.sampled_from(["asset_id", "market", "price", "size", "side", "payload", "v", "topic"]),
        json_values,
        max_size=6,
    ),
)


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(value=st.one_of(json_values, tagged_objects, st.lists(tagged_objects, max_size=3)))
def test_arbitrary_json_ends_exactly_one_way(name: str, value: object) -> None:
    assert_one_fate(PARSERS[name](), json.dumps(value))


def real_frames() -> list[tuple[str, dict[str, Any] | list[Any]]]:
    """One frame of each kind that yields events, as the venue lays them out."""
    book = wire.book_message(
        market=MARKET,
        asset_id=UP,
        timestamp_ms=MS,
        bids=[(Decimal("0.48"), Decimal("10.5")), (Decimal("0.47"), Decimal(200))],
        asks=[(Decimal("0.52"), Decimal(7)), (Decimal("0.55"), Decimal("1.25"))],
        tick_size=Decimal("0.01"),
    )
    price_change = wire.PriceChangeMessage(
        market=MARKET,
        price_changes=[
            wire.price_change_entry(UP, Side.BUY, Decimal("0.49"), Decimal(30), best_bid=Decimal("0.49")),
            wire.price_change_entry(DOWN, Side.SELL, Decimal("0.51"), Decimal(0), best_ask=Decimal("0.51")),
        ],
        timestamp=str(MS),
    )
    trade = {
        "event_type": "trade",
        "id": "t-1",
        "taker_order_id": "0xtheirs",
        "market": MARKET,
        "asset_id": UP,
        "side": "BUY",
        "size": "15",
        "price": "0.5",
        "status": "TRADE_STATUS_MINED",
        "match_time": "1762776367",
        "maker_orders": [
            {"order_id": "0xours", "owner": OUR_KEY, "matched_amount": "5", "price": "0.5", "asset_id": UP},
            {
                "order_id": "0xtheirs2",
                "owner": "x",
                "matched_amount": "10",
                "price": "0.5",
                "asset_id": DOWN,
                "side": "BUY",
            },
        ],
        "trader_side": "MAKER",
        "type": "TRADE",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    order = {
        "event_type": "order",
        "id": "0xours",
        "market": MARKET,
        "asset_id": UP,
        "side": "SELL",
        "original_size": "12",
        "size_matched": "",
        "price": 0.6,
        "associate_trades": [],
        "type": "CANCELLATION",
        "status": "CANCELED_order couldn't be fully filled.",
        "order_type": "FOK",
        "timestamp": MS,
    }
    return [
        ("market", json.loads(wire.encode(book))),
        ("market", json.loads(wire.encode(price_change))),
        ("market", json.loads(wire.encode([book, price_change]))),
        (
            "market",
            {
                "event_type": "price_change",
                "market": MARKET,
                "asset_id": UP,
                "price": "0.5",
                "side": "SELL",
                "size": "3",
                "timestamp": MS,
            },
        ),
        (
            "market",
            {
                "event_type": "last_trade_price",
                "market": MARKET,
                "asset_id": UP,
                "price": "0.5",
                "size": "3",
                "side": "SELL",
                "fee_rate_bps": "0",
                "timestamp": str(MS),
            },
        ),
        (
            "market",
            {
                "event_type": "tick_size_change",
                "market": MARKET,
                "asset_id": UP,
                "old_tick_size": "0.01",
                "new_tick_size": "0.001",
                "timestamp": str(MS),
            },
        ),
        (
            "market",
            {
                "event_type": "market_resolved",
                "market": MARKET,
                "winning_asset_id": UP,
                "winning_outcome": "Up",
                "assets_ids": [UP, DOWN],
                "timestamp": str(MS),
            },
        ),
        ("user", trade),
        ("user", {**trade, "trader_side": "TAKER", "taker_order_id": "0xours", "status": "CONFIRMED"}),
        ("user", order),
        (
            "rtds",
            json.loads(
                wire.encode_rtds_price(
                    topic=wire.RTDS_CHAINLINK,
                    symbol="btc/usd",
                    price=Decimal("97000.123"),
                    source_ts_ms=MS,
                    sent_ms=MS,
                )
            ),
        ),
        (
            "rtds",
            json.loads(
                wire.encode_rtds_price(
                    topic=wire.RTDS_TWAP_60S,
                    symbol="btc/usd",
                    price=Decimal("97000.5"),
                    source_ts_ms=MS,
                    sent_ms=MS,
                )
            ),
        ),
        (
            "rtds",
            {
                "topic": "crypto_prices",
                "type": "subscribe",
                "timestamp": MS,
                "payload": {
                    "symbol": "btcusdt",
                    "data": [{"timestamp": MS, "value": 97000.25}, {"timestamp": MS + 1000, "value": 97001}],
                },
            },
        ),
        (
            "polybolt",
            {
                "v": 1,
                "channel": "price.crypto",
                "seq": 4,
                "ts": MS,
                "snapshot": True,
                "payload": {
                    "symbol": "btcusd",
                    "source": "pyth",
                    "data": [{"timestamp": MS, "value": 1.5, "full_accuracy_value": "97000.1"}],
                },
            },
        ),
        (
            "polybolt",
            {
                "v": 1,
                "channel": "price.crypto.twap",
                "seq": 5,
                "ts": MS,
                "payload": {
                    "symbol": "btcusd",
                    "source": "chainlink",
                    "timestamp": MS,
                    "value": 97000.2,
                    "full_accuracy_value": "97000.2000000001",
                    "window_seconds": 60,
                },
            },
        ),
    ]


REAL = real_frames()


def test_every_real_frame_yields_events() -> None:
    for name, frame in REAL:
        events = assert_one_fate(PARSERS[name](), json.dumps(frame))[0]
        assert events, (name, frame)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as a path of keys and indexes."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def mutate(value: Any, path: tuple[Any, ...], replacement: Any, drop: bool) -> Any:
    """A copy with the node at `path` replaced or, inside an object, removed."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if drop and not rest and isinstance(copy, dict):
        del copy[head]
    else:
        copy[head] = mutate(value[head], rest, replacement, drop)
    return copy


def other_type(original: Any) -> st.SearchStrategy[Any]:
    return json_values.filter(lambda candidate: type(candidate) is not type(original))


@st.composite
def damaged_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    name, frame = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(frame)))
        node: Any = frame
        for step in path:
            node = node[step]
        frame = mutate(frame, path, draw(other_type(node)), drop=draw(st.booleans()))
    encoded = json.dumps(frame).encode()
    if draw(st.booleans()):
        encoded = encoded[: draw(st.integers(0, max(len(encoded) - 1, 0)))]
    return name, encoded


@FUZZ
@given(damaged=damaged_frames())
def test_damaged_real_frames_give_events_or_count_as_malformed(damaged: tuple[str, bytes]) -> None:
    name, frame = damaged
    parser = PARSERS[name]()
    events, malformed, ignored = assert_one_fate(parser, frame)

    # A damaged number can still be a number: the plausibility gate quarantines it instead.
    assert ignored == 0 or benign(frame) or parser.ignored["quarantined"] == 1, frame
    assert malformed == (0 if events or benign(frame) else 1)
