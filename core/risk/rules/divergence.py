"""Divergence: when Binance and Chainlink disagree by more than `max_divergence_bps`, Chainlink is likely
lagging a fast market and fair values built on it are not to be trusted. Unknown divergence (no Binance
price) passes: Binance is a cross-check, not a feed orders depend on."""

from __future__ import annotations

import math
from decimal import Decimal

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders while Binance and Chainlink differ by more than `max_divergence_bps`."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    divergence = ctx.features.divergence_bps
    if divergence is None:
        return None
    if math.isfinite(divergence) and abs(Decimal(divergence)) <= limits.max_divergence_bps:
        return None
    shown = divergence if math.isfinite(divergence) else str(divergence)
    return Refusal(
        ReasonCode.DIVERGENCE,
        f"Binance/Chainlink divergence {shown} bps exceeds {limits.max_divergence_bps} bps",
        {"divergence_bps": shown, "max_divergence_bps": str(limits.max_divergence_bps)},
    )


RULE = Rule("divergence", SHORT_DESC, check)
