"""Our parsers against frames the venue (or others' fixtures of it) actually sent: see samples/PROVENANCE.md.

Samples live in ../shared/reference (BTC_AGENT_SHARED_REFERENCE), real RTDS captures in ../shared/data
(BTC_AGENT_SHARED_DATA); tests skip with the reason when a folder is absent, as on a user's clone.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.adapters.polymarket import wire
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.price_parser import PolyBoltParser, RtdsParser
from core.adapters.polymarket.user_parser import UserParser
from core.events import (
    BookDelta,
    BookSnapshot,
    Fill,
    Liquidity,
    MarketResolved,
    OrderStatus,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    TickSizeChange,
    TradePrint,
    TradeStatus,
)
from core.market.fees import CRYPTO_FEES_V2, fee_for
from tests.support.shared_data import SHARED_DATA

REFERENCE = Path(
    os.environ.get("BTC_AGENT_SHARED_REFERENCE")
    or Path(__file__).resolve().parents[2].parent / "shared" / "reference"
)
SAMPLES = REFERENCE / "samples"
NT = SAMPLES / "nautilus_trader"
RTDS_DAY = SHARED_DATA / "polymarket_rtds_ws_2025-10-29"
RECV_MS = 1_790_000_000_000
OUR_KEY = "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"  # the API key on the 2024 captures' own orders

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"reference samples {SAMPLES} are absent (only on the team's machines; set BTC_AGENT_SHARED_REFERENCE)",
)


def sample(relative: str, **overrides: Any) -> bytes:
    """A sample's bytes; `overrides` set keys, e.g. the `event_type` fixtures are stored without."""
    path = NT / relative
    if not overrides:
        return path.read_bytes()
    return json.dumps({**json.loads(path.read_text()), **overrides}).encode()


def parse_market(frame: bytes) -> tuple[list[Any], MarketParser]:
    parser = MarketParser()
    return parser.parse(frame, RECV_MS), parser


def only(events: list[Any], kind: type) -> Any:
    assert len(events) == 1, events
    assert isinstance(events[0], kind), events[0]
    return events[0]


# --- market channel ---------------------------------------------------------------------------------------


def test_captured_book_is_normalised_best_level_first() -> None:
    raw = json.loads((NT / "later_commits/ws_book_snapshot_captured.json").read_text())
    events, parser = parse_market(sample("later_commits/ws_book_snapshot_captured.json"))

    book = only(events, BookSnapshot)
    assert raw["bids"][-1] == {"price": "0.07", "size": "182528.55"}  # best bid last on the wire
    assert raw["asks"][-1] == {"price": "0.08", "size": "228198.28"}  # best ask last on the wire
    assert book.bids[0].price == Decimal("0.07")
    assert book.bids[0].size == Decimal("182528.55")
    assert book.asks[0].price == Decimal("0.08")
    assert book.asks[0].size == Decimal("228198.28")
    assert book.token_id == raw["asset_id"]
    assert book.tick_size == Decimal("0.01")
    assert book.ts_ms == RECV_MS
    assert (len(book.bids), len(book.asks)) == (len(raw["bids"]), len(raw["asks"]))
    assert [level.price for level in book.bids] == sorted((level.price for level in book.bids), reverse=True)
    assert [level.price for level in book.asks] == sorted(level.price for level in book.asks)
    assert parser.malformed.total == 0


def test_2024_book_with_three_decimal_ticks() -> None:
    book = only(parse_market(sample("py_integration_ws/book.json"))[0], BookSnapshot)

    assert (book.bids[0].price, book.bids[0].size) == (Decimal("0.511"), Decimal("1304.72"))
    assert (book.asks[0].price, book.asks[0].size) == (Decimal("0.514"), Decimal("20230.87"))
    assert (len(book.bids), len(book.asks)) == (76, 86)
    assert book.bids[-1].price == Decimal("0.001")
    assert book.tick_size is None


def test_book_sent_best_first_is_normalised_the_same() -> None:
    """A synthetic fixture lists the best level first, unlike captures: the order on the wire must not matter."""
    book = only(parse_market(sample("crates_test_data/ws_market_book_msg.json"))[0], BookSnapshot)

    assert [level.price for level in book.bids] == [Decimal("0.50"), Decimal("0.49")]
    assert [level.price for level in book.asks] == [Decimal("0.51"), Decimal("0.52")]


