"""Edge after fees: with p the decision's probability that the order's outcome wins, a BUY's edge is
p - price - fee per share and a SELL's is price - fee per share - p; it must be at least
`min_edge_after_fees`. An order without a probability fails unless `require_fair_probability` is off,
in which case this rule does not judge it."""

from __future__ import annotations

import math
from decimal import Decimal

from core.events import Side
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule, fee_per_share
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders whose edge after the taker fee is below `min_edge_after_fees`."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    probability = ctx.fair_probability
    if probability is None:
        if not limits.require_fair_probability:
            return None
        return Refusal(
            ReasonCode.EDGE_BELOW_MARGIN,
            "the decision carries no fair probability, so its edge cannot be checked",
            {"fair_probability": None},
        )
    if not (math.isfinite(probability) and 0 <= probability <= 1):
        return Refusal(
            ReasonCode.EDGE_BELOW_MARGIN,
            f"fair probability {probability} is not a probability",
            {"fair_probability": str(probability)},
        )
    p = Decimal(probability)
    fee = fee_per_share(intent, ctx)
    edge = p - intent.price - fee if intent.side is Side.BUY else intent.price - fee - p
    if edge >= limits.min_edge_after_fees:
        return None
    return Refusal(
        ReasonCode.EDGE_BELOW_MARGIN,
        f"edge {edge:.4f} after a fee of {fee:.5f}/share is below the margin of {limits.min_edge_after_fees}",
        {
            "fair_probability": probability,
            "price": str(intent.price),
            "fee_per_share": str(fee),
            "edge": str(edge),
            "min_edge_after_fees": str(limits.min_edge_after_fees),
        },
    )


RULE = Rule("edge_after_fees", SHORT_DESC, check)
