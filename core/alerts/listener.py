"""Alerts from the records a round writes: a sink listener (`TeeSink.listeners`) that raises each alert once
per episode, not once per tick.

- a `stale_feed` trip, or a heartbeat showing a feed stale: `feed_down`, once per feed until a heartbeat
  shows it fresh again (a trip names only the first stale feed, and not every feed trips: heartbeats cover
  the rest);
- an `order_error_burst` trip: `order_failure_burst`; a `settlement_mismatch` trip: `settlement_mismatch`;
  any other trip: `kill_switch_trip`, critical when the trip policy pauses the deployment for a person;
- a risk event of kind `alert` (`official_outcome_missing`): an alert of its reason code;
- a round row with status `missed_activation`: `missed_activation`;
- a heartbeat whose outbox backlog exceeds `alerts.outbox_backlog`: `outbox_backlog`, and again only after
  the backlog fell to half of that.

It runs inside the engine's `put`: cheap (the alerter sends on its own thread) and never raising.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlmodel import SQLModel

from core.alerts.alerter import Alert, Alerter
from core.alerts.codes import AlertCode, Severity
from core.engine.features import FEED_CONNECTIONS
from core.risk.trip_policy import TripScope, is_operator_halt, trip_rule
from core.risk.verdict import ReasonCode
from core.store.models import HeartbeatRecord, RiskEventRecord, RoundRow

log = logging.getLogger(__name__)

TRIP_ALERTS: Mapping[str, AlertCode] = {
    ReasonCode.STALE_FEED.value: AlertCode.FEED_DOWN,
    ReasonCode.ERROR_BURST.value: AlertCode.ORDER_FAILURE_BURST,
    ReasonCode.SETTLEMENT_MISMATCH.value: AlertCode.SETTLEMENT_MISMATCH,
}
"""Trips with an alert code of their own; every other trip is a `kill_switch_trip`."""


def same_outage(feed: str) -> set[str]:
    """The names one outage goes by: a connection (heartbeats name `rtds`) and the data feeds it carries
    (trips name `chainlink`), so the price feed going down is one alert, whichever name tells it first."""
    names = {feed, *FEED_CONNECTIONS.get(feed, ())}
    names |= {connection for connection, carried in FEED_CONNECTIONS.items() if feed in carried}
    return names


class AlertListener:
    """Called with every record of one round (or of one settle step); keeps what an episode needs."""

    def __init__(self, alerter: Alerter, *, source: str = "round") -> None:
        self.alerter = alerter
        self.source = source
        self._feeds_down: set[str] = set()
        self._backlogged = False

    def __call__(self, row: SQLModel) -> None:
        try:
            if isinstance(row, RiskEventRecord):
                self._risk_event(row)
            elif isinstance(row, HeartbeatRecord) and row.component.startswith("round:"):
                self._heartbeat(row)
            elif isinstance(row, RoundRow) and row.status == "missed_activation":
                self._missed_activation(row)
        except Exception:
            log.warning("alerts: a %s record could not be read for alerts", type(row).__name__, exc_info=True)

    def _risk_event(self, row: RiskEventRecord) -> None:
        details = {"risk_event_id": row.id, "reason_code": row.reason_code, "mode": row.run_id}
        if row.kind == "alert":
            self._raise(row.reason_code, Severity.WARNING, row.message, row.round_slug, details=details)
        elif row.kind == "trip":
            self._trip(row, details)
        elif row.kind == "reset" and row.reason_code == ReasonCode.STALE_FEED.value:
            self._feeds_down -= same_outage(str(row.details.get("feed")))

    def _trip(self, row: RiskEventRecord, details: dict[str, Any]) -> None:
        code = TRIP_ALERTS.get(row.reason_code, AlertCode.KILL_SWITCH_TRIP)
        if code is AlertCode.FEED_DOWN:
            feed = str(row.details.get("feed", "unknown"))
            ends = trip_rule(row.reason_code).ends
            message = f"{row.message}: the kill switch tripped; trading resumes {ends}"
            self._feed_down(feed, message, row.round_slug, {**details, "feed": feed})
            return
        rule = trip_rule(row.reason_code)
        if is_operator_halt(row.reason_code):
            severity, message = Severity.INFO, f"halted: {row.message}"
        else:
            severity = Severity.CRITICAL if rule.scope is TripScope.DEPLOYMENT else Severity.WARNING
            message = f"{row.reason_code}: {row.message}; trading resumes {rule.ends}"
        details["scope"] = rule.scope.value
        self._raise(code, severity, message, row.round_slug, subject=row.reason_code, details=details)

    def _heartbeat(self, row: HeartbeatRecord) -> None:
        state = row.details
        slug = state.get("round_slug")
        feeds: Mapping[str, Mapping[str, Any]] = state.get("feeds") or {}
        for name, feed in feeds.items():
            if not feed.get("stale"):
                self._feeds_down -= same_outage(name)
                continue
            age = feed.get("last_message_age_s")
            silent = "never delivered" if age is None else f"last message {age:.1f} s ago"
            self._feed_down(
                name,
                f"feed {name} is stale ({silent}, connected: {'yes' if feed.get('connected') else 'no'})",
                slug,
                {"feed": name, "mode": state.get("mode"), "last_message_age_s": age},
            )
        self._outbox(state.get("outbox"), slug, state.get("mode"))

    def _feed_down(self, feed: str, message: str, slug: str | None, details: dict[str, Any]) -> None:
        if feed in self._feeds_down:
            return
        self._feeds_down |= same_outage(feed)
        self._raise(AlertCode.FEED_DOWN, Severity.WARNING, message, slug, subject=feed, details=details)

    def _outbox(self, outbox: Mapping[str, Any] | None, slug: str | None, mode: str | None) -> None:
        if not outbox:
            return
        backlog, limit = int(outbox.get("backlog", 0)), self.alerter.settings.outbox_backlog
        if backlog <= limit // 2:
            self._backlogged = False
        if backlog <= limit or self._backlogged:
            return
        self._backlogged = True
        failing = outbox.get("consecutive_failures") or 0
        why = f"; the store refused the last {failing} writes: {outbox.get('last_error')}" if failing else ""
        self._raise(
            AlertCode.OUTBOX_BACKLOG,
            Severity.WARNING,
            f"{backlog} records wait in the outbox for the store (alert above {limit}){why}; "
            "they are safe in the spool",
            slug,
            details={"backlog": backlog, "limit": limit, "consecutive_failures": failing, "mode": mode},
        )

    def _missed_activation(self, row: RoundRow) -> None:
        self._raise(
            AlertCode.MISSED_ACTIVATION,
            Severity.WARNING,
            "the run could not be warm by the round's activation: it trades nothing this round "
            f"(the round closes at {row.close_at:%H:%M:%S} UTC)",
            row.slug,
            details={"mode": row.mode, "flow_run_id": row.flow_run_id},
        )

    def _raise(
        self,
        code: str,
        severity: Severity,
        message: str,
        slug: str | None,
        *,
        subject: str = "",
        details: Mapping[str, Any],
    ) -> None:
        self.alerter.alert(Alert(code, severity, message, slug, self.source, subject, details))


def alert_on(alerter: Alerter, records: Iterable[SQLModel], *, source: str) -> None:
    """The alerts some records call for, outside a round (the settle step): raised, then the alerter closed,
    so they are delivered or stored as unsent before the caller moves on."""
    listener = AlertListener(alerter, source=source)
    try:
        for record in records:
            listener(record)
    finally:
        alerter.close()
