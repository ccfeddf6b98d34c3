"""Cooldown: after a streak of losing rounds, sit out the next few rounds."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders during the cooldown that a streak of losing rounds started."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    account = ctx.account
    if not account.in_cooldown(ctx.now_ms):
        return None
    return Refusal(
        ReasonCode.COOLDOWN,
        f"cooling down after {account.loss_streak} losing rounds in a row, "
        f"until {account.cooldown_until_ms} ms",
        {"loss_streak": account.loss_streak, "cooldown_until_ms": account.cooldown_until_ms},
    )


RULE = Rule("cooldown", SHORT_DESC, check)
