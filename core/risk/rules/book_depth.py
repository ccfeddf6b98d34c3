"""Minimum book depth: on the side we take (asks for a BUY, bids for a SELL), the size within
`min_book_depth_ticks` of the best price must cover both this order and `min_book_depth_shares`.
Applied to resting orders too: a book that thin is not one to build a position in."""

from __future__ import annotations

from core.events import Side
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders when the side we take holds less than max(order size, `min_book_depth_shares`)."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    taken = Side.SELL if intent.side is Side.BUY else Side.BUY
    depth = ctx.features.book(intent.outcome).depth(taken, limits.min_book_depth_ticks)
    needed = max(intent.size, limits.min_book_depth_shares)
    if depth >= needed:
        return None
    side = "asks" if taken is Side.SELL else "bids"
    return Refusal(
        ReasonCode.BOOK_DEPTH,
        f"{depth} shares on the {side} within {limits.min_book_depth_ticks} ticks, {needed} needed",
        {"depth": str(depth), "needed": str(needed), "within_ticks": limits.min_book_depth_ticks},
    )


RULE = Rule("min_book_depth", SHORT_DESC, check)
