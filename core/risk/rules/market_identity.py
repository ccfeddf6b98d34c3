"""Market identity: the order must be for this round and carry the token id of the outcome it names;
anything else is an engine bug that would buy the wrong token."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = "Refuses orders for another round, or whose token id is not the named outcome's."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    features = ctx.features
    expected = features.token_id(intent.outcome)
    if intent.round_slug == features.round_slug and intent.token_id == expected:
        return None
    return Refusal(
        ReasonCode.ORDER_MISMATCH,
        f"order for {intent.round_slug}/{intent.token_id} does not match {intent.outcome.value} of "
        f"{features.round_slug} ({expected})",
        {
            "round_slug": intent.round_slug,
            "token_id": intent.token_id,
            "expected_round_slug": features.round_slug,
            "expected_token_id": expected,
        },
    )


RULE = Rule("market_identity", SHORT_DESC, check)
