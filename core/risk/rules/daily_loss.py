"""Max loss per day: stop when today's realised loss reached the limit, and refuse a BUY that could take
the day past it if everything at stake this round expired worthless."""

from __future__ import annotations

from core.events import Side
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule, buy_cost
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders once the UTC day's loss reached `max_daily_loss`, or BUYs that could exceed it."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    daily = ctx.account.daily_pnl_on(ctx.now_ms)
    limit = limits.max_daily_loss
    if daily <= -limit:
        return Refusal(
            ReasonCode.DAILY_LOSS,
            f"today's loss {-daily} reached the limit of {limit}",
            {"daily_pnl": str(daily), "max_daily_loss": str(limit)},
        )
    if intent.side is not Side.BUY:
        return None
    exposure = ctx.exposure
    at_stake = exposure.notional_spent + exposure.pending_buy_cost
    cost = buy_cost(intent, ctx)
    worst = daily - at_stake - cost
    if worst >= -limit:
        return None
    return Refusal(
        ReasonCode.DAILY_LOSS,
        f"a worst-case loss of {-worst} today would exceed the limit of {limit}",
        {
            "daily_pnl": str(daily),
            "round_at_stake": str(at_stake),
            "order_cost": str(cost),
            "max_daily_loss": str(limit),
        },
    )


RULE = Rule("daily_loss", SHORT_DESC, check)
