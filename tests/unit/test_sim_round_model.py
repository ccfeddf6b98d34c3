from decimal import Decimal

import pytest

from core.events import Outcome, Side, TradePrint
from core.market.rounds import Round
from core.market.settlement import SettlementSource, decide_outcome, price_in_effect
from core.sim.market_maker import MarketMaker, MarketMakerConfig
from core.sim.matching import EngineReport, MarketSpec, MatchingEngine, SimOrder
from core.sim.prices import ChainlinkFeed, ModelPath
from core.sim.round_model import RoundModel

ROUND = Round(1_800_000_000 - 1_800_000_000 % 900)
MARKET = MarketSpec("0xcond", "up-token", "down-token")


def make_round(
    seed: int, settlement: SettlementSource, engine: MatchingEngine | None = None
) -> tuple[RoundModel, ChainlinkFeed, MatchingEngine]:
    path = ModelPath(
        start_price=Decimal(100_000), start_ms=ROUND.open_ms - 600_000, duration_s=1_600, seed=seed
    )
    feed = ChainlinkFeed(path)
    engine = engine or MatchingEngine(seed=seed)
    model = RoundModel(
        round_=ROUND,
        market=MARKET,
        engine=engine,
        feed=feed,
        settlement=settlement,
        maker=MarketMaker(MarketMakerConfig(takers_per_second=1.0), seed=seed),
    )
    return model, feed, engine


def run(model: RoundModel, seconds: range) -> list[EngineReport]:
    return [model.step(ROUND.open_ms + s * 1000) for s in seconds]


def test_spot_round_strike_is_the_chainlink_price_in_effect_at_the_open() -> None:
    model, feed, _ = make_round(1, SettlementSource.CHAINLINK_SPOT)
    assert model.strike() == feed.report(ROUND.open_ms)
    assert model.strike() == price_in_effect(
        feed.ticks(ROUND.open_ms - 5_000, ROUND.open_ms + 5_000), ROUND.open_ms
    )


def test_twap_round_strike_is_the_60s_twap_at_the_open() -> None:
    model, feed, _ = make_round(1, SettlementSource.CHAINLINK_TWAP_60S)
    assert model.strike() == feed.twap_at(ROUND.open_ms)


@pytest.mark.parametrize("settlement", list(SettlementSource))
def test_outcome_follows_the_settlement_rule_and_is_announced(settlement: SettlementSource) -> None:
    for seed in range(4):
        model, feed, _ = make_round(seed, settlement)
        resolved, _ = model.settle(ROUND.close_ms)
        twap = settlement is SettlementSource.CHAINLINK_TWAP_60S
        final = feed.twap_at(ROUND.close_ms) if twap else feed.report(ROUND.close_ms)
        strike = model.strike()
        assert strike is not None
        assert final is not None
        expected = decide_outcome(strike, final)
        assert (resolved.winning_outcome, model.outcome) == (expected, expected)
        token = MARKET.up_token_id if expected is Outcome.UP else MARKET.down_token_id
        assert resolved.winning_token_id == token


def test_round_cannot_settle_before_its_close() -> None:
    model, _, _ = make_round(1, SettlementSource.CHAINLINK_SPOT)
    with pytest.raises(ValueError, match="closes"):
        model.settle(ROUND.close_ms - 1)


def test_fair_value_is_one_half_before_the_open_and_tracks_the_price_after() -> None:
    model, feed, _ = make_round(2, SettlementSource.CHAINLINK_SPOT)
    assert model.fair_up(ROUND.open_ms - 30_000) == 0.5
    strike = model.strike()
    assert strike is not None
    for s in (100, 400, 850):
        now = ROUND.open_ms + s * 1000
        above = feed.spot_at(now) >= strike
        assert (model.fair_up(now) > 0.5) == above


def test_the_market_quotes_around_fair_value_and_trades() -> None:
    model, _, engine = make_round(3, SettlementSource.CHAINLINK_TWAP_60S)
    reports = run(model, range(0, 120))
    now = ROUND.open_ms + 119_000
    book = engine.book_snapshot(MARKET.up_token_id, now)
    mid = (book.bids[0].price + book.asks[0].price) / 2
    assert abs(float(mid) - model.fair_up(now)) < 0.05
    assert any(isinstance(e, TradePrint) for r in reports for e in r.market_events)


def test_the_same_seed_gives_the_same_round() -> None:
    first, _, _ = make_round(4, SettlementSource.CHAINLINK_TWAP_60S)
    second, _, _ = make_round(4, SettlementSource.CHAINLINK_TWAP_60S)
    assert run(first, range(-10, 60, 3)) == run(second, range(-10, 60, 3))


def test_the_market_maker_pulls_its_quotes_at_the_close_and_winners_are_paid() -> None:
    model, _, engine = make_round(5, SettlementSource.CHAINLINK_SPOT)
    engine.open_account("me", Decimal(100))
    run(model, range(0, 10))
    now = ROUND.open_ms + 10_000
    ask = engine.book_snapshot(MARKET.up_token_id, now).asks[0].price
    engine.submit(SimOrder("o1", "me", MARKET.up_token_id, Side.BUY, ask, Decimal(10)), now)
    cash, shares = engine.collateral("me"), engine.position("me", MARKET.up_token_id)
    assert shares > 0
    model.step(ROUND.close_ms)
    assert engine.book_snapshot(MARKET.up_token_id, ROUND.close_ms).asks == ()
    resolved, _ = model.settle(ROUND.close_ms)
    payout = shares if resolved.winning_outcome is Outcome.UP else Decimal(0)
    assert engine.collateral("me") == cash + payout
