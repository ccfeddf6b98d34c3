from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.market.fees import CRYPTO_FEES_V2, FeeSchedule, buy_cost, fee_for, fee_per_share, taker_fee
from core.money import MoneyError

PHASE_1 = FeeSchedule(Decimal("0.25"), 2)
HALF = Decimal("0.5")

schedules = st.sampled_from([CRYPTO_FEES_V2, PHASE_1])
shares = st.decimals(
    min_value=0, max_value=Decimal(1_000_000), places=6, allow_nan=False, allow_infinity=False
)
cent_prices = st.integers(1, 99).map(lambda k: Decimal(k) / 100)
fine_prices = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal("0.9999"), places=4, allow_nan=False, allow_infinity=False
)
prices = st.one_of(cent_prices, fine_prices)


@pytest.mark.parametrize(
    ("schedule", "size", "price", "fee"),
    [
        (CRYPTO_FEES_V2, "100", "0.50", Decimal("1.75")),
        (CRYPTO_FEES_V2, "2.083334", "0.48", Decimal("0.03640")),
        (PHASE_1, "100", "0.5", Decimal("1.5625")),
        (PHASE_1, "100", "0.10", Decimal("0.2025")),
        (PHASE_1, "100", "0.99", Decimal("0.00245")),
    ],
)
def test_fee_matches_the_venues_worked_examples(
    schedule: FeeSchedule, size: str, price: str, fee: Decimal
) -> None:
    assert taker_fee(size, price, schedule) == fee


def test_fee_is_floored_not_rounded_to_five_decimals() -> None:
    # 1 x 0.07 x 0.13 x 0.87 = 0.007917: rounding would give 0.00792, the venue floors to 0.00791.
    fee = taker_fee(1, "0.13", CRYPTO_FEES_V2)
    assert fee == Decimal("0.00791")
    assert fee.as_tuple().exponent == -5


def test_fee_below_the_quantum_floors_to_zero() -> None:
    assert taker_fee("0.01", "0.99", CRYPTO_FEES_V2) == 0


@given(size=shares, p=prices, schedule=schedules)
def test_fee_is_symmetric_in_price_and_its_complement(
    size: Decimal, p: Decimal, schedule: FeeSchedule
) -> None:
    assert taker_fee(size, p, schedule) == taker_fee(size, 1 - p, schedule)


@given(size=shares, p=prices, schedule=schedules)
def test_fee_peaks_at_even_odds(size: Decimal, p: Decimal, schedule: FeeSchedule) -> None:
    assert taker_fee(size, p, schedule) <= taker_fee(size, HALF, schedule)


@given(size=shares, p=prices, schedule=schedules)
def test_fee_is_never_negative(size: Decimal, p: Decimal, schedule: FeeSchedule) -> None:
    assert taker_fee(size, p, schedule) >= 0


@given(a=shares, b=shares, p=prices, schedule=schedules)
def test_fee_is_monotone_in_shares(a: Decimal, b: Decimal, p: Decimal, schedule: FeeSchedule) -> None:
    small, large = sorted((a, b))
    assert taker_fee(small, p, schedule) <= taker_fee(large, p, schedule)


@pytest.mark.parametrize(
    "size", [Decimal("NaN"), "NaN", Decimal("Infinity"), "-1", Decimal("-0.000001"), 1.0]
)
def test_fee_refuses_nan_negative_or_float_shares(size: object) -> None:
    with pytest.raises(MoneyError, match="shares"):
        taker_fee(size, "0.5", CRYPTO_FEES_V2)  # type: ignore[arg-type]


@pytest.mark.parametrize("price", ["0", "1", "-0.1", "1.5", Decimal("NaN"), 0.5])
def test_fee_refuses_a_price_outside_the_open_unit_interval_or_a_float(price: object) -> None:
    with pytest.raises(MoneyError, match="price"):
        taker_fee(100, price, CRYPTO_FEES_V2)  # type: ignore[arg-type]


@given(p=st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: not 0 < d < 1))
def test_fee_refuses_any_price_outside_the_open_unit_interval(p: Decimal) -> None:
    with pytest.raises(MoneyError):
        taker_fee(100, p, CRYPTO_FEES_V2)


