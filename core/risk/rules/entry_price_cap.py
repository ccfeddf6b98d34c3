"""Entry-price cap: near 1 a token has little left to win and everything to lose, so BUYs above the cap
are refused. SELLs are exits and pass."""

from __future__ import annotations

from core.events import Side
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses BUYs priced above `entry_price_cap`."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    if intent.side is not Side.BUY or intent.price <= limits.entry_price_cap:
        return None
    return Refusal(
        ReasonCode.ENTRY_PRICE_CAP,
        f"BUY at {intent.price} is above the entry-price cap of {limits.entry_price_cap}",
        {"price": str(intent.price), "entry_price_cap": str(limits.entry_price_cap)},
    )


RULE = Rule("entry_price_cap", SHORT_DESC, check)