def test_price_change_with_both_tokens_gives_one_delta_per_entry_with_the_stated_best_prices() -> None:
    frame = sample("crates_test_data/ws_quotes.json", event_type="price_change")
    events, _ = parse_market(frame)

    assert events == [
        BookDelta(
            token_id="71321045679252212594626385532706912750332728571942532289631379312455583992563",
            side=Side.BUY,
            price=Decimal("0.51"),
            size=Decimal("150.0"),
            best_bid=Decimal("0.51"),
            best_ask=Decimal("0.52"),
            ts_ms=RECV_MS,
        ),
        BookDelta(
            token_id="52114319501245915516055106046884209969926127482827954674443846427813813222426",
            side=Side.SELL,
            price=Decimal("0.49"),
            size=Decimal("100.0"),
            best_bid=Decimal("0.48"),
            best_ask=Decimal("0.49"),
            ts_ms=RECV_MS,
        ),
    ]


def test_captured_price_change_v2() -> None:
    events, _ = parse_market(sample("py_integration_ws/price_change_v2.json"))

    assert [(e.side, e.price, e.size) for e in events] == [
        (Side.BUY, Decimal("0.6"), Decimal("3300")),
        (Side.BUY, Decimal("0.5"), Decimal("3400")),
        (Side.BUY, Decimal("0.7"), Decimal("3400")),
    ]


def test_legacy_single_change_price_change() -> None:
    delta = only(parse_market(sample("py_integration_ws/price_change.json"))[0], BookDelta)

    assert (delta.side, delta.price, delta.size) == (Side.SELL, Decimal("0.514"), Decimal("21574.08"))
    assert delta.token_id.startswith("48331043")


def test_legacy_changes_array_price_change() -> None:
    frame = json.dumps(
        {
            "event_type": "price_change",
            "market": "0xabc",
            "asset_id": "123",
            "changes": [
                {"price": "0.4", "side": "BUY", "size": "0"},
                {"price": "0.6", "side": "SELL", "size": "7"},
            ],
            "hash": "h",
            "timestamp": "1723967931411",
        }
    ).encode()

    events, _ = parse_market(frame)

    assert [(e.token_id, e.side, e.price, e.size) for e in events] == [
        ("123", Side.BUY, Decimal("0.4"), Decimal(0)),
        ("123", Side.SELL, Decimal("0.6"), Decimal(7)),
    ]


def test_last_trade_price_is_a_trade_print_with_the_takers_side() -> None:
    trade = only(parse_market(sample("py_integration_ws/last_trade_price.json"))[0], TradePrint)

    assert (trade.side, trade.price, trade.size) == (Side.SELL, Decimal("0.491"), Decimal("85.36"))


def test_tick_size_change() -> None:
    change = only(parse_market(sample("py_integration_ws/tick_size_change.json"))[0], TickSizeChange)

    assert change.tick_size == Decimal("0.001")


def test_up_down_resolution_and_foreign_ones() -> None:
    events, _ = parse_market(sample("crates_test_data/ws_market_resolved_msg.json", winning_outcome="Up"))
    resolved = only(events, MarketResolved)
    assert resolved.winning_outcome is Outcome.UP
    assert resolved.winning_token_id.startswith("76043073")

    events, parser = parse_market(sample("crates_test_data/ws_market_resolved_msg.json"))  # "Yes"
    assert events == []
    assert parser.ignored == {"resolved_not_up_down": 1}
    assert parser.malformed.total == 0


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("crates_test_data/ws_market_best_bid_ask_msg.json", "best_bid_ask"),
        ("crates_test_data/ws_market_new_market_msg.json", "new_market"),
    ],
)
def test_custom_feature_events_are_understood_and_ignored(relative: str, reason: str) -> None:
    events, parser = parse_market(sample(relative))

    assert events == []
    assert parser.ignored == {reason: 1}
    assert parser.malformed.total == 0


def test_an_array_frame_of_books_gives_one_snapshot_each() -> None:
    first = json.loads((NT / "later_commits/ws_book_snapshot_captured.json").read_text())
    second = json.loads((NT / "py_integration_ws/book.json").read_text())

    events, _ = parse_market(json.dumps([first, second]).encode())

    assert [type(e) for e in events] == [BookSnapshot, BookSnapshot]
    assert [e.bids[0].price for e in events] == [Decimal("0.07"), Decimal("0.511")]