@given(size=shares, p=prices)
def test_maker_pays_nothing_on_a_taker_only_schedule(size: Decimal, p: Decimal) -> None:
    assert fee_for(size, p, CRYPTO_FEES_V2, is_taker=False) == 0
    assert fee_for(size, p, CRYPTO_FEES_V2, is_taker=True) == taker_fee(size, p, CRYPTO_FEES_V2)


def test_maker_pays_the_same_formula_when_the_schedule_charges_both_sides() -> None:
    both_sides = FeeSchedule(Decimal("0.07"), 1, taker_only=False)
    assert fee_for(100, "0.5", both_sides, is_taker=False) == Decimal("1.75")


def test_maker_fee_still_validates_its_inputs() -> None:
    with pytest.raises(MoneyError, match="shares"):
        fee_for("NaN", "0.5", CRYPTO_FEES_V2, is_taker=False)


def test_buy_costs_notional_plus_fee_in_collateral() -> None:
    assert buy_cost(100, "0.40", CRYPTO_FEES_V2) == Decimal("41.68")
    assert buy_cost(100, "0.40", CRYPTO_FEES_V2, is_taker=False) == Decimal("40")


@given(size=shares, p=prices, schedule=schedules)
def test_buy_cost_is_exactly_notional_plus_fee(size: Decimal, p: Decimal, schedule: FeeSchedule) -> None:
    assert buy_cost(size, p, schedule) == size * p + taker_fee(size, p, schedule)


def test_from_gamma_parses_the_real_crypto_fee_schedule() -> None:
    real = {"rate": 0.07, "exponent": 1, "takerOnly": True, "rebateRate": 0.2}
    assert FeeSchedule.from_gamma(real) == CRYPTO_FEES_V2


def test_from_gamma_accepts_numbers_sent_as_strings() -> None:
    as_strings = {"rate": "0.07", "exponent": "1", "takerOnly": True, "rebateRate": "0.2"}
    assert FeeSchedule.from_gamma(as_strings) == CRYPTO_FEES_V2


def test_from_gamma_defaults_to_taker_only_without_rebate() -> None:
    assert FeeSchedule.from_gamma({"rate": 0.25, "exponent": 2.0}) == PHASE_1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"exponent": 1}, "feeSchedule.rate"),
        ({"rate": -0.07, "exponent": 1}, "feeSchedule.rate"),
        ({"rate": "seven", "exponent": 1}, "feeSchedule.rate"),
        ({"rate": float("nan"), "exponent": 1}, "feeSchedule.rate"),
        ({"rate": None, "exponent": 1}, "feeSchedule.rate"),
        ({"rate": 0.07, "exponent": 1.5}, "feeSchedule.exponent"),
        ({"rate": 0.07, "exponent": -1}, "feeSchedule.exponent"),
        ({"rate": 0.07, "exponent": True}, "feeSchedule.exponent"),
        ({"rate": 0.07}, "feeSchedule.exponent"),
        ({"rate": 0.07, "exponent": 1, "takerOnly": "true"}, "feeSchedule.takerOnly"),
        ({"rate": 0.07, "exponent": 1, "rebateRate": -0.2}, "feeSchedule.rebateRate"),
    ],
)
def test_from_gamma_rejects_a_bad_schedule_naming_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FeeSchedule.from_gamma(bad)


def test_schedule_refuses_a_float_rate() -> None:
    with pytest.raises(MoneyError, match="rate"):
        FeeSchedule(0.07, 1)  # type: ignore[arg-type]


def test_schedule_refuses_a_rebate_above_one() -> None:
    with pytest.raises(MoneyError, match="rebate_rate"):
        FeeSchedule(Decimal("0.07"), 1, rebate_rate=Decimal("1.5"))


@given(schedule=schedules, price=prices)
def test_fee_per_share_in_float_agrees_with_the_taker_fee_of_a_million_shares(
    schedule: FeeSchedule, price: Decimal
) -> None:
    exact = taker_fee(Decimal(1_000_000), price, schedule) / 1_000_000
    assert fee_per_share(float(price), schedule) == pytest.approx(float(exact), abs=1e-9)
