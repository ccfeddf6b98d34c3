"""Venue minimums, checked here so the venue never has to reject (core.market.venue_rules, the same rules
the paper executor, the order port and the simulated venue apply): the price is on the live book's tick
grid inside [tick, 1 - tick]; a GTC/GTD order has at least the market's minimum size (5 shares); a
marketable BUY (FOK/FAK, or a GTC/GTD crossing the book) is worth at least $1."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.market import venue_rules
from core.market.venue_rules import Breach, VenueMinimums
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = (
    "Refuses orders off the tick grid, resting orders under 5 shares and marketable BUYs under $1 "
    "(a crossing GTC/GTD is marketable)."
)

_CODES = {
    Breach.TICK_GRID: ReasonCode.TICK_GRID,
    Breach.SIZE: ReasonCode.MIN_SIZE,
    Breach.MIN_SIZE: ReasonCode.MIN_SIZE,
    Breach.MIN_NOTIONAL: ReasonCode.MIN_NOTIONAL,
}


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    book = ctx.features.book(intent.outcome)
    terms = intent.terms(
        crosses=venue_rules.crosses(intent.side, intent.price, best_bid=book.best_bid, best_ask=book.best_ask)
    )
    minimums = VenueMinimums(ctx.venue.min_order_size, ctx.venue.min_marketable_buy_notional)
    breach = venue_rules.check(terms, book.tick, minimums)
    if breach is None:
        return None
    return Refusal(_CODES[breach.breach], breach.message, dict(breach.details))


RULE = Rule("venue_minimums", SHORT_DESC, check)
