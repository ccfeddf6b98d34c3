"""Venue minimums, checked here so the venue never has to reject: the price is on the book's tick grid
inside [tick, 1 - tick]; a resting order has at least the market's minimum size (5 shares); a marketable
BUY is worth at least the minimum notional ($1). A marketable SELL has no minimum besides a positive size."""

from __future__ import annotations

from core.events import Side
from core.execution.base import OrderIntent
from core.money import ONE
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders off the tick grid, resting orders under 5 shares and marketable BUYs under $1."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    tick = ctx.features.book(intent.outcome).tick
    price, size, venue = intent.price, intent.size, ctx.venue
    if not tick <= price <= ONE - tick or price % tick != 0:
        return Refusal(
            ReasonCode.TICK_GRID,
            f"price {price} is not on the {tick} grid within [{tick}, {ONE - tick}]",
            {"price": str(price), "tick": str(tick)},
        )
    if size <= 0:
        return Refusal(ReasonCode.MIN_SIZE, f"size {size} is not positive", {"size": str(size)})
    if not intent.marketable and size < venue.min_order_size:
        return Refusal(
            ReasonCode.MIN_SIZE,
            f"resting order of {size} shares is under the venue minimum of {venue.min_order_size}",
            {"size": str(size), "min_order_size": str(venue.min_order_size)},
        )
    notional = size * price
    if intent.marketable and intent.side is Side.BUY and notional < venue.min_marketable_buy_notional:
        return Refusal(
            ReasonCode.MIN_NOTIONAL,
            f"marketable BUY worth {notional} is under the venue minimum of "
            f"{venue.min_marketable_buy_notional}",
            {"notional": str(notional), "min_notional": str(venue.min_marketable_buy_notional)},
        )
    return None


RULE = Rule("venue_minimums", SHORT_DESC, check)
