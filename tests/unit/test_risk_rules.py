"""The risk guard's rules, one at a time: each test breaks exactly one thing in a healthy scenario."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from core.events import OrderType, Outcome, Side
from core.risk.context import VenueTerms
from core.risk.rules import RULES
from core.risk.state import KillSource, KillSwitch, OpenOrder, RoundExposure
from core.risk.verdict import ReasonCode
from tests.support.risk import ACTIVATION_MS, CUTOFF_MS, NOW_MS, TODAY, Scenario, buy, make_book


def refused_for(scenario: Scenario) -> ReasonCode:
    verdict = scenario.verdict()
    assert not verdict.approved, "expected a refusal"
    return verdict.reason


def test_every_rule_has_a_unique_name_and_a_one_line_description() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.short_desc.strip()
        assert "\n" not in rule.short_desc


def test_guard_refuses_every_order_while_the_kill_switch_is_engaged() -> None:
    scenario = Scenario()
    switch = KillSwitch(True, "operator halt", KillSource.MANUAL, ReasonCode.KILL_SWITCH, NOW_MS - 1)
    scenario.account = replace(scenario.account, kill_switch=switch)

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.KILL_SWITCH
    assert "operator halt" in verdict.message
    assert verdict.details["source"] == "manual"


def test_guard_refuses_orders_after_an_order_error_burst() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, order_errors_in_row=5)
    assert refused_for(scenario) is ReasonCode.ERROR_BURST


def test_guard_allows_orders_while_errors_stay_under_the_burst() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, order_errors_in_row=4)
    assert scenario.verdict().approved


def test_guard_refuses_orders_once_the_daily_loss_limit_is_reached() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, daily_pnl=Decimal(-50))
    scenario.intent = buy(side=Side.SELL, price=Decimal("0.40"))
    scenario.fair_probability = 0.30
    assert refused_for(scenario) is ReasonCode.DAILY_LOSS


def test_guard_refuses_a_buy_that_could_take_the_day_past_its_loss_limit() -> None:
    scenario = Scenario()
    # 40 lost today, 5 at stake this round (4 spent, 1 resting): a $5.175 order could end the day at -50.175.
    scenario.account = replace(scenario.account, daily_pnl=Decimal(-40))
    order = OpenOrder("resting", Outcome.DOWN, Side.BUY, Decimal("0.10"), Decimal(10))
    scenario.exposure = RoundExposure(notional_spent=Decimal(4), open_orders=(order,))

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.DAILY_LOSS
    assert verdict.details["round_at_stake"] == "5.00"


def test_guard_ignores_losses_of_an_earlier_utc_day() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, day=TODAY - timedelta(days=1), daily_pnl=Decimal(-500))
    assert scenario.verdict().approved


def test_guard_refuses_orders_during_a_cooldown() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, loss_streak=3, cooldown_until_ms=NOW_MS + 1)
    assert refused_for(scenario) is ReasonCode.COOLDOWN


def test_guard_trades_again_once_the_cooldown_is_over() -> None:
    scenario = Scenario()
    scenario.account = replace(scenario.account, loss_streak=3, cooldown_until_ms=NOW_MS)
    assert scenario.verdict().approved


def test_guard_refuses_orders_of_a_run_that_missed_its_activation() -> None:
    scenario = Scenario()
    scenario.late_start = True
    assert refused_for(scenario) is ReasonCode.LATE_START


@pytest.mark.parametrize(
    ("now_ms", "approved"),
    [
        (ACTIVATION_MS - 1, False),
        (ACTIVATION_MS, True),
        (CUTOFF_MS - 1, True),
        (CUTOFF_MS, False),
        (CUTOFF_MS + 60_000, False),
    ],
)
def test_guard_refuses_orders_outside_the_active_window(now_ms: int, approved: bool) -> None:
    scenario = Scenario()
    scenario.now_ms = scenario.features.now_ms = now_ms
    verdict = scenario.verdict()
    assert verdict.approved is approved
    if not approved:
        assert verdict.reason is ReasonCode.OUTSIDE_WINDOW


def test_guard_refuses_an_order_whose_token_is_not_the_named_outcomes() -> None:
    scenario = Scenario()
    scenario.intent = buy(token_id="222")
    assert refused_for(scenario) is ReasonCode.ORDER_MISMATCH


def test_guard_refuses_an_order_for_another_round() -> None:
    scenario = Scenario()
    scenario.intent = buy(round_slug="btc-updown-15m-1778436900")
    assert refused_for(scenario) is ReasonCode.ORDER_MISMATCH


@pytest.mark.parametrize("feed", ["market", "chainlink"])
def test_guard_refuses_order_when_feed_is_stale(feed: str) -> None:
    scenario = Scenario()
    scenario.features.stale.add(feed)

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.STALE_FEED
    assert verdict.details["stale"] == [feed]


def test_guard_refuses_order_when_a_feed_is_older_than_the_stale_limit() -> None:
    scenario = Scenario()
    scenario.features.ages["chainlink"] = 5.5
    assert refused_for(scenario) is ReasonCode.STALE_FEED


def test_guard_refuses_order_when_a_feed_never_delivered() -> None:
    scenario = Scenario()
    scenario.features.ages["market"] = None
    assert refused_for(scenario) is ReasonCode.STALE_FEED


def test_guard_does_not_depend_on_the_binance_feed_being_fresh() -> None:
    scenario = Scenario()
    scenario.features.stale.add("binance")
    scenario.features.ages["binance"] = None
    assert scenario.verdict().approved


@pytest.mark.parametrize("divergence", [50.01, -50.01, float("nan")])
def test_guard_refuses_orders_when_binance_and_chainlink_diverge(divergence: float) -> None:
    scenario = Scenario()
    scenario.features.divergence_bps = divergence
    assert refused_for(scenario) is ReasonCode.DIVERGENCE


@pytest.mark.parametrize("divergence", [None, 50.0, -50.0])
def test_guard_allows_divergence_up_to_the_limit_or_unknown(divergence: float | None) -> None:
    scenario = Scenario()
    scenario.features.divergence_bps = divergence
    assert scenario.verdict().approved


@pytest.mark.parametrize("price", ["0.505", "0", "1", "0.995", "-0.50"])
def test_guard_refuses_a_price_off_the_tick_grid(price: str) -> None:
    scenario = Scenario()
    scenario.intent = buy(price=Decimal(price))
    assert refused_for(scenario) is ReasonCode.TICK_GRID


def test_guard_reads_the_tick_from_the_live_book() -> None:
    scenario = Scenario()
    scenario.features.books[Outcome.UP] = make_book("111", [("0.490", "40")], [("0.501", "60")], tick="0.001")
    scenario.intent = buy(price=Decimal("0.501"))
    assert scenario.verdict().approved


@pytest.mark.parametrize("order_type", [OrderType.GTC, OrderType.GTD])
def test_guard_refuses_a_resting_order_below_five_shares(order_type: OrderType) -> None:
    scenario = Scenario()
    scenario.intent = buy(order_type=order_type, size=Decimal("4.99"))

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.MIN_SIZE
    assert verdict.details["min_order_size"] == "5"


def test_guard_accepts_a_resting_order_of_exactly_five_shares() -> None:
    scenario = Scenario()
    scenario.intent = buy(order_type=OrderType.GTC, size=Decimal(5))
    assert scenario.verdict().approved


def test_guard_refuses_a_marketable_buy_under_one_dollar() -> None:
    scenario = Scenario()
    scenario.intent = buy(size=Decimal("1.98"))  # $0.99
    assert refused_for(scenario) is ReasonCode.MIN_NOTIONAL


def test_guard_accepts_a_marketable_buy_of_exactly_one_dollar_under_five_shares() -> None:
    scenario = Scenario()
    scenario.intent = buy(size=Decimal(2))
    assert scenario.verdict().approved


def test_guard_accepts_a_small_marketable_sell() -> None:
    scenario = Scenario()
    scenario.intent = buy(side=Side.SELL, price=Decimal("0.49"), size=Decimal(1))
    scenario.fair_probability = 0.40
    assert scenario.verdict().approved


def test_guard_refuses_an_order_without_positive_size() -> None:
    scenario = Scenario()
    scenario.intent = buy(size=Decimal(0))
    assert refused_for(scenario) is ReasonCode.MIN_SIZE


def test_guard_uses_the_markets_own_minimum_size() -> None:
    scenario = Scenario()
    scenario.venue = VenueTerms(min_order_size=Decimal(15))
    scenario.intent = buy(order_type=OrderType.GTC)
    assert refused_for(scenario) is ReasonCode.MIN_SIZE


def test_guard_refuses_the_order_after_max_trades_per_round() -> None:
    scenario = Scenario()
    scenario.exposure = RoundExposure(trades_placed=4)
    assert refused_for(scenario) is ReasonCode.MAX_TRADES


def test_guard_refuses_an_order_above_max_notional_per_trade() -> None:
    scenario = Scenario()
    scenario.intent = buy(size=Decimal("50.02"))  # $25.01
    scenario.features.books[Outcome.UP] = make_book("111", [("0.49", "40")], [("0.50", "100")])
    assert refused_for(scenario) is ReasonCode.MAX_NOTIONAL


def test_guard_refuses_a_buy_that_exceeds_max_position_counting_open_orders() -> None:
    scenario = Scenario()
    order = OpenOrder("resting", Outcome.UP, Side.BUY, Decimal("0.45"), Decimal(11))
    scenario.exposure = RoundExposure(shares={Outcome.UP: Decimal(80)}, open_orders=(order,))

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.MAX_POSITION
    assert verdict.details["after"] == "101"


def test_max_position_is_per_outcome() -> None:
    scenario = Scenario()
    scenario.exposure = RoundExposure(shares={Outcome.DOWN: Decimal(100)})
    assert scenario.verdict().approved


def test_guard_lets_a_sell_shrink_a_position_above_the_limit() -> None:
    scenario = Scenario()
    scenario.exposure = RoundExposure(shares={Outcome.UP: Decimal(150)})
    scenario.intent = buy(side=Side.SELL, price=Decimal("0.49"))
    scenario.fair_probability = 0.40
    assert scenario.verdict().approved


def test_guard_refuses_a_buy_above_the_entry_price_cap() -> None:
    scenario = Scenario()
    scenario.features.books[Outcome.UP] = make_book("111", [("0.95", "40")], [("0.96", "60")])
    scenario.intent = buy(price=Decimal("0.96"))
    scenario.fair_probability = 1.0
    assert refused_for(scenario) is ReasonCode.ENTRY_PRICE_CAP


def test_guard_refuses_an_order_whose_edge_after_fees_is_below_margin() -> None:
    scenario = Scenario()
    # 0.535 - 0.50 = 0.035 before the fee; 0.07 x 0.25 = 0.0175 per share leaves 0.0175 < 0.02.
    scenario.fair_probability = 0.535

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.EDGE_BELOW_MARGIN
    assert Decimal(verdict.details["fee_per_share"]) == Decimal("0.0175")


def test_guard_accepts_an_edge_exactly_at_the_margin() -> None:
    scenario = Scenario()
    scenario.fair_probability = 0.5625  # exact in binary: edge 0.5625 - 0.50 - 0.0175 = 0.045
    scenario.limits = scenario.limits.with_overrides({"min_edge_after_fees": "0.045"})
    assert scenario.verdict().approved


def test_guard_checks_a_sells_edge_against_the_probability_it_gives_up() -> None:
    scenario = Scenario()
    scenario.intent = buy(side=Side.SELL, price=Decimal("0.49"))
    scenario.fair_probability = 0.46
    assert refused_for(scenario) is ReasonCode.EDGE_BELOW_MARGIN


def test_post_only_orders_pay_no_fee_in_the_edge_check() -> None:
    scenario = Scenario()
    scenario.intent = buy(order_type=OrderType.GTC, post_only=True, price=Decimal("0.49"))
    scenario.fair_probability = 0.51
    assert scenario.verdict().approved


def test_guard_refuses_an_order_without_fair_probability_by_default() -> None:
    scenario = Scenario()
    scenario.fair_probability = None
    assert refused_for(scenario) is ReasonCode.EDGE_BELOW_MARGIN


def test_guard_skips_the_edge_check_without_probability_when_the_limits_say_so() -> None:
    scenario = Scenario()
    scenario.fair_probability = None
    scenario.limits = scenario.limits.with_overrides({"require_fair_probability": False})
    assert scenario.verdict().approved


@pytest.mark.parametrize("probability", [float("nan"), 1.5, -0.1])
def test_guard_refuses_a_fair_probability_that_is_not_one(probability: float) -> None:
    scenario = Scenario()
    scenario.fair_probability = probability
    assert refused_for(scenario) is ReasonCode.EDGE_BELOW_MARGIN


def test_guard_refuses_an_order_larger_than_the_book_depth() -> None:
    scenario = Scenario()
    scenario.intent = buy(size=Decimal(45))
    scenario.features.books[Outcome.UP] = make_book("111", [("0.49", "40")], [("0.50", "20"), ("0.53", "20")])

    verdict = scenario.verdict()

    assert verdict.reason is ReasonCode.BOOK_DEPTH
    assert verdict.details["depth"] == "40"
    assert verdict.details["needed"] == "45"


def test_guard_refuses_orders_when_the_book_is_thinner_than_the_minimum_depth() -> None:
    scenario = Scenario()
    # 19 shares within three ticks of the best ask; the 100 at 0.54 are four ticks away.
    scenario.features.books[Outcome.UP] = make_book(
        "111", [("0.49", "40")], [("0.50", "19"), ("0.54", "100")]
    )
    assert refused_for(scenario) is ReasonCode.BOOK_DEPTH


def test_book_depth_of_a_sell_is_counted_on_the_bids() -> None:
    scenario = Scenario()
    scenario.features.books[Outcome.UP] = make_book("111", [("0.49", "5")], [("0.50", "100")])
    scenario.intent = buy(side=Side.SELL, price=Decimal("0.49"))
    scenario.fair_probability = 0.40
    assert refused_for(scenario) is ReasonCode.BOOK_DEPTH


def test_feed_ages_count_up_to_the_instant_of_the_check() -> None:
    scenario = Scenario()
    # The features last moved 4.5 s before the check: Chainlink's 1 s age is really 5.5 s.
    scenario.features.now_ms = NOW_MS - 4_500
    assert refused_for(scenario) is ReasonCode.STALE_FEED
