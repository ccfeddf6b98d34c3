"""Late start: a run that was not warm by its activation trades nothing in that round."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses every order of a run that missed its activation."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    if not ctx.late_start:
        return None
    return Refusal(
        ReasonCode.LATE_START,
        "the run missed its activation; it does not trade this round",
        {"activation_ms": ctx.activation_ms},
    )


RULE = Rule("late_start", SHORT_DESC, check)
