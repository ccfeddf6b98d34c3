"""The alert codes and severities: stable strings, stored with every alert."""

from __future__ import annotations

from enum import StrEnum


class AlertCode(StrEnum):
    FEED_DOWN = "feed_down"
    """A feed went stale (a `stale_feed` trip, or a heartbeat showing it stale): once per outage of each feed."""
    ORDER_FAILURE_BURST = "order_failure_burst"
    """`order_error_burst` order errors in a row tripped the kill switch."""
    KILL_SWITCH_TRIP = "kill_switch_trip"
    """Any other kill-switch trip (daily loss, fatal venue error, cooldown, an operator's halt, ...)."""
    MISSED_ACTIVATION = "missed_activation"
    """A run could not be warm by its round's activation and traded nothing."""
    SETTLEMENT_MISMATCH = "settlement_mismatch"
    """Our settlement of a round differs from the venue's official outcome."""
    OFFICIAL_OUTCOME_MISSING = "official_outcome_missing"
    """The venue's official outcome never arrived: ours is unconfirmed, or the round stays unsettled."""
    OUTBOX_BACKLOG = "outbox_backlog"
    """A round's outbox holds more unwritten records than `alerts.outbox_backlog` (the store is away or slow)."""


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    """Trading stopped until a person acts (the deployment is paused), or our own arithmetic is in doubt."""
