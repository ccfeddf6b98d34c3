"""The risk guard as a whole: the order of its rules, its ids, and that no rule is ever skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from core.events import OrderType, Outcome, Side
from core.execution.base import ApprovedOrder
from core.ids import IdFactory
from core.risk.context import VenueTerms
from core.risk.guard import RiskGuard
from core.risk.rules import RULES
from core.risk.state import KillSource, KillSwitch, OpenOrder, RoundExposure
from core.risk.verdict import ReasonCode, RiskVerdict
from tests.support.risk import ACTIVATION_MS, CUTOFF_MS, NOW_MS, TOKENS, Scenario, buy, make_book


def _kill_switch(s: Scenario) -> None:
    switch = KillSwitch(True, "halt", KillSource.MANUAL, ReasonCode.KILL_SWITCH, 0)
    s.account = replace(s.account, kill_switch=switch)


def _error_burst(s: Scenario) -> None:
    s.account = replace(s.account, order_errors_in_row=5)


def _daily_loss(s: Scenario) -> None:
    s.account = replace(s.account, daily_pnl=Decimal(-60))


def _cooldown(s: Scenario) -> None:
    s.account = replace(s.account, loss_streak=3, cooldown_until_ms=NOW_MS + 1)


def _late_start(s: Scenario) -> None:
    s.late_start = True


def _window(s: Scenario) -> None:
    s.activation_ms = NOW_MS + 1


def _identity(s: Scenario) -> None:
    s.intent = replace(s.intent, round_slug="btc-updown-15m-0")


def _stale(s: Scenario) -> None:
    s.features.stale.add("chainlink")


def _book(s: Scenario) -> None:
    s.features.books[Outcome.DOWN].reset("reconnect")


def _divergence(s: Scenario) -> None:
    s.features.divergence_bps = 80.0


def _venue(s: Scenario) -> None:
    s.venue = VenueTerms(min_marketable_buy_notional=Decimal(1000))


def _trades(s: Scenario) -> None:
    s.exposure = replace(s.exposure, trades_placed=4)


def _notional(s: Scenario) -> None:
    s.limits = s.limits.with_overrides({"max_notional_per_trade": 1})


def _position(s: Scenario) -> None:
    s.exposure = replace(s.exposure, shares={Outcome.UP: Decimal(95)})


def _price_cap(s: Scenario) -> None:
    s.limits = s.limits.with_overrides({"entry_price_cap": "0.40"})


def _edge(s: Scenario) -> None:
    s.fair_probability = 0.5


def _depth(s: Scenario) -> None:
    s.limits = s.limits.with_overrides({"min_book_depth_shares": 1000})


BREAKERS: dict[str, Callable[[Scenario], None]] = {
    "kill_switch": _kill_switch,
    "order_error_burst": _error_burst,
    "daily_loss": _daily_loss,
    "cooldown": _cooldown,
    "late_start": _late_start,
    "active_window": _window,
    "market_identity": _identity,
    "stale_feed": _stale,
    "book_integrity": _book,
    "divergence": _divergence,
    "venue_minimums": _venue,
    "max_trades_per_round": _trades,
    "max_notional_per_trade": _notional,
    "max_position": _position,
    "entry_price_cap": _price_cap,
    "edge_after_fees": _edge,
    "min_book_depth": _depth,
}
"""One way to fail each rule without failing any other, in the guard's order."""


def test_guard_approves_an_order_in_a_healthy_context() -> None:
    scenario = Scenario()

    verdict = scenario.verdict()

    assert verdict.approved
    assert verdict.reason is ReasonCode.OK
    assert verdict.order_id == scenario.intent.order_id
    assert ApprovedOrder(scenario.intent, verdict).verdict is verdict


def test_the_rules_run_in_the_documented_order() -> None:
    assert [rule.name for rule in RULES] == list(BREAKERS)


@pytest.mark.parametrize("name", list(BREAKERS))
def test_each_breaker_fails_its_own_rule_only(name: str) -> None:
    scenario = Scenario()
    BREAKERS[name](scenario)
    intent, ctx = scenario.intent, scenario.context()

    failing = [rule.name for rule in RULES if rule.check(intent, ctx, scenario.limits) is not None]

    assert failing == [name]


@pytest.mark.parametrize("first", range(len(RULES)))
def test_guard_reports_the_first_failing_rule_in_the_fixed_order(first: int) -> None:
    scenario = Scenario()
    for name in list(BREAKERS)[first:]:
        BREAKERS[name](scenario)

    verdict = scenario.verdict()

    assert not verdict.approved
    assert verdict.details["rule"] == RULES[first].name


def test_guard_takes_one_id_per_verdict_from_the_factory_so_replays_match() -> None:
    scenario = Scenario()
    ctx = scenario.context()

    def run() -> list[RiskVerdict]:
        guard = RiskGuard(scenario.limits, id_factory=IdFactory("run-a"))
        return [guard.check(scenario.intent, ctx) for _ in range(3)]

    first, replay = run(), run()

    assert first == replay
    expected = IdFactory("run-a")
    assert [verdict.verdict_id for verdict in first] == [expected("risk_event") for _ in range(3)]


