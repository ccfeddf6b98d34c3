import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.market.settlement import SettlementSource
from core.sim.fair_value import (
    DEFAULT_SIGMA,
    P_MAX,
    P_MIN,
    VolatilityEstimator,
    spot_up_probability,
    twap_up_probability,
    up_probability,
)
from core.sim.prices import ModelPath, annual_to_per_second

K = 100_000.0
SIGMA = 7e-5

spots = st.floats(min_value=95_000, max_value=105_000)
taus = st.floats(min_value=0.5, max_value=900)


@given(a=spots, b=spots, tau=taus)
def test_fair_value_rises_with_the_price(a: float, b: float, tau: float) -> None:
    low, high = sorted((a, b))
    assert spot_up_probability(low, K, SIGMA, tau) <= spot_up_probability(high, K, SIGMA, tau)
    assert twap_up_probability(low, K, SIGMA, tau, window_mean=K) <= twap_up_probability(
        high, K, SIGMA, tau, window_mean=K
    )


@given(spot=spots, tau=taus)
def test_fair_value_is_symmetric_about_the_strike(spot: float, tau: float) -> None:
    mirror = K * K / spot
    assert spot_up_probability(spot, K, SIGMA, tau) + spot_up_probability(
        mirror, K, SIGMA, tau
    ) == pytest.approx(1)


@given(spot=st.floats(min_value=1, max_value=1e7), tau=st.floats(min_value=0, max_value=1e5))
def test_fair_value_stays_within_one_and_ninety_nine_cents(spot: float, tau: float) -> None:
    assert P_MIN <= spot_up_probability(spot, K, SIGMA, tau) <= P_MAX


def test_fair_value_at_the_money_is_one_half() -> None:
    assert spot_up_probability(K, K, SIGMA, 300) == pytest.approx(0.5)


def test_fair_value_sharpens_as_the_close_nears() -> None:
    spot = K * 1.0005
    assert spot_up_probability(spot, K, SIGMA, 900) < spot_up_probability(spot, K, SIGMA, 60) < P_MAX
    assert spot_up_probability(spot, K, SIGMA, 0) == P_MAX


def test_at_the_close_a_tie_is_up() -> None:
    assert spot_up_probability(K, K, SIGMA, 0) == P_MAX
    assert spot_up_probability(K - 0.01, K, SIGMA, 0) == P_MIN


def test_twap_before_its_window_is_a_digital_with_less_variance() -> None:
    spot = K * 1.0003
    expected = 0.5 * (1 + math.erf(math.log(spot / K) / (SIGMA * math.sqrt(300 - 40)) / math.sqrt(2)))
    assert twap_up_probability(spot, K, SIGMA, 300) == pytest.approx(expected)
    assert twap_up_probability(spot, K, SIGMA, 300) > spot_up_probability(spot, K, SIGMA, 300)


def test_twap_is_continuous_where_its_window_begins() -> None:
    spot = K * 1.0002
    outside = twap_up_probability(spot, K, SIGMA, 60.0001)
    inside = twap_up_probability(spot, K, SIGMA, 59.9999, window_mean=spot)
    assert inside == pytest.approx(outside, abs=1e-3)


def test_twap_inside_its_window_counts_what_is_already_averaged() -> None:
    high_so_far = K * 1.002
    assert twap_up_probability(K * 0.9995, K, SIGMA, 10, window_mean=high_so_far) == P_MAX
    assert twap_up_probability(K, K, SIGMA, 10, window_mean=K * 0.998) == P_MIN
    assert twap_up_probability(K, K, SIGMA, 0, window_mean=K) == P_MAX


def test_twap_inside_its_window_needs_the_mean_so_far() -> None:
    with pytest.raises(ValueError, match="mean"):
        twap_up_probability(K, K, SIGMA, 30)


def test_up_probability_follows_the_settlement_rule() -> None:
    spot = K * 1.0003
    assert up_probability(SettlementSource.CHAINLINK_SPOT, spot, K, SIGMA, 300) == spot_up_probability(
        spot, K, SIGMA, 300
    )
    assert up_probability(SettlementSource.CHAINLINK_TWAP_60S, spot, K, SIGMA, 300) == twap_up_probability(
        spot, K, SIGMA, 300
    )


def test_volatility_estimate_recovers_the_path_volatility_from_an_hour_of_seconds() -> None:
    path = ModelPath(start_price=Decimal(90_000), start_ms=0, duration_s=7_200, seed=2, annual_vol=0.5)
    estimator = VolatilityEstimator()
    for s in range(7_200):
        estimator.update(s * 1000, float(path.price_at(s * 1000)))
    assert estimator.sigma == pytest.approx(annual_to_per_second(0.5), rel=0.06)


def test_volatility_estimate_uses_the_prior_until_enough_returns() -> None:
    estimator = VolatilityEstimator(min_returns=5)
    for s in range(5):
        estimator.update(s * 1000, 100.0 + s)
    assert estimator.sigma == DEFAULT_SIGMA
    estimator.update(5_000, 105.0)
    assert estimator.sigma != DEFAULT_SIGMA


def test_volatility_estimate_forgets_returns_older_than_its_window() -> None:
    estimator = VolatilityEstimator(window_s=10, min_returns=1)
    estimator.update(0, 100.0)
    estimator.update(1_000, 110.0)
    for s in range(2, 30):
        estimator.update(s * 1000, 110.0)
    assert estimator.sigma == 0.0


def test_volatility_estimate_scales_returns_over_feed_gaps() -> None:
    estimator = VolatilityEstimator(min_returns=1)
    estimator.update(0, 100.0)
    estimator.update(4_000, 100.0 * math.exp(0.002))
    assert estimator.sigma == pytest.approx(0.002 / 2)
