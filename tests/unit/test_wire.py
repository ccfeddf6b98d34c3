"""Wire encodings: timestamps in every form the venue uses, frames our builders make parse back to what was
meant, and the mapping of venue statuses onto ours."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.adapters.polymarket import wire
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.price_parser import RtdsParser, normalise_symbol
from core.adapters.polymarket.user_parser import UserParser, order_status
from core.clock import ms_to_datetime
from core.events import (
    BookDelta,
    BookSnapshot,
    Fill,
    Level,
    Liquidity,
    OrderStatus,
    OrderUpdate,
    PriceSource,
    PriceTick,
    Side,
    TradePrint,
    TradeStatus,
)
from core.market.fees import CRYPTO_FEES_V2

MS = 1_786_604_072_222
RECV_MS = MS + 35
UP = "350977769852917329387037893294763093471844346281449484439085576212613048126"
DOWN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
MARKET = "0x6bd56627aa21311850825edb27e53434a0e17a4f782be0086bc07f71eee00d0d"


# --- parse_timestamp_ms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MS, MS),
        (str(MS), MS),
        (f" {MS}\n", MS),
        (1_725_841_741, 1_725_841_741_000),
        ("1725841741", 1_725_841_741_000),
        (1_725_841_741.123, 1_725_841_741_123),
        ("1725841741.5", 1_725_841_741_500),
        (float(MS), MS),
        (MS * 1000 + 999, MS),
        (MS * 1_000_000 + 999_999, MS),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("2024-01-01T02:00:00+02:00", 1_704_067_200_000),
        ("2024-01-01T00:00:00.123999Z", 1_704_067_200_123),
        ("2024-01-01T00:00:00", 1_704_067_200_000),
        ("2024-01-01 00:00:00.5", 1_704_067_200_500),
        (0, 0),
    ],
)
def test_timestamps_in_every_encoding(value: wire.Timestamp, expected: int) -> None:
    assert wire.parse_timestamp_ms(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "abc",
        "1e12",
        "-5",
        -1,
        True,
        float("nan"),
        float("inf"),
        10**30,
        "1969-12-31T23:59:59Z",
        None,
    ],
)
def test_what_is_not_a_timestamp_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        wire.parse_timestamp_ms(value)  # type: ignore[arg-type]


@given(st.one_of(st.text(), st.integers(), st.floats(), st.datetimes().map(str)))
def test_a_timestamp_is_read_or_refused_with_a_value_error(value: wire.Timestamp) -> None:
    with contextlib.suppress(ValueError):
        assert 0 <= wire.parse_timestamp_ms(value) < 253_402_300_800_000


@given(st.integers(min_value=10**11, max_value=4_102_444_800_000))
def test_every_encoding_of_an_instant_reads_back_the_same(ms: int) -> None:
    encodings: list[wire.Timestamp] = [ms, str(ms), ms_to_datetime(ms).isoformat(), ms * 1000]
    if ms % 1000 == 0:
        encodings += [ms // 1000, str(ms // 1000)]

    assert {wire.parse_timestamp_ms(encoding) for encoding in encodings} == {ms}


# --- builders, encoded and parsed back -----------------------------------------------------------------------

cents = st.integers(1, 99).map(lambda k: Decimal(k) / 100)
shares = st.integers(1, 10**9).map(lambda k: Decimal(k) / 100)


@given(bids=st.dictionaries(cents, shares, max_size=30), asks=st.dictionaries(cents, shares, max_size=30))
def test_a_built_book_parses_back_best_level_first(
    bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]
) -> None:
    frame = wire.encode(
        wire.book_message(
            market=MARKET,
            asset_id=UP,
            timestamp_ms=MS,
            bids=bids.items(),
            asks=asks.items(),
            tick_size=Decimal("0.01"),
        )
    )

    assert MarketParser().parse(frame, RECV_MS) == [
        BookSnapshot(
            token_id=UP,
            bids=tuple(Level(p, s) for p, s in sorted(bids.items(), reverse=True)),
            asks=tuple(Level(p, s) for p, s in sorted(asks.items())),
            tick_size=Decimal("0.01"),
            ts_ms=RECV_MS,
        )
    ]


def test_a_built_book_is_laid_out_as_captured() -> None:
    message = wire.book_message(
        market=MARKET,
        asset_id=UP,
        timestamp_ms=MS,
        bids=[(Decimal("0.48"), Decimal(10)), (Decimal("0.47"), Decimal("1E+3"))],
        asks=[(Decimal("0.52"), Decimal(5)), (Decimal("0.53"), Decimal("2.50"))],
    )

    assert message.bids == [wire.OrderSummary("0.47", "1000"), wire.OrderSummary("0.48", "10")]
    assert message.asks == [wire.OrderSummary("0.53", "2.50"), wire.OrderSummary("0.52", "5")]
    assert msgspec.json.decode(wire.encode(message), type=wire.MarketFrame) == message


def test_built_price_change_and_trade_parse_back() -> None:
    frames = [
        wire.encode_price_change(
            market=MARKET,
            timestamp_ms=MS,
            changes=[
                wire.price_change_entry(
                    UP, Side.BUY, Decimal("0.51"), Decimal("150"), best_bid=Decimal("0.51")
                ),
                wire.price_change_entry(DOWN, Side.SELL, Decimal("0.49"), Decimal(0), hash="ab12"),
            ],
        ),
        wire.encode_last_trade_price(
            market=MARKET,
            asset_id=UP,
            timestamp_ms=MS,
            price=Decimal("0.52"),
            size=Decimal("12.5"),
            side=Side.BUY,
        ),
    ]
    parser = MarketParser()

    assert [event for frame in frames for event in parser.parse(frame, RECV_MS)] == [
        BookDelta(token_id=UP, side=Side.BUY, price=Decimal("0.51"), size=Decimal(150), ts_ms=RECV_MS),
        BookDelta(token_id=DOWN, side=Side.SELL, price=Decimal("0.49"), size=Decimal(0), ts_ms=RECV_MS),
        TradePrint(token_id=UP, price=Decimal("0.52"), size=Decimal("12.5"), side=Side.BUY, ts_ms=RECV_MS),
    ]


@pytest.mark.parametrize(
    ("topic", "symbol", "source", "full_accuracy_value"),
    [
        (wire.RTDS_CHAINLINK, "btc/usd", PriceSource.CHAINLINK, "97123456789012345678901"),
        (wire.RTDS_TWAP_60S, "btc/usd", PriceSource.CHAINLINK_TWAP_60S, "97123456789012345678901"),
        (wire.RTDS_BINANCE, "btcusdt", PriceSource.BINANCE, "97123.456789012345678901"),
    ],
)
def test_a_built_rtds_price_parses_back_exactly(
    topic: str, symbol: str, source: PriceSource, full_accuracy_value: str
) -> None:
    price = Decimal("97123.456789012345678901")
    frame = wire.encode_rtds_price(topic=topic, symbol=symbol, price=price, source_ts_ms=MS, sent_ms=MS + 400)

    assert msgspec.json.decode(frame)["payload"]["full_accuracy_value"] == full_accuracy_value
    assert RtdsParser().parse(frame, RECV_MS) == [
        PriceTick(source=source, price=price, source_ts_ms=MS, symbol=normalise_symbol(symbol), ts_ms=RECV_MS)
    ]


def test_e18_needs_an_exact_price() -> None:
    with pytest.raises(ValueError, match="18 decimals"):
        wire.to_e18(Decimal("1.0000000000000000001"))


def test_user_frames_built_from_the_structs_parse_back() -> None:
    order = wire.OrderMessage(
        id="0xabc",
        market=MARKET,
        asset_id=UP,
        side=Side.BUY,
        original_size="10",
        size_matched="4",
        price="0.5",
        type="UPDATE",
        status="LIVE",
        order_type="GTC",
        timestamp=str(MS),
    )
    trade = wire.TradeMessage(
        id="t-1",
        taker_order_id="0xother",
        market=MARKET,
        asset_id=UP,
        side=Side.SELL,
        size="4",
        price="0.5",
        status="MATCHED",
        maker_orders=[
            wire.MakerOrder(
                order_id="0xabc", owner="key", matched_amount="4", price="0.5", asset_id=UP, side=Side.BUY
            )
        ],
        trader_side="MAKER",
    )
    parser = UserParser(api_key="key", fee_schedule=CRYPTO_FEES_V2, client_ids={"0xabc": "c-1"})

    assert parser.parse(wire.encode([order, trade]), RECV_MS) == [
        OrderUpdate(
            order_id="c-1",
            status=OrderStatus.PARTIALLY_FILLED,
            filled_size=Decimal(4),
            venue_order_id="0xabc",
            ts_ms=RECV_MS,
        ),
        Fill(
            order_id="c-1",
            trade_id="t-1",
            token_id=UP,
            side=Side.BUY,
            price=Decimal("0.5"),
            size=Decimal(4),
            fee=Decimal("0.00000"),
            liquidity=Liquidity.MAKER,
            status=TradeStatus.MATCHED,
            ts_ms=RECV_MS,
        ),
    ]


# --- statuses and symbols ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "event", "order_type", "filled", "expected"),
    [
        ("LIVE", "PLACEMENT", "GTC", "0", (OrderStatus.LIVE, None)),
        ("LIVE", "UPDATE", "GTC", "3", (OrderStatus.PARTIALLY_FILLED, None)),
        ("MATCHED", "UPDATE", "FAK", "3", (OrderStatus.PARTIALLY_FILLED, None)),
        ("MATCHED", "UPDATE", "GTC", "10", (OrderStatus.FILLED, None)),
        ("DELAYED", "PLACEMENT", "FOK", "0", (OrderStatus.PENDING, "DELAYED")),
        ("UNMATCHED", "PLACEMENT", "FOK", "0", (OrderStatus.CANCELED, "UNMATCHED")),
        ("UNMATCHED", "PLACEMENT", "GTC", "0", (OrderStatus.LIVE, "UNMATCHED")),
        (
            "CANCELED_MARKET_RESOLVED",
            "CANCELLATION",
            "GTC",
            "2",
            (OrderStatus.CANCELED, "CANCELED_MARKET_RESOLVED"),
        ),
        (
            "CANCELED_EXPIRED_ORDER",
            "CANCELLATION",
            "GTD",
            "0",
            (OrderStatus.EXPIRED, "CANCELED_EXPIRED_ORDER"),
        ),
        ("INVALID", "PLACEMENT", "GTC", "0", (OrderStatus.REJECTED, "INVALID")),
        ("INVALID", "CANCELLATION", "GTC", "0", (OrderStatus.CANCELED, "INVALID")),
        ("SOMETHING_NEW", "UPDATE", "GTC", "0", (OrderStatus.UNKNOWN, "SOMETHING_NEW")),
        ("LIVE", "CANCELLATION", "GTC", "0", (OrderStatus.CANCELED, "LIVE")),
    ],
)
def test_venue_order_statuses_map_onto_ours(
    status: str, event: str, order_type: str, filled: str, expected: tuple[OrderStatus, str | None]
) -> None:
    assert order_status(status, event, order_type, Decimal(filled), Decimal(10)) == expected


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("btc/usd", "btc/usd"),
        ("btcusd", "btc/usd"),
        ("BTCUSDT", "btc/usdt"),
        ("ethusdc", "eth/usdc"),
        ("usd", "usd"),
    ],
)
def test_symbols_are_normalised_to_base_slash_quote(symbol: str, expected: str) -> None:
    assert normalise_symbol(symbol) == expected


def test_a_malformed_kind_is_logged_once_then_only_counted(caplog: pytest.LogCaptureFixture) -> None:
    parser = MarketParser()
    with caplog.at_level(logging.WARNING):
        for frame in [b"{oops", b"{still not json", b'{"event_type":"nope"}', b"PING"]:
            assert parser.parse(frame, RECV_MS) == []

    assert parser.malformed.counts == {"json": 2, "unknown_event_type": 1}
    assert parser.health() == {
        "malformed": {"json": 2, "unknown_event_type": 1},
        "ignored": {"keepalive": 1},
    }
    assert len(caplog.records) == 2
    assert "b'{oops'" in caplog.records[0].getMessage()


@pytest.mark.parametrize("encoding", [bytes, str])
def test_an_untagged_trade_print_is_malformed_never_a_level_change(encoding: type) -> None:
    # The legacy price_change shape (asset_id, price, size, side) matches a trade print without its tag.
    untagged = (
        f'{{"market":"{MARKET}","asset_id":"{UP}","price":"0.56","size":"10","side":"BUY",'
        f'"fee_rate_bps":"0","timestamp":"{MS}"}}'
    )
    frame = untagged.encode() if encoding is bytes else untagged
    parser = MarketParser()

    assert parser.parse(frame, RECV_MS) == []
    assert parser.malformed.counts == {"schema": 1}

    tagged = untagged.replace('"market"', '"event_type":"last_trade_price","market"', 1)
    (trade,) = parser.parse(tagged.encode() if encoding is bytes else tagged, RECV_MS)
    assert isinstance(trade, TradePrint)


def test_only_each_tokens_last_change_in_a_frame_carries_the_stated_best_prices() -> None:
    def entry(asset: str, change: str, best: str) -> dict[str, str]:
        price, size, side = change.split()
        bid, ask = best.split()
        return {
            "asset_id": asset,
            "price": price,
            "size": size,
            "side": side,
            "best_bid": bid,
            "best_ask": ask,
        }

    frame = msgspec.json.encode(
        {
            "event_type": "price_change",
            "market": MARKET,
            "timestamp": str(MS),
            "price_changes": [
                entry(UP, "0.52 0 SELL", "0.51 0.53"),
                entry(DOWN, "0.47 20 BUY", "0.47 0"),  # "0": an empty ask side, nothing to check
                entry(UP, "0.51 0 BUY", "0.50 0.53"),
            ],
        }
    )

    up_first, down, up_last = MarketParser().parse(frame, RECV_MS)
    assert isinstance(up_first, BookDelta)
    assert isinstance(down, BookDelta)
    assert isinstance(up_last, BookDelta)

    assert (up_first.best_bid, up_first.best_ask) == (None, None)
    assert (down.best_bid, down.best_ask) == (Decimal("0.47"), None)
    assert (up_last.best_bid, up_last.best_ask) == (Decimal("0.50"), Decimal("0.53"))
