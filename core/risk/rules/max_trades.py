"""Max trades per round: the number of orders placed this round, whatever became of them."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders once `max_trades_per_round` orders were placed this round."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    placed = ctx.exposure.trades_placed
    if placed < limits.max_trades_per_round:
        return None
    return Refusal(
        ReasonCode.MAX_TRADES,
        f"{placed} orders already placed this round (limit {limits.max_trades_per_round})",
        {"trades_placed": placed, "max_trades_per_round": limits.max_trades_per_round},
    )


RULE = Rule("max_trades_per_round", SHORT_DESC, check)