def test_updated_limits_apply_to_the_next_check() -> None:
    scenario = Scenario()
    guard = scenario.guard()
    ctx = scenario.context()
    assert guard.check(scenario.intent, ctx).approved

    guard.update_limits(scenario.limits.with_overrides({"max_trades_per_round": 0}))

    assert guard.check(scenario.intent, ctx).reason is ReasonCode.MAX_TRADES


# --- every rule, every time -------------------------------------------------------------------------

T = TypeVar("T")

cent_prices = st.integers(1, 99).map(lambda k: Decimal(k) / 100)
sizes = st.decimals(min_value=0, max_value=200, places=2, allow_nan=False, allow_infinity=False)
levels = st.lists(st.tuples(st.integers(1, 99), st.integers(0, 80)), max_size=5)


def sometimes(default: T, other: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """Mostly the healthy value, so that approvals are common enough to test."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda keep: st.just(default) if keep else other
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    s = Scenario()
    s.intent = buy(
        outcome=(outcome := draw(st.sampled_from(Outcome))),
        token_id=TOKENS[outcome],
        side=draw(sometimes(Side.BUY, st.sampled_from(Side))),
        price=draw(sometimes(Decimal("0.50"), st.one_of(cent_prices, st.decimals("0", "1", places=3)))),
        size=draw(sometimes(Decimal(10), sizes)),
        order_type=draw(sometimes(OrderType.FAK, st.sampled_from(OrderType))),
        post_only=draw(sometimes(False, st.booleans())),
    )
    if not draw(sometimes(True, st.just(False))):
        bids = sorted({Decimal(p) / 100: Decimal(q) for p, q in draw(levels)}.items())
        asks = sorted({Decimal(p) / 100: Decimal(q) for p, q in draw(levels)}.items())
        s.features.books[outcome] = make_book(
            TOKENS[outcome], [(str(p), str(q)) for p, q in bids], [(str(p), str(q)) for p, q in asks]
        )
    s.features.divergence_bps = draw(sometimes(5.0, st.one_of(st.none(), st.floats(-100, 100))))
    s.features.ages["chainlink"] = draw(sometimes(1.0, st.one_of(st.none(), st.floats(0, 10))))
    if not draw(sometimes(True, st.just(False))):
        s.features.stale.add(draw(st.sampled_from(["market", "chainlink", "binance"])))
    open_orders = tuple(
        OpenOrder(f"open-{i}", draw(st.sampled_from(Outcome)), draw(st.sampled_from(Side)), price, size)
        for i, (price, size) in enumerate(draw(st.lists(st.tuples(cent_prices, sizes), max_size=3)))
    )
    s.exposure = RoundExposure(
        shares={Outcome.UP: draw(sometimes(Decimal(0), sizes)), Outcome.DOWN: draw(sizes)},
        notional_spent=draw(sometimes(Decimal(0), sizes)),
        trades_placed=draw(sometimes(0, st.integers(0, 5))),
        open_orders=open_orders,
    )
    s.account = replace(
        s.account,
        daily_pnl=draw(sometimes(Decimal(0), st.decimals(-80, 40, places=2))),
        order_errors_in_row=draw(sometimes(0, st.integers(0, 6))),
        cooldown_until_ms=draw(sometimes(None, st.sampled_from([NOW_MS - 1, NOW_MS, NOW_MS + 1]))),
    )
    s.fair_probability = draw(sometimes(0.6, st.one_of(st.none(), st.floats(0, 1))))
    s.now_ms = draw(sometimes(NOW_MS, st.integers(ACTIVATION_MS - 2, CUTOFF_MS + 2)))
    s.features.now_ms = draw(sometimes(s.now_ms, st.integers(s.now_ms - 10_000, s.now_ms)))
    s.late_start = draw(sometimes(False, st.just(True)))
    for name in draw(sometimes((), st.lists(st.sampled_from(list(BREAKERS)), max_size=3))):
        event(f"broke {name}")
        BREAKERS[name](s)
    return s


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios())
def test_an_approved_verdict_means_every_rule_passed(scenario: Scenario) -> None:
    intent, ctx = scenario.intent, scenario.context()
    refusals = [(rule, rule.check(intent, ctx, scenario.limits)) for rule in RULES]
    failing = [(rule, refusal) for rule, refusal in refusals if refusal is not None]

    verdict = scenario.verdict()

    event("approved" if verdict.approved else f"refused: {verdict.reason}")
    assert verdict.approved is (not failing)
    if failing:
        rule, refusal = failing[0]
        assert verdict.reason is refusal.reason
        assert verdict.details["rule"] == rule.name
    json.dumps(verdict.details)
