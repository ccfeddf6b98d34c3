"""The plausibility gate on underlying prices: what cannot be a BTC price is quarantined and counted,
through the real RTDS parser, so it never reaches the features."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.adapters.polymarket.plausibility import PriceGate
from core.adapters.polymarket.price_parser import RtdsParser
from core.events import PriceSource, PriceTick

NOW_MS = 1_796_000_000_000
BTC = 95_000


def chainlink_frame(value: Decimal | int | str, *, symbol: str = "btc/usd", stamp_ms: int = NOW_MS) -> str:
    e18 = value if isinstance(value, str) else str(int(Decimal(value) * 10**18))
    payload = {"symbol": symbol, "timestamp": stamp_ms, "value": 0.0, "full_accuracy_value": e18}
    return json.dumps(
        {"topic": "crypto_prices_chainlink", "type": "update", "timestamp": stamp_ms, "payload": payload}
    )


def parse(parser: RtdsParser, frame: str) -> list[PriceTick]:
    return list(parser.parse(frame, NOW_MS + 50))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (chainlink_frame("1"), "out_of_range"),  # 1e-18: an E18 integer read as a plain number
        (chainlink_frame(BTC * 1000), "out_of_range"),
        (chainlink_frame(3_100, symbol="eth/usd"), "symbol"),
        (chainlink_frame(BTC, stamp_ms=0), "timestamp"),
        (chainlink_frame(BTC, stamp_ms=NOW_MS + 3_600_000), "timestamp"),
    ],
)
def test_implausible_ticks_are_quarantined_and_counted_not_parsed(frame: str, reason: str) -> None:
    parser = RtdsParser()
    assert len(parse(parser, chainlink_frame(BTC))) == 1

    assert parse(parser, frame) == []
    assert parser.gate.quarantined == {reason: 1}
    assert parser.health()["quarantined"] == {reason: 1}
    assert parser.malformed.total == 0
    assert parser.ignored["quarantined"] == 1


def test_a_jump_is_quarantined_unless_the_next_ticks_confirm_the_new_level() -> None:
    parser = RtdsParser()
    parse(parser, chainlink_frame(BTC))

    assert parse(parser, chainlink_frame(BTC * 2)) == []  # one print at twice the price: a glitch
    assert [t.price for t in parse(parser, chainlink_frame(BTC + 10))] == [BTC + 10]
    assert parser.gate.quarantined == {"jump": 1}

    # The market really moved (or the first price was the glitch): three in a row agree, and the gate follows.
    moved = [parse(parser, chainlink_frame(BTC * 2 + i)) for i in range(4)]
    assert [len(ticks) for ticks in moved] == [0, 0, 1, 1]
    assert parser.gate.quarantined == {"jump": 3}


def test_sources_are_gated_separately() -> None:
    gate = PriceGate("test")
    chainlink = PriceTick(ts_ms=NOW_MS, source=PriceSource.CHAINLINK, price=Decimal(BTC), source_ts_ms=NOW_MS)
    binance = PriceTick(
        ts_ms=NOW_MS,
        source=PriceSource.BINANCE,
        price=Decimal(BTC * 3),
        source_ts_ms=NOW_MS,
        symbol="btc/usdt",
    )

    assert gate.admit(chainlink) is None
    assert gate.admit(binance) is None, "Binance has no level of its own yet"
