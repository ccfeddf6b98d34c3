"""Order-error burst: after N failed submits or cancels in a row, stop sending until someone looks."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders after `order_error_burst` order errors in a row."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    errors = ctx.account.order_errors_in_row
    if errors < limits.order_error_burst:
        return None
    return Refusal(
        ReasonCode.ERROR_BURST,
        f"{errors} order errors in a row (limit {limits.order_error_burst})",
        {"errors_in_row": errors, "limit": limits.order_error_burst},
    )


RULE = Rule("order_error_burst", SHORT_DESC, check)