def test_market_frame_timestamps_are_epoch_milliseconds() -> None:
    message = msgspec.json.decode(
        sample("later_commits/ws_book_snapshot_captured.json"), type=wire.BookMessage
    )

    assert wire.parse_timestamp_ms(message.timestamp) == 1_786_604_072_222


# --- RTDS and PolyBolt --------------------------------------------------------------------------------------


def captured_rtds() -> list[bytes]:
    return (SAMPLES / "polyoxide_rtds_captured/rtds_frames_2026-09-05.jsonl").read_bytes().splitlines()


def test_rtds_chainlink_e18_value_is_converted_exactly() -> None:
    parser = RtdsParser()
    ticks = [parser.parse(frame, RECV_MS) for frame in captured_rtds()]

    binance, chainlink, twap_30, twap_60, twap_30_history, binance_history, error = ticks
    assert only(chainlink, PriceTick) == PriceTick(
        source=PriceSource.CHAINLINK,
        price=Decimal("79696948174287960000000") / 10**18,
        source_ts_ms=1_788_600_388_000,
        symbol="btc/usd",
        ts_ms=RECV_MS,
    )
    assert only(twap_60, PriceTick).price == Decimal("79697.575317474428059648")
    assert only(twap_60, PriceTick).source is PriceSource.CHAINLINK_TWAP_60S
    assert only(binance, PriceTick).price == Decimal("79697.73")
    assert only(binance, PriceTick).source is PriceSource.BINANCE
    assert only(binance, PriceTick).symbol == "btc/usdt"
    assert [(t.source_ts_ms, t.price) for t in binance_history] == [
        (1_788_600_269_000, Decimal("79697.73")),
        (1_788_600_270_000, Decimal("79697.73")),
        (1_788_600_271_000, Decimal("79697.73")),
    ]
    assert twap_30 == twap_30_history == error == []
    assert parser.ignored == {"unused_topic": 2}
    assert parser.malformed.counts == {"server_error": 1}


def test_rtds_backfill_gives_one_tick_per_point() -> None:
    parser = RtdsParser()
    ticks = parser.parse(sample("crates_test_data/rtds_crypto_prices_subscribe.json"), RECV_MS)

    assert [(t.source, t.price, t.source_ts_ms) for t in ticks] == [
        (PriceSource.BINANCE, Decimal("61164.12"), 1_780_726_209_000),
        (PriceSource.BINANCE, Decimal("61161.07"), 1_780_726_210_000),
        (PriceSource.BINANCE, Decimal("61150.89"), 1_780_726_211_000),
    ]
    assert {t.ts_ms for t in ticks} == {RECV_MS}


def test_rtds_twap_sixty_and_binance_updates() -> None:
    parser = RtdsParser()

    twap = only(parser.parse(sample("later_commits/rtds_crypto_twap_sixty_update.json"), RECV_MS), PriceTick)
    spot = only(parser.parse(sample("crates_test_data/rtds_crypto_prices_update.json"), RECV_MS), PriceTick)
    equity = parser.parse(sample("crates_test_data/rtds_equity_prices_update.json"), RECV_MS)

    assert (twap.source, twap.price, twap.source_ts_ms) == (
        PriceSource.CHAINLINK_TWAP_60S,
        Decimal("64997.81"),
        1_786_179_814_000,
    )
    assert (spot.source, spot.price, spot.symbol) == (PriceSource.BINANCE, Decimal("61035.86"), "btc/usdt")
    assert equity == []
    assert parser.malformed.total == 0


def test_polybolt_market_quote_snapshot_is_understood_and_ignored() -> None:
    parser = PolyBoltParser()

    assert (
        parser.parse((SAMPLES / "polymarket_ts_sdk/asyncapi-price-polymarket-snapshot.json").read_bytes(), 1)
        == []
    )
    assert parser.ignored == {"market_quote": 1}
    assert parser.malformed.total == 0


