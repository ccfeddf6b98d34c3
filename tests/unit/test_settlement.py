from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.events import Outcome
from core.market.settlement import (
    TWAP_CUTOVER,
    Position,
    SettlementSource,
    Tick,
    decide_outcome,
    pnl,
    price_in_effect,
    settlement_price,
    source_for,
    twap,
)
from core.money import MoneyError

SPOT_URL = "https://data.chain.link/streams/btc-usd"
TWAP_URL = "https://data.chain.link/streams/btc-usd-twap-60s-streams"
BEFORE_CUTOVER = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)
AFTER_CUTOVER = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

TICKS: list[Tick] = [(1_000, Decimal("100")), (2_000, Decimal("101")), (4_000, Decimal("99"))]


def test_a_tie_settles_up() -> None:
    assert decide_outcome(Decimal("63304.2"), Decimal("63304.2")) is Outcome.UP


def test_a_close_above_the_strike_is_up_and_below_is_down() -> None:
    assert decide_outcome(Decimal("100"), Decimal("100.000000000000000001")) is Outcome.UP
    assert decide_outcome(Decimal("100"), Decimal("99.999999999999999999")) is Outcome.DOWN


def test_decide_outcome_refuses_nan() -> None:
    with pytest.raises(MoneyError, match="settle_price"):
        decide_outcome(Decimal("100"), Decimal("NaN"))


@pytest.mark.parametrize(
    ("at_ms", "price"),
    [
        (999, None),
        (1_000, Decimal("100")),
        (1_999, Decimal("100")),
        (2_000, Decimal("101")),
        (9_999, Decimal("99")),
    ],
)
def test_price_in_effect_is_the_latest_tick_at_or_before(at_ms: int, price: Decimal | None) -> None:
    assert price_in_effect(TICKS, at_ms) == price


def test_price_in_effect_takes_the_last_of_same_time_ticks() -> None:
    corrected: list[Tick] = [(1_000, Decimal("100")), (1_000, Decimal("100.5"))]
    assert price_in_effect(corrected, 1_000) == Decimal("100.5")


def test_price_in_effect_of_no_ticks_is_unknown() -> None:
    assert price_in_effect([], 1_000) is None


@given(
    price=st.decimals(min_value=1, max_value=10**6, places=8, allow_nan=False, allow_infinity=False),
    times=st.lists(st.integers(0, 120_000), min_size=1, max_size=30).map(sorted),
    end_ms=st.integers(60_000, 200_000),
)
def test_twap_of_a_constant_is_the_constant(price: Decimal, times: list[int], end_ms: int) -> None:
    ticks = [(t, price) for t in times]
    expected = price if times[0] <= end_ms - 60_000 else None
    assert twap(ticks, end_ms) == expected


def test_twap_of_a_step_is_the_time_weighted_average() -> None:
    # 100 in effect from before the window until 15 s in, then 200 for the remaining 45 s:
    # (100 x 15 + 200 x 45) / 60 = 175. The tick at the window's end lies outside [start, end).
    ticks: list[Tick] = [
        (30_000, Decimal("100")),
        (55_000, Decimal("200")),
        (100_000, Decimal("1000")),
    ]
    assert twap(ticks, 100_000) == Decimal("175")


def test_twap_weights_several_steps_exactly() -> None:
    # window [0, 10 s): 1 for 2 s, 2 for 3 s, 4 for 5 s -> (2 + 6 + 20) / 10 = 2.8
    ticks: list[Tick] = [(0, Decimal(1)), (2_000, Decimal(2)), (5_000, Decimal(4))]
    assert twap(ticks, 10_000, window_s=10) == Decimal("2.8")


def test_twap_needs_a_tick_at_or_before_the_window_start() -> None:
    assert twap([(40_001, Decimal("100"))], 100_000) is None
    assert twap([(40_000, Decimal("100"))], 100_000) == Decimal("100")


def test_twap_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="window_s"):
        twap(TICKS, 10_000, window_s=0)


