"""Kill switch: while it is engaged, by an operator or by an automatic trip, no order goes out."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses every order while the kill switch is engaged (manual halt or automatic trip)."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    switch = ctx.account.kill_switch
    if not switch.engaged:
        return None
    source = switch.source.value if switch.source else "manual"
    return Refusal(
        ReasonCode.KILL_SWITCH,
        f"kill switch engaged ({source}): {switch.reason or 'no reason given'}",
        {
            "source": source,
            "trip": switch.code.value if switch.code else None,
            "since_ms": switch.since_ms,
        },
    )


RULE = Rule("kill_switch", SHORT_DESC, check)