# Frames from the official ts-sdk's PolyBolt tests (staging capture of 2026-09-08, `source` added there).
POLYBOLT_PYTH_HISTORY: dict[str, Any] = {
    "v": 1,
    "channel": "price.crypto",
    "seq": 1,
    "ts": 1788886176000,
    "snapshot": True,
    "payload": {
        "data": [
            {"full_accuracy_value": "78803.76173179", "timestamp": 1788886057000, "value": 78803.76173179},
            {"full_accuracy_value": "78801.86287741", "timestamp": 1788886058000, "value": 78801.86287741},
        ],
        "symbol": "btcusd",
        "source": "pyth",
    },
}
POLYBOLT_TWAP_UPDATE: dict[str, Any] = {
    "v": 1,
    "channel": "price.crypto.twap",
    "seq": 3,
    "ts": 1788886177000,
    "payload": {
        "full_accuracy_value": "78803.715261094101516288",
        "symbol": "btcusd",
        "source": "chainlink",
        "timestamp": 1788886177000,
        "value": 78803.7152610941,
        "window_seconds": 60,
    },
}


def test_polybolt_price_history_and_chainlink_twap() -> None:
    parser = PolyBoltParser()

    history = parser.parse(json.dumps(POLYBOLT_PYTH_HISTORY), RECV_MS)
    twap = only(parser.parse(json.dumps(POLYBOLT_TWAP_UPDATE), RECV_MS), PriceTick)

    assert [(t.source, t.symbol, t.price, t.source_ts_ms) for t in history] == [
        (PriceSource.PYTH, "btc/usd", Decimal("78803.76173179"), 1788886057000),
        (PriceSource.PYTH, "btc/usd", Decimal("78801.86287741"), 1788886058000),
    ]
    assert (twap.source, twap.price) == (PriceSource.CHAINLINK_TWAP_60S, Decimal("78803.715261094101516288"))


def test_polybolt_thirty_second_twap_and_acks_are_ignored_errors_are_not() -> None:
    parser = PolyBoltParser()
    thirty = {**POLYBOLT_TWAP_UPDATE, "payload": {**POLYBOLT_TWAP_UPDATE["payload"], "window_seconds": 30}}

    assert parser.parse(json.dumps(thirty), RECV_MS) == []
    assert parser.parse(b'{"op":"subscribed","channel":"price.crypto","rid":"capture"}', RECV_MS) == []
    assert parser.parse(b'{"op":"error","code":"bad_op"}', RECV_MS) == []
    assert parser.ignored == {"twap_window": 1, "ack": 1}
    assert parser.malformed.counts == {"server_error": 1}


