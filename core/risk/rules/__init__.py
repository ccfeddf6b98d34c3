"""The guard's rules in the fixed order it runs them: account halts, the round's timing, the data, the
order's validity on the venue, exposure limits, then the economics of the price and the book."""

from __future__ import annotations

from core.risk.rules import (
    active_window,
    book_depth,
    book_integrity,
    cooldown,
    daily_loss,
    divergence,
    edge_after_fees,
    entry_price_cap,
    error_burst,
    kill_switch,
    late_start,
    market_identity,
    max_notional,
    max_position,
    max_trades,
    stale_feed,
    venue_minimums,
)
from core.risk.rules.base import Check, Refusal, Rule

RULES: tuple[Rule, ...] = (
    kill_switch.RULE,
    error_burst.RULE,
    daily_loss.RULE,
    cooldown.RULE,
    late_start.RULE,
    active_window.RULE,
    market_identity.RULE,
    stale_feed.RULE,
    book_integrity.RULE,
    divergence.RULE,
    venue_minimums.RULE,
    max_trades.RULE,
    max_notional.RULE,
    max_position.RULE,
    entry_price_cap.RULE,
    edge_after_fees.RULE,
    book_depth.RULE,
)

__all__ = ["RULES", "Check", "Refusal", "Rule"]
