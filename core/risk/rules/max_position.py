"""Max position: shares of one outcome after this BUY, counting open BUY orders as if they filled.
A SELL only shrinks the position and passes."""

from __future__ import annotations

from core.events import Side
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = (
    "Refuses BUYs that would take one outcome's shares (held + open + order) past `max_position_shares`."
)


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    if intent.side is not Side.BUY:
        return None
    held = ctx.exposure.held(intent.outcome)
    pending = ctx.exposure.pending_buy_shares(intent.outcome)
    after = held + pending + intent.size
    if after <= limits.max_position_shares:
        return None
    return Refusal(
        ReasonCode.MAX_POSITION,
        f"{intent.outcome.value} position would reach {after} shares (limit {limits.max_position_shares})",
        {
            "held": str(held),
            "open_buys": str(pending),
            "after": str(after),
            "max_position_shares": str(limits.max_position_shares),
        },
    )


RULE = Rule("max_position", SHORT_DESC, check)
