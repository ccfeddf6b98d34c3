from decimal import Decimal

import pytest

from core.engine.features import FeatureState
from core.engine.probability import spot_up_probability
from core.events import Outcome, Side
from core.market.fees import fee_per_share
from core.market.settlement import SettlementSource
from core.strategies import STRATEGIES, build_strategies
from core.strategies.base import StrategyDecision
from core.strategies.fair_value import FairValueParams, FairValueStrategy
from core.strategies.mean_reversion import MeanReversionParams, MeanReversionStrategy
from core.strategies.momentum import MomentumStrategy
from tests.support.feature_events import CLOSE_MS, feed, make_state, per_second, quotes

K = 100_000.0
SIGMA = 7e-5
NOW_MS = CLOSE_MS - 120_000


def market(
    prices: list[float],
    *,
    up_ask: str = "0.50",
    down_ask: str = "0.50",
    source: SettlementSource = SettlementSource.CHAINLINK_SPOT,
    now_ms: int = NOW_MS,
    strike: float | None = K,
) -> FeatureState:
    """Chainlink reports once a second ending at `now_ms`, then the books; volatility held at SIGMA."""
    state = make_state(source, strike=strike, volatility_prior=SIGMA, volatility_half_life_s=1e12)
    feed(state, per_second(now_ms - (len(prices) - 1) * 1000, prices))
    return feed(state, quotes(now_ms, up_ask=up_ask, down_ask=down_ask))


def flat_then(move: float, over_s: int, *, base: float = K, history_s: int = 60) -> list[float]:
    """`history_s` seconds at `base`, then a steady log move of `move` over the last `over_s` seconds."""
    return [base] * history_s + [base * (1 + move * (i + 1) / over_s) for i in range(over_s)]


def assert_buys(decision: StrategyDecision | None, outcome: Outcome, price: str) -> StrategyDecision:
    assert decision is not None
    assert (decision.outcome, decision.side, decision.limit_price) == (outcome, Side.BUY, Decimal(price))
    assert decision.size == Decimal(10)
    assert decision.limit_price % Decimal("0.01") == 0
    assert any(char.isdigit() for char in decision.reason)
    return decision


# Fair value.


def test_fair_value_buys_up_when_edge_after_fees_clears_the_margin() -> None:
    state = market([K * 1.001] * 5, up_ask="0.80", down_ask="0.22")
    decision = assert_buys(FairValueStrategy().evaluate(state), Outcome.UP, "0.80")
    expected = spot_up_probability(K * 1.001, K, SIGMA, 120)
    assert decision.fair_probability == pytest.approx(expected, rel=1e-6)
    assert decision.confidence == decision.fair_probability
    assert "edge +0.0" in decision.reason


def test_fair_value_buys_down_when_down_is_the_underpriced_side() -> None:
    state = market([K * 0.9995] * 5, up_ask="0.30", down_ask="0.60")
    decision = assert_buys(FairValueStrategy().evaluate(state), Outcome.DOWN, "0.60")
    assert decision.fair_probability == pytest.approx(1 - spot_up_probability(K * 0.9995, K, SIGMA, 120))


def test_fair_value_stays_out_when_the_fee_eats_the_edge() -> None:
    state = market([K] * 5, up_ask="0.46", down_ask="0.56")
    assert 0.5 - 0.46 >= FairValueParams().margin > 0.5 - 0.46 - fee_per_share(0.46)
    assert FairValueStrategy().evaluate(state) is None


def test_fair_value_stays_out_without_a_strike_or_a_book() -> None:
    assert FairValueStrategy().evaluate(market([K * 1.001] * 5, up_ask="0.50", strike=None)) is None
    state = make_state(strike=K)
    feed(state, per_second(NOW_MS, [K * 1.001]))
    assert FairValueStrategy().evaluate(state) is None


def test_fair_value_prices_a_twap_round_from_the_part_of_the_final_minute_already_averaged() -> None:
    now_ms = CLOSE_MS - 10_000
    prices = [K * 1.002] * 50 + [K * 0.9998]
    state = market(
        prices, up_ask="0.90", down_ask="0.15", source=SettlementSource.CHAINLINK_TWAP_60S, now_ms=now_ms
    )
    decision = assert_buys(FairValueStrategy().evaluate(state), Outcome.UP, "0.90")
    assert decision.fair_probability == 0.99, "spot is below the strike, but most of the average is far above"
    assert "chainlink_twap_60s" in decision.reason


def test_fair_value_grows_more_confident_with_a_smaller_volatility_scale() -> None:
    state = market([K * 1.0005] * 5, up_ask="0.60", down_ask="0.42")
    plain = assert_buys(FairValueStrategy().evaluate(state), Outcome.UP, "0.60")
    scaled = assert_buys(
        FairValueStrategy(FairValueParams(volatility_scale=0.8)).evaluate(state), Outcome.UP, "0.60"
    )
    assert scaled.fair_probability == pytest.approx(spot_up_probability(K * 1.0005, K, 0.8 * SIGMA, 120))
    assert plain.fair_probability is not None
    assert scaled.fair_probability is not None
    assert scaled.fair_probability > plain.fair_probability


