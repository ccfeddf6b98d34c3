"""Paper, the risk rule, the order port's pre-check and the simulated venue refuse the same orders, for the
same reason, in the venue's words (core.market.venue_rules is the one table they all read)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from core.adapters.polymarket.clob import OrderRequest, check_venue_rules
from core.errors import VenueError
from core.events import OrderType, Outcome, Side
from core.execution.base import ApprovedOrder, ExecutionError, OrderIntent
from core.execution.paper import PaperExecutor
from core.market import venue_rules
from core.market.fees import CRYPTO_FEES_V2
from core.market.venue_rules import Breach
from core.risk.rules import venue_minimums
from core.risk.verdict import ReasonCode, RiskVerdict
from core.sim.matching import MarketSpec, MatchingEngine, SimOrder
from tests.support.risk import TOKENS, Scenario, make_book

D = Decimal
T0 = 1_800_000_000_000
BIDS, ASKS = {"0.10": "100"}, {"0.15": "100"}
"""The Up book every order meets: 0.10 bid, 0.15 ask."""
RISK_CODE = {
    Breach.TICK_GRID: ReasonCode.TICK_GRID,
    Breach.SIZE: ReasonCode.MIN_SIZE,
    Breach.MIN_SIZE: ReasonCode.MIN_SIZE,
    Breach.MIN_NOTIONAL: ReasonCode.MIN_NOTIONAL,
}


@dataclass(frozen=True)
class Case:
    side: Side
    price: str
    size: str
    order_type: OrderType
    refused: Breach | None
    message: str = ""
    tick: str = "0.01"


CASES = {
    "resting buy of five shares": Case(Side.BUY, "0.12", "5", OrderType.GTC, None),
    "resting buy under $1 that does not cross": Case(Side.BUY, "0.05", "5", OrderType.GTC, None),
    "resting buy of three shares": Case(
        Side.BUY,
        "0.12",
        "3",
        OrderType.GTC,
        Breach.MIN_SIZE,
        "order o is invalid. Size (3) lower than the minimum: 5",
    ),
    "resting sell of three shares": Case(
        Side.SELL,
        "0.50",
        "3",
        OrderType.GTD,
        Breach.MIN_SIZE,
        "order o is invalid. Size (3) lower than the minimum: 5",
    ),
    "crossing GTC buy under $1": Case(
        Side.BUY,
        "0.15",
        "5",
        OrderType.GTC,
        Breach.MIN_NOTIONAL,
        "invalid amount for a marketable BUY order ($0.75), min size: $1",
    ),
    "crossing GTC buy of $1.05": Case(Side.BUY, "0.15", "7", OrderType.GTC, None),
    "FAK buy under $1": Case(
        Side.BUY,
        "0.15",
        "6",
        OrderType.FAK,
        Breach.MIN_NOTIONAL,
        "invalid amount for a marketable BUY order ($0.9), min size: $1",
    ),
    "FOK buy of two shares worth $1": Case(Side.BUY, "0.5", "2", OrderType.FOK, None),
    "price off the grid": Case(
        Side.BUY,
        "0.125",
        "10",
        OrderType.GTC,
        Breach.TICK_GRID,
        "order o is invalid. Price (0.125) breaks minimum tick size rule: 0.01",
    ),
    "price of 1": Case(
        Side.BUY,
        "1",
        "10",
        OrderType.FAK,
        Breach.TICK_GRID,
        "order o is invalid. Price (1) breaks minimum tick size rule: 0.01",
    ),
    "price of 0.995 on a 0.01 tick": Case(
        Side.BUY,
        "0.995",
        "10",
        OrderType.GTC,
        Breach.TICK_GRID,
        "order o is invalid. Price (0.995) breaks minimum tick size rule: 0.01",
    ),
    "price not a number": Case(
        Side.BUY,
        "NaN",
        "10",
        OrderType.GTC,
        Breach.TICK_GRID,
        "order o is invalid. Price (NaN) breaks minimum tick size rule: 0.01",
    ),
    "price of 0.995 on a 0.001 tick": Case(Side.BUY, "0.995", "10", OrderType.GTC, None, tick="0.001"),
    "size of zero": Case(
        Side.BUY,
        "0.15",
        "0",
        OrderType.FAK,
        Breach.SIZE,
        "order o is invalid. Size (0) lower than the minimum: 5",
    ),
    "size not a number": Case(
        Side.BUY,
        "0.15",
        "NaN",
        OrderType.FAK,
        Breach.SIZE,
        "order o is invalid. Size (NaN) lower than the minimum: 5",
    ),
}


def intent(case: Case) -> OrderIntent:
    return OrderIntent(
        order_id="o",
        round_slug="btc-updown-15m-1800000000",
        token_id=TOKENS[Outcome.UP],
        outcome=Outcome.UP,
        side=case.side,
        price=D(case.price),
        size=D(case.size),
        order_type=case.order_type,
        decision_id=None,
        strategy="test",
        expires_ms=T0 + 60_000 if case.order_type is OrderType.GTD else None,
    )


def paper_refusal(case: Case) -> tuple[str, str] | None:
    book = make_book(TOKENS[Outcome.UP], list(BIDS.items()), list(ASKS.items()), tick=case.tick)
    executor = PaperExecutor({book.token_id: book}, CRYPTO_FEES_V2, id_prefix="paper")
    verdict = RiskVerdict("v", "o", True, ReasonCode.OK, "ok")
    errors = [
        r for r in executor.submit(ApprovedOrder(intent(case), verdict), T0) if isinstance(r, ExecutionError)
    ]
    return None if not errors else (errors[0].reason, errors[0].message)


def risk_refusal(case: Case) -> tuple[ReasonCode, str] | None:
    scenario = Scenario(intent=intent(case))
    scenario.features.books[Outcome.UP] = make_book(
        TOKENS[Outcome.UP], list(BIDS.items()), list(ASKS.items()), tick=case.tick
    )
    refusal = venue_minimums.check(scenario.intent, scenario.context(), scenario.limits)
    return None if refusal is None else (refusal.reason, refusal.message)


def venue_refusal(case: Case) -> str | None:
    market = MarketSpec("0xcond", TOKENS[Outcome.UP], TOKENS[Outcome.DOWN])
    engine = MatchingEngine(seed=1)
    engine.add_market(market)
    engine.change_tick(market.condition_id, D(case.tick))
    ladder = {(Side.BUY, D(p)): D(s) for p, s in BIDS.items()} | {
        (Side.SELL, D(p)): D(s) for p, s in ASKS.items()
    }
    engine.apply_quotes(market.condition_id, ladder, T0)
    engine.open_account("me", D(1_000))
    expiration = T0 + 60_000 if case.order_type is OrderType.GTD else None
    spec = SimOrder(
        "o",
        "me",
        market.up_token_id,
        case.side,
        D(case.price),
        D(case.size),
        case.order_type,
        False,
        expiration,
    )
    result = engine.submit(spec, T0)
    return None if result.accepted or result.status is not None else result.error


def port_refusal(case: Case) -> tuple[str, str] | None:
    order = intent(case)
    request = OrderRequest(
        order.token_id,
        order.side,
        order.price,
        order.size,
        order.order_type,
        tick_size=D(case.tick),
        crosses=venue_rules.crosses(order.side, order.price, best_bid=D(max(BIDS)), best_ask=D(min(ASKS))),
    )
    try:
        check_venue_rules(request, order_id="o")
    except VenueError as exc:
        return exc.reason, exc.message
    return None


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_paper_risk_the_order_port_and_the_venue_refuse_the_same_orders_alike(case: Case) -> None:
    if case.refused is None:
        assert paper_refusal(case) is None
        assert risk_refusal(case) is None
        assert port_refusal(case) is None
        if case.side is Side.BUY:  # the venue wants shares for a SELL: its balance check is not a minimum
            assert venue_refusal(case) is None
        return
    assert paper_refusal(case) == (case.refused.value, case.message)
    assert risk_refusal(case) == (RISK_CODE[case.refused], case.message)
    assert port_refusal(case) == (case.refused.value, case.message)
    assert venue_refusal(case) == case.message