@pytest.mark.skipif(
    not RTDS_DAY.is_dir(), reason=f"real data folder {RTDS_DAY} is absent (set BTC_AGENT_SHARED_DATA)"
)
def test_a_real_rtds_session_parses_without_a_malformed_frame_and_only_btc_passes_the_gate() -> None:
    parser = RtdsParser()
    ticks: list[PriceTick] = []
    frames, btc_frames = 0, 0
    for path in sorted(RTDS_DAY.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            envelope = json.loads(line)
            frames += 1
            parsed = parser.parse(line, envelope["timestamp"])
            ticks += parsed
            if envelope["payload"]["symbol"].lower().startswith("btc"):
                btc_frames += 1
                tick = only(parsed, PriceTick)
                if envelope["topic"] == "crypto_prices_chainlink":
                    assert tick.price * 10**18 == int(envelope["payload"]["full_accuracy_value"])
            else:
                assert parsed == []

    assert parser.malformed.total == 0
    assert frames == 10_456
    assert len(ticks) == btc_frames
    assert parser.gate.quarantined == {"symbol": frames - btc_frames}
    by_source = {source: [t for t in ticks if t.source is source] for source in PriceSource}
    assert {t.symbol for t in by_source[PriceSource.CHAINLINK]} == {"btc/usd"}
    assert {t.symbol for t in by_source[PriceSource.BINANCE]} == {"btc/usdt"}
    btc = [t.price for t in by_source[PriceSource.CHAINLINK]]
    assert Decimal(100_000) < min(btc) <= max(btc) < Decimal(120_000)
    assert all(0 <= t.ts_ms - t.source_ts_ms < 5_000 for t in ticks)


# --- user channel --------------------------------------------------------------------------------------------


def user_parser(client_ids: dict[str, str] | None = None, api_key: str = OUR_KEY) -> UserParser:
    return UserParser(api_key=api_key, fee_schedule=CRYPTO_FEES_V2, client_ids=client_ids)


@pytest.mark.parametrize(
    ("relative", "status", "filled", "reason"),
    [
        ("crates_test_data/ws_user_order_placement.json", OrderStatus.LIVE, "0.0", None),
        ("crates_test_data/ws_user_order_update.json", OrderStatus.PARTIALLY_FILLED, "25.0", None),
        ("crates_test_data/ws_user_order_matched.json", OrderStatus.FILLED, "100.0", None),
        ("crates_test_data/ws_user_order_cancellation.json", OrderStatus.CANCELED, "0.0", "CANCELED"),
        ("crates_test_data/ws_user_order_venue_cancel.json", OrderStatus.CANCELED, "0", "INVALID"),
        (
            "crates_test_data/ws_user_order_fok_killed.json",
            OrderStatus.CANCELED,
            "0",
            "CANCELED_order couldn't be fully filled. FOK orders are fully filled or killed.",
        ),
        ("py_integration_ws/order_placement.json", OrderStatus.LIVE, "0", None),
        ("py_integration_ws/order_cancel.json", OrderStatus.CANCELED, "5", "CANCELED"),
    ],
)
def test_order_events_map_onto_our_statuses(
    relative: str, status: OrderStatus, filled: str, reason: str | None
) -> None:
    venue_id = json.loads((NT / relative).read_text())["id"]
    parser = user_parser({venue_id: "ours-1"})

    update = only(parser.parse(sample(relative, event_type="order"), RECV_MS), OrderUpdate)

    assert update == OrderUpdate(
        order_id="ours-1",
        status=status,
        filled_size=Decimal(filled),
        venue_order_id=venue_id,
        reason=reason,
        ts_ms=RECV_MS,
    )


def test_an_order_we_do_not_know_keeps_the_venue_id() -> None:
    update = only(user_parser().parse(sample("py_integration_ws/order_placement.json"), RECV_MS), OrderUpdate)

    assert (
        update.order_id
        == update.venue_order_id
        == ("0x0f76f4dc6eaf3332f4100f2e8a0b4a927351dd64646b7bb12f37df775c657a78")
    )


def test_our_taker_trade_is_a_fill_paying_the_taker_fee() -> None:
    frame = json.loads((NT / "py_integration_ws/user_trade2.json").read_text())
    parser = user_parser({frame["taker_order_id"]: "ours-7"})

    fill = only(parser.parse(json.dumps(frame), RECV_MS), Fill)

    assert fill == Fill(
        order_id="ours-7",
        trade_id="f50e8ab2-652d-4dc8-9c82-8e46197fe98d",
        token_id=frame["asset_id"],
        side=Side.BUY,
        price=Decimal("0.52"),
        size=Decimal(5),
        fee=fee_for(Decimal(5), Decimal("0.52"), CRYPTO_FEES_V2, is_taker=True),
        liquidity=Liquidity.TAKER,
        status=TradeStatus.MATCHED,
        ts_ms=RECV_MS,
    )
    assert fill.fee == Decimal("0.08736")


def test_our_maker_order_in_a_trade_is_a_maker_fill_without_fee() -> None:
    """2024 capture: six maker orders, one ours, none stating its side (it is the taker's opposite)."""
    fill = only(user_parser().parse(sample("py_integration_ws/user_trade1.json"), RECV_MS), Fill)

    assert fill.order_id == "0xab679e56242324e15e59cfd488cd0f12e4fd71b153b9bfb57518898b9983145e"
    assert (fill.side, fill.price, fill.size, fill.fee) == (
        Side.SELL,
        Decimal("0.518"),
        Decimal(5),
        Decimal(0),
    )
    assert fill.liquidity is Liquidity.MAKER
    assert fill.status is TradeStatus.MINED


def test_each_of_our_maker_orders_gets_a_fill() -> None:
    parser = user_parser(api_key="a93a3d32-74fa-dd2b-4b67-98bfa6fc5cb5")

    fills = [
        f for f in parser.parse(sample("py_integration_ws/user_trade4.json"), RECV_MS) if isinstance(f, Fill)
    ]

    assert [(f.side, f.price, f.size, f.status) for f in fills] == [
        (Side.BUY, Decimal("0.4"), Decimal(5), TradeStatus.CONFIRMED),
        (Side.BUY, Decimal("0.3"), Decimal(5), TradeStatus.CONFIRMED),
    ]


def test_a_maker_trade_without_our_order_is_malformed() -> None:
    parser = user_parser(api_key="someone-else")

    assert parser.parse(sample("py_integration_ws/user_trade3.json"), RECV_MS) == []
    assert parser.malformed.counts == {"unattributed": 1}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("MATCHED", TradeStatus.MATCHED),
        ("MINED", TradeStatus.MINED),
        ("CONFIRMED", TradeStatus.CONFIRMED),
        ("RETRYING", TradeStatus.RETRYING),
        ("FAILED", TradeStatus.FAILED),
        ("TRADE_STATUS_CONFIRMED", TradeStatus.CONFIRMED),
        ("TRADE_STATUS_MATCHED_NOT_BROADCASTED", TradeStatus.MATCHED),
    ],
)
def test_trade_statuses(status: str, expected: TradeStatus) -> None:
    frame = sample("py_integration_ws/trades.json", event_type="trade", status=status)

    assert only(user_parser().parse(frame, RECV_MS), Fill).status is expected