# Momentum.


def test_momentum_buys_the_side_a_strong_rise_favours() -> None:
    state = market(flat_then(0.001, 30), up_ask="0.75", down_ask="0.27")
    decision = assert_buys(MomentumStrategy().evaluate(state), Outcome.UP, "0.75")
    assert decision.fair_probability is not None
    assert decision.fair_probability > spot_up_probability(K * 1.001, K, SIGMA, 120)
    assert "30 s return +0.00100 (+2.6 sigma)" in decision.reason


def test_momentum_buys_down_after_a_strong_fall() -> None:
    state = market(flat_then(-0.001, 30), up_ask="0.30", down_ask="0.70")
    assert_buys(MomentumStrategy().evaluate(state), Outcome.DOWN, "0.70")


def test_momentum_stays_out_when_the_price_already_reflects_the_move() -> None:
    prices = flat_then(0.001, 30)
    assert MomentumStrategy().evaluate(market(prices, up_ask="0.85", down_ask="0.17")) is None
    below_strike = flat_then(0.001, 30, base=K * 0.998)
    assert MomentumStrategy().evaluate(market(below_strike, up_ask="0.30", down_ask="0.72")) is None
    assert MomentumStrategy().evaluate(market(below_strike, up_ask="0.15", down_ask="0.87")) is not None


def test_momentum_stays_out_after_an_ordinary_move() -> None:
    assert MomentumStrategy().evaluate(market(flat_then(0.0002, 30), up_ask="0.40", down_ask="0.62")) is None


# Mean reversion.


def test_mean_reversion_fades_a_spike_the_book_overreacted_to() -> None:
    state = market(flat_then(0.001, 10), up_ask="0.97", down_ask="0.05")
    decision = assert_buys(MeanReversionStrategy().evaluate(state), Outcome.DOWN, "0.05")
    fair_down = 1 - spot_up_probability(K * 1.001, K, SIGMA, 120)
    assert decision.fair_probability is not None
    assert decision.fair_probability > fair_down > 0.05
    assert "10 s return +0.00100 (+4.5 sigma)" in decision.reason


def test_mean_reversion_stays_out_when_the_book_did_not_overreact() -> None:
    state = market(flat_then(0.001, 10), up_ask="0.89", down_ask="0.12")
    assert MeanReversionStrategy().evaluate(state) is None


def test_mean_reversion_stays_out_after_an_ordinary_move() -> None:
    state = market(flat_then(0.0003, 10), up_ask="0.97", down_ask="0.05")
    assert MeanReversionStrategy().evaluate(state) is None


def test_mean_reversion_fades_a_crash_by_buying_up() -> None:
    state = market(flat_then(-0.001, 10), up_ask="0.05", down_ask="0.97")
    assert_buys(MeanReversionStrategy(MeanReversionParams(reversion=0.6)).evaluate(state), Outcome.UP, "0.05")


# Registry.


def test_registry_builds_the_named_strategies_in_order_with_their_parameters() -> None:
    strategies = build_strategies(["momentum", "fair_value"], {"fair_value": {"margin": "0.05", "size": 3}})
    assert [strategy.name for strategy in strategies] == ["momentum", "fair_value"]
    fair_value = strategies[1]
    assert isinstance(fair_value, FairValueStrategy)
    assert fair_value.params == FairValueParams(margin=0.05, size=Decimal(3))
    assert set(STRATEGIES) == {"fair_value", "momentum", "mean_reversion"}


def test_registry_refuses_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match=r"unknown strategy 'arbitrage'; known: fair_value, mean_reversion"):
        build_strategies(["fair_value", "arbitrage"])


def test_registry_refuses_an_unknown_parameter() -> None:
    with pytest.raises(ValueError, match=r"'momentum' has no parameter lookback; it has lookback_s"):
        build_strategies(["momentum"], {"momentum": {"lookback": 30}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"margin": "wide"}, r"margin='wide' is not a valid float"),
        ({"size": True}, r"size=True is not a valid Decimal"),
        ({"lookback_s": 12.5}, r"lookback_s=12.5 is not a valid int"),
        ({"lookback_s": 45}, r"lookback_s must be one of"),
    ],
)
def test_registry_refuses_a_bad_parameter_value(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_strategies(["mean_reversion"], {"mean_reversion": values})


def test_registry_refuses_parameters_for_a_strategy_not_selected_or_listed_twice() -> None:
    with pytest.raises(ValueError, match="parameters given for 'momentum'"):
        build_strategies(["fair_value"], {"momentum": {"margin": 0.1}})
    with pytest.raises(ValueError, match="listed more than once"):
        build_strategies(["fair_value", "fair_value"])
