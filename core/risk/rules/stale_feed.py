"""Stale feed: every order depends on the market feed (the book) and on Chainlink (the settlement price).
A feed is stale when the feature state says so, when it never delivered, or when its last data is older
than `stale_feed_seconds` at the instant of the check."""

from __future__ import annotations

from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

FEEDS = ("market", "chainlink")
SHORT_DESC = "Refuses orders while the market or Chainlink feed is stale (older than `stale_feed_seconds`)."


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    features = ctx.features
    # Ages run to the features' own instant; if the check happens later, the feeds are older by as much.
    lag_s = max(ctx.now_ms - features.now_ms, 0) / 1000
    ages = {feed: None if (age := features.feed_age_s(feed)) is None else age + lag_s for feed in FEEDS}
    stale = [
        feed
        for feed, age in ages.items()
        if age is None or age > limits.stale_feed_seconds or features.feed_stale(feed)
    ]
    if not stale:
        return None
    return Refusal(
        ReasonCode.STALE_FEED,
        f"stale feed: {', '.join(stale)}",
        {"stale": stale, "ages_s": ages, "stale_feed_seconds": limits.stale_feed_seconds},
    )


RULE = Rule("stale_feed", SHORT_DESC, check)