def test_trade_timestamps_come_as_seconds_milliseconds_and_iso() -> None:
    seconds = msgspec.json.decode(sample("py_integration_ws/user_trade2.json"), type=wire.TradeMessage)
    iso = msgspec.json.decode(sample("crates_test_data/ws_user_trade_msg.json"), type=wire.TradeMessage)

    assert seconds.match_time is not None
    assert seconds.timestamp is not None
    assert iso.match_time is not None
    assert wire.parse_timestamp_ms(seconds.match_time) == 1_725_958_681_000
    assert wire.parse_timestamp_ms(seconds.timestamp) == 1_725_958_682_125
    assert wire.parse_timestamp_ms(iso.match_time) == 1_704_067_200_000


# --- the structs encode frames of the venue's shape ------------------------------------------------------------


def without_nulls(value: Any) -> Any:
    """JSON nulls the structs omit on encoding (they mean the same as a missing key to every reader)."""
    if isinstance(value, dict):
        return {key: without_nulls(child) for key, child in value.items() if child is not None}
    if isinstance(value, list):
        return [without_nulls(child) for child in value]
    return value


@pytest.mark.parametrize(
    ("relative", "frame_type"),
    [
        ("later_commits/ws_book_snapshot_captured.json", wire.MarketFrame),
        ("py_integration_ws/book.json", wire.MarketFrame),
        ("py_integration_ws/price_change_v2.json", wire.MarketFrame),
        ("py_integration_ws/price_change.json", wire.MarketFrame),
        ("py_integration_ws/last_trade_price.json", wire.MarketFrame),
        ("py_integration_ws/tick_size_change.json", wire.MarketFrame),
        ("crates_test_data/ws_market_best_bid_ask_msg.json", wire.MarketFrame),
        ("crates_test_data/ws_market_resolved_msg.json", wire.MarketFrame),
        ("py_integration_ws/order_placement.json", wire.UserFrame),
        ("crates_test_data/ws_user_order_fok_killed.json", wire.UserFrame),
        ("py_integration_ws/user_trade1.json", wire.UserFrame),
        ("py_integration_ws/user_trade4.json", wire.UserFrame),
        ("later_commits/ws_user_trade_full.json", wire.UserFrame),
        ("crates_test_data/rtds_crypto_prices_subscribe.json", wire.RtdsFrame),
        ("later_commits/rtds_crypto_twap_sixty_update.json", wire.RtdsFrame),
    ],
)
def test_decoding_then_encoding_a_sample_gives_it_back(relative: str, frame_type: Any) -> None:
    """Every field the venue sends is modelled under its wire name, so the simulated venue's frames match."""
    original = json.loads((NT / relative).read_text())
    if "trade" in relative and "event_type" not in original:
        original["event_type"] = "trade"

    reencoded = json.loads(wire.encode(msgspec.json.decode(json.dumps(original), type=frame_type)))

    assert reencoded == without_nulls(original)


def test_captured_rtds_and_polybolt_frames_encode_back() -> None:
    frames = [(line, wire.RtdsFrame) for line in captured_rtds()[:6]]
    frames.append(
        (
            (SAMPLES / "polymarket_ts_sdk/asyncapi-price-polymarket-snapshot.json").read_bytes(),
            wire.PolyBoltFrame,
        )
    )
    frames += [(json.dumps(POLYBOLT_PYTH_HISTORY).encode(), wire.PolyBoltFrame)]

    for raw, frame_type in frames:
        assert json.loads(wire.encode(msgspec.json.decode(raw, type=frame_type))) == json.loads(raw)
