"""What a rule is: a name, a one-line description, and a check that passes (None) or refuses with a reason.

Rules are pure: they read the order, the context and the limits, and nothing else. Details are JSON-safe
(Decimals as strings) because they are stored with the risk event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.events import Side
from core.execution.base import OrderIntent
from core.money import ONE, ZERO
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.verdict import ReasonCode


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: ReasonCode
    message: str
    details: dict[str, Any] = field(default_factory=dict)


Check = Callable[[OrderIntent, RiskContext, RiskLimits], Refusal | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    short_desc: str
    check: Check


def fee_per_share(intent: OrderIntent, ctx: RiskContext) -> Decimal:
    """The fee per share this order may pay: the taker fee, unless it is post-only on a taker-only
    schedule. Exact (not floored), so never below what the venue charges."""
    fees = ctx.venue.fees
    if intent.post_only and fees.taker_only:
        return ZERO
    p = intent.price
    return max(fees.rate * (p * (ONE - p)) ** fees.exponent, ZERO)


def buy_cost(intent: OrderIntent, ctx: RiskContext) -> Decimal:
    """Collateral the order may consume: notional plus fee for a BUY, nothing for a SELL."""
    if intent.side is not Side.BUY:
        return ZERO
    return intent.size * (intent.price + fee_per_share(intent, ctx))
