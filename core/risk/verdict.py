"""The risk guard's answers: a verdict per order with a reason code, and the approval an executor demands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReasonCode(StrEnum):
    """Why an order was refused (or `OK`); stable strings, stored with every risk event."""

    OK = "ok"
    KILL_SWITCH = "kill_switch"
    COOLDOWN = "cooldown"
    DAILY_LOSS = "daily_loss"
    MAX_POSITION = "max_position"
    MAX_NOTIONAL = "max_notional"
    MAX_TRADES = "max_trades_per_round"
    STALE_FEED = "stale_feed"
    BOOK_UNSYNCED = "book_unsynced"
    BOOK_CROSSED = "book_crossed"
    LATE_START = "late_start"
    OUTSIDE_WINDOW = "outside_active_window"
    EDGE_BELOW_MARGIN = "edge_below_margin"
    ENTRY_PRICE_CAP = "entry_price_cap"
    BOOK_DEPTH = "min_book_depth"
    DIVERGENCE = "divergence"
    TICK_GRID = "tick_grid"
    MIN_SIZE = "venue_min_size"
    MIN_NOTIONAL = "venue_min_notional"
    ERROR_BURST = "order_error_burst"
    ORDER_MISMATCH = "order_mismatch"
    VENUE_FATAL = "venue_fatal"
    SETTLEMENT_MISMATCH = "settlement_mismatch"
    KILL_SWITCH_UNREADABLE = "kill_switch_unreadable"


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """One verdict on one order intent; `verdict_id` is what the order row and the executor refer to."""

    verdict_id: str
    order_id: str
    approved: bool
    reason: ReasonCode
    message: str
    details: dict[str, Any] = field(default_factory=dict)
