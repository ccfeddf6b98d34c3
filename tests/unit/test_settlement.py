from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.events import Outcome
from core.market.settlement import (
    MAX_REPORT_AGE_MS,
    TWAP_CUTOVER,
    BoundaryPrice,
    Position,
    SettlementSource,
    Tick,
    Uncovered,
    boundary_price,
    decide_outcome,
    pnl,
    price_in_effect,
    settle_round,
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
SPOT = SettlementSource.CHAINLINK_SPOT
TWAP = SettlementSource.CHAINLINK_TWAP_60S
OPEN_MS, CLOSE_MS = 1_000_000, 1_300_000


def every_second(start_ms: int, stop_ms: int, price: Decimal | str = "100") -> list[Tick]:
    """A report each second in [start, stop), all at one price: the feed as it usually runs."""
    return [(ts, Decimal(price)) for ts in range(start_ms, stop_ms, 1000)]


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
    # 100 from 0 to 30 s, 200 from 30 s on; a report every 5 s, so the feed covers the minute to 60 s
    ticks = [(ts, Decimal("100") if ts < 30_000 else Decimal("200")) for ts in range(0, 61_000, 5_000)]
    assert settlement_price(ticks, 60_000, SPOT) == Decimal("200")
    assert settlement_price(ticks, 60_000, TWAP) == Decimal("150")


def test_the_report_stamped_at_the_boundary_is_the_one_in_effect() -> None:
    ticks = [
        *every_second(OPEN_MS - 5_000, OPEN_MS),
        (OPEN_MS, Decimal("101")),
        (OPEN_MS + 1_000, Decimal(7)),
    ]
    assert boundary_price(ticks, OPEN_MS, SPOT) == BoundaryPrice(OPEN_MS, Decimal("101"))


def test_a_stale_boundary_is_undecidable_not_carried_forward() -> None:
    # the last report came 11 s before the boundary, the next 5 s after it: the feed had an outage
    ticks = [(OPEN_MS - 11_000, Decimal("100")), (OPEN_MS + 5_000, Decimal("120"))]
    found = boundary_price(ticks, OPEN_MS, SPOT)
    assert found.price is None
    assert found.uncovered is Uncovered.STALE_REPORT
    assert "11 s old" in found.detail
    assert settlement_price(ticks, OPEN_MS, SPOT) is None


def test_a_report_exactly_the_maximum_age_old_still_decides() -> None:
    at_max = [(OPEN_MS - MAX_REPORT_AGE_MS, Decimal("100")), (OPEN_MS + 1_000, Decimal("120"))]
    past_max = [(OPEN_MS - MAX_REPORT_AGE_MS - 1, Decimal("100")), (OPEN_MS + 1_000, Decimal("120"))]
    assert boundary_price(at_max, OPEN_MS, SPOT).price == Decimal("100")
    assert boundary_price(past_max, OPEN_MS, SPOT).uncovered is Uncovered.STALE_REPORT


def test_no_report_at_or_before_the_boundary_is_undecidable() -> None:
    found = boundary_price([(OPEN_MS + 1, Decimal("100"))], OPEN_MS, SPOT)
    assert found.uncovered is Uncovered.NO_REPORT
    assert boundary_price([], OPEN_MS, TWAP).uncovered is Uncovered.NO_REPORT


def test_a_boundary_between_reports_needs_a_report_after_it_within_the_maximum_age() -> None:
    # the report in effect is 1 s old, but nothing came after the boundary: one stamped at the boundary may
    # still be on its way (or lost), and it would be the one the venue settles on
    before = [(OPEN_MS - 1_000, Decimal("100"))]
    assert boundary_price(before, OPEN_MS, SPOT).uncovered is Uncovered.FEED_NOT_PAST
    late = [*before, (OPEN_MS + MAX_REPORT_AGE_MS + 1, Decimal("100"))]
    assert boundary_price(late, OPEN_MS, SPOT).uncovered is Uncovered.FEED_NOT_PAST
    alive = [*before, (OPEN_MS + MAX_REPORT_AGE_MS, Decimal("100"))]
    assert boundary_price(alive, OPEN_MS, SPOT).price == Decimal("100")


def test_a_report_stamped_at_the_boundary_needs_nothing_after_it() -> None:
    assert boundary_price([(OPEN_MS, Decimal("100"))], OPEN_MS, SPOT).price == Decimal("100")


def test_the_venues_own_feed_needs_no_report_after_the_boundary() -> None:
    # the simulated venue knows every report it made: its last one before the close is the one in effect
    assert settlement_price([(CLOSE_MS - 1_000, Decimal("100"))], CLOSE_MS, SPOT) == Decimal("100")


def test_twap_over_a_covered_window_is_decided() -> None:
    ticks = every_second(CLOSE_MS - 70_000, CLOSE_MS + 2_000, "100")
    assert boundary_price(ticks, CLOSE_MS, TWAP).price == Decimal("100")


def test_twap_with_a_gap_longer_than_the_maximum_age_inside_the_window_is_undecidable() -> None:
    hole_start = CLOSE_MS - 30_000
    ticks = [
        *every_second(CLOSE_MS - 70_000, hole_start),
        *every_second(hole_start + MAX_REPORT_AGE_MS + 1_000, CLOSE_MS + 2_000),
    ]
    found = boundary_price(ticks, CLOSE_MS, TWAP)
    assert found.uncovered is Uncovered.TWAP_GAP
    assert twap(ticks, CLOSE_MS) == Decimal("100"), "the arithmetic alone would have answered"


def test_twap_with_a_gap_of_exactly_the_maximum_age_is_decided() -> None:
    hole_start = CLOSE_MS - 30_000
    ticks = [
        *every_second(CLOSE_MS - 70_000, hole_start + 1_000),
        *every_second(hole_start + MAX_REPORT_AGE_MS, CLOSE_MS + 2_000),
    ]
    assert boundary_price(ticks, CLOSE_MS, TWAP).price == Decimal("100")


def test_twap_with_no_report_inside_the_window_is_undecidable() -> None:
    # a report just before the window, then silence until after the close: no ticks in the window
    ticks = [(CLOSE_MS - 61_000, Decimal("100")), (CLOSE_MS + 1_000, Decimal("100"))]
    assert boundary_price(ticks, CLOSE_MS, TWAP).uncovered is Uncovered.TWAP_GAP
    assert settlement_price(ticks, CLOSE_MS, TWAP) is None


def test_twap_whose_last_report_is_too_old_at_the_window_end_is_undecidable() -> None:
    ticks = [*every_second(CLOSE_MS - 70_000, CLOSE_MS - 15_000), (CLOSE_MS + 1_000, Decimal("100"))]
    assert boundary_price(ticks, CLOSE_MS, TWAP).uncovered is Uncovered.TWAP_GAP


def test_twap_needs_a_report_at_or_after_the_window_end() -> None:
    ticks = every_second(CLOSE_MS - 70_000, CLOSE_MS)
    assert boundary_price(ticks, CLOSE_MS, TWAP).uncovered is Uncovered.FEED_NOT_PAST
    assert settlement_price(ticks, CLOSE_MS, TWAP) == Decimal("100")


def test_a_round_on_covered_boundaries_settles_and_a_tie_is_still_up() -> None:
    ticks = [*every_second(OPEN_MS - 2_000, CLOSE_MS + 2_000, "63304.2")]
    settled = settle_round(ticks, OPEN_MS, CLOSE_MS, SPOT)
    assert settled.winner is Outcome.UP
    assert settled.undecidable is None
    assert (settled.strike.price, settled.final.price) == (Decimal("63304.2"), Decimal("63304.2"))


def test_a_round_after_the_feeds_last_report_is_undecidable_not_a_tie() -> None:
    # the old rule carried the last price to both boundaries and called it a tie, so Up
    ticks = every_second(OPEN_MS - 60_000, OPEN_MS)
    settled = settle_round(ticks, OPEN_MS, CLOSE_MS, SPOT)
    assert settled.winner is None
    assert settled.undecidable == (
        "open: feed_not_past (no report within 10 s after it); "
        "close: stale_report (the report in effect is 301 s old)"
    )


def test_a_round_with_the_venues_strike_needs_only_its_close() -> None:
    ticks = every_second(CLOSE_MS - 5_000, CLOSE_MS + 2_000, "99")
    settled = settle_round(ticks, OPEN_MS, CLOSE_MS, SPOT, strike=Decimal("100"))
    assert settled.winner is Outcome.DOWN
    assert settle_round([], OPEN_MS, CLOSE_MS, SPOT, strike=Decimal("100")).winner is None


def test_a_twap_round_settles_on_the_twap_at_both_boundaries() -> None:
    ticks = [
        *every_second(OPEN_MS - 70_000, OPEN_MS + 1_000, "100"),
        *every_second(OPEN_MS + 1_000, CLOSE_MS + 2_000, "99.5"),
    ]
    settled = settle_round(ticks, OPEN_MS, CLOSE_MS, TWAP)
    assert (settled.strike.price, settled.final.price) == (Decimal("100"), Decimal("99.5"))
    assert settled.winner is Outcome.DOWN


def test_a_boundary_price_has_either_a_price_or_a_reason() -> None:
    with pytest.raises(ValueError, match="either a price or"):
        BoundaryPrice(OPEN_MS, None)
    with pytest.raises(ValueError, match="either a price or"):
        BoundaryPrice(OPEN_MS, Decimal(1), Uncovered.STALE_REPORT)


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
