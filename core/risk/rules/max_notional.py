"""Max notional per trade: price x size of one order, either side."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders whose price x size exceeds `max_notional_per_trade`."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    notional = intent.price * intent.size
    if notional <= limits.max_notional_per_trade:
        return None
    return Refusal(
        ReasonCode.MAX_NOTIONAL,
        f"notional {notional} exceeds the limit of {limits.max_notional_per_trade} per trade",
        {"notional": str(notional), "max_notional_per_trade": str(limits.max_notional_per_trade)},
    )


RULE = Rule("max_notional_per_trade", SHORT_DESC, check)