def test_settlement_price_uses_the_spot_tick_or_the_twap_by_source() -> None:
    ticks: list[Tick] = [(0, Decimal("100")), (30_000, Decimal("200"))]
    assert settlement_price(ticks, 60_000, SettlementSource.CHAINLINK_SPOT) == Decimal("200")
    assert settlement_price(ticks, 60_000, SettlementSource.CHAINLINK_TWAP_60S) == Decimal("150")


@pytest.mark.parametrize("window_open", [BEFORE_CUTOVER, AFTER_CUTOVER])
def test_source_for_follows_the_real_resolution_source_urls(window_open: datetime) -> None:
    assert source_for(SPOT_URL, window_open) is SettlementSource.CHAINLINK_SPOT
    assert source_for(TWAP_URL, window_open) is SettlementSource.CHAINLINK_TWAP_60S


@pytest.mark.parametrize("missing", [None, ""])
def test_source_for_falls_back_to_the_date_when_the_url_is_missing(missing: str | None) -> None:
    assert source_for(missing, BEFORE_CUTOVER) is SettlementSource.CHAINLINK_SPOT
    assert source_for(missing, TWAP_CUTOVER - timedelta(microseconds=1)) is SettlementSource.CHAINLINK_SPOT
    assert source_for(missing, TWAP_CUTOVER) is SettlementSource.CHAINLINK_TWAP_60S
    assert source_for(missing, AFTER_CUTOVER) is SettlementSource.CHAINLINK_TWAP_60S


def test_source_for_compares_instants_not_wall_clocks() -> None:
    new_york = timezone(timedelta(hours=-4))
    assert (
        source_for(None, datetime(2026, 8, 6, 20, 0, tzinfo=new_york)) is SettlementSource.CHAINLINK_TWAP_60S
    )


def test_source_for_refuses_an_unknown_resolution_source() -> None:
    with pytest.raises(ValueError, match="resolutionSource"):
        source_for("https://data.chain.link/streams/eth-usd", BEFORE_CUTOVER)


@pytest.mark.parametrize("url", [SPOT_URL, None])
def test_source_for_refuses_a_naive_datetime(url: str | None) -> None:
    with pytest.raises(ValueError, match="naive"):
        source_for(url, datetime(2026, 6, 8, 12, 0))


def test_pnl_of_a_winning_position_is_payout_less_cost_and_fees() -> None:
    bought = Position(Outcome.UP, shares=Decimal(100), cost=Decimal(40), fees=Decimal("1.68"))
    assert pnl(bought, Outcome.UP) == Decimal("58.32")


def test_pnl_of_a_losing_position_is_cost_and_fees_lost() -> None:
    bought = Position(Outcome.UP, shares=Decimal(100), cost=Decimal(40), fees=Decimal("1.68"))
    assert pnl(bought, Outcome.DOWN) == Decimal("-41.68")


def test_pnl_of_a_flat_position_that_sold_for_more_than_it_paid_is_the_cash_gain() -> None:
    flat = Position(Outcome.DOWN, shares=Decimal(0), cost=Decimal("-5"), fees=Decimal("0.5"))
    assert pnl(flat, Outcome.UP) == pnl(flat, Outcome.DOWN) == Decimal("4.5")


@pytest.mark.parametrize(
    ("shares", "cost", "fees", "field"),
    [
        (Decimal(-1), Decimal(0), Decimal(0), "shares"),
        (Decimal(1), Decimal("NaN"), Decimal(0), "cost"),
        (Decimal(1), Decimal(0), Decimal("-0.01"), "fees"),
        (Decimal(1), 0.4, Decimal(0), "cost"),
    ],
)
def test_position_refuses_invalid_money(shares: Decimal, cost: object, fees: Decimal, field: str) -> None:
    with pytest.raises(MoneyError, match=field):
        Position(Outcome.UP, shares, cost, fees)  # type: ignore[arg-type]
