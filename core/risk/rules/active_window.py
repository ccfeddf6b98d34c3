"""Active window: orders only between activation and the trading cut-off, [activation, cutoff)."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders before the round's activation or at and after its trading cut-off."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    if ctx.activation_ms <= ctx.now_ms < ctx.cutoff_ms:
        return None
    when = "before activation" if ctx.now_ms < ctx.activation_ms else "after the trading cut-off"
    return Refusal(
        ReasonCode.OUTSIDE_WINDOW,
        f"{when} (active window [{ctx.activation_ms}, {ctx.cutoff_ms}) ms, now {ctx.now_ms})",
        {"now_ms": ctx.now_ms, "activation_ms": ctx.activation_ms, "cutoff_ms": ctx.cutoff_ms},
    )


RULE = Rule("active_window", SHORT_DESC, check)
