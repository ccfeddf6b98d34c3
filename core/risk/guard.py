"""The risk guard: every order intent gets a verdict, and automatic trips engage the kill switch.

`check` runs every rule of `RULES` in their fixed order and the first refusal wins. The guard owns the
account state that trips change; the engine passes `guard.account` in each `RiskContext`. No network, no
store, no clock: time arrives as arguments, and ids come from the engine's deterministic factory, so a
replayed tape gives identical verdicts and events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.execution.base import OrderIntent
from core.risk.context import RiskContext, VenueTerms
from core.risk.limits import RiskLimits
from core.risk.rules import RULES
from core.risk.rules.stale_feed import FEEDS
from core.risk.state import DEFAULT_ROUND_MS, AccountState, KillSource, KillSwitch
from core.risk.verdict import ReasonCode, RiskVerdict

__all__ = ["RiskContext", "RiskEvent", "RiskEventKind", "RiskGuard", "VenueTerms"]

ID_KIND = "risk_event"
"""The kind the guard asks the id factory for; verdicts and trips are both risk_events rows."""


class RiskEventKind(StrEnum):
    TRIP = "trip"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A change of the account's risk state (a trip or a reset), for the engine to record as a risk event."""

    event_id: str
    kind: RiskEventKind
    reason: ReasonCode
    message: str
    ts_ms: int
    details: dict[str, Any] = field(default_factory=dict)


class RiskGuard:
    """Verdicts on orders, plus the account state that settlements, order errors and feeds change."""

    def __init__(
        self,
        limits: RiskLimits,
        *,
        id_factory: Callable[[str], str],
        account: AccountState | None = None,
        round_ms: int = DEFAULT_ROUND_MS,
        trip_feeds: Iterable[str] = FEEDS,
    ) -> None:
        self._limits = limits
        self._next_id = id_factory
        self._account = account if account is not None else AccountState()
        self._round_ms = round_ms
        self._trip_feeds = frozenset(trip_feeds)

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def account(self) -> AccountState:
        return self._account

    def update_limits(self, limits: RiskLimits) -> None:
        """Live limit changes apply from the next check on."""
        self._limits = limits

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskVerdict:
        verdict_id = self._next_id(ID_KIND)
        for rule in RULES:
            refusal = rule.check(intent, ctx, self._limits)
            if refusal is not None:
                details = {**refusal.details, "rule": rule.name}
                return RiskVerdict(
                    verdict_id, intent.order_id, False, refusal.reason, refusal.message, details
                )
        return RiskVerdict(verdict_id, intent.order_id, True, ReasonCode.OK, "approved")

    def record_settlement(self, pnl: Decimal, now_ms: int) -> list[RiskEvent]:
        """A round settled: roll the day, extend or end the loss streak, trip the cooldown or the switch."""
        before = self._account
        rolled = before.rolled(now_ms)
        after = rolled.settled(pnl, now_ms, self._limits, round_ms=self._round_ms)
        self._account = after
        events = []
        if before.kill_switch.engaged and not rolled.kill_switch.engaged:
            events.append(
                self._event(
                    RiskEventKind.RESET,
                    ReasonCode.DAILY_LOSS,
                    "a new UTC day released the daily-loss trip",
                    now_ms,
                )
            )
        if after.cooldown_until_ms != rolled.cooldown_until_ms:
            events.append(
                self._event(
                    RiskEventKind.TRIP,
                    ReasonCode.COOLDOWN,
                    f"{after.loss_streak} losing rounds in a row: "
                    f"cooling down for {self._limits.cooldown_rounds} rounds",
                    now_ms,
                    loss_streak=after.loss_streak,
                    cooldown_until_ms=after.cooldown_until_ms,
                )
            )
        if after.kill_switch.engaged and not rolled.kill_switch.engaged:
            events.append(
                self._event(
                    RiskEventKind.TRIP,
                    ReasonCode.DAILY_LOSS,
                    after.kill_switch.reason,
                    now_ms,
                    daily_pnl=str(after.daily_pnl),
                    max_daily_loss=str(self._limits.max_daily_loss),
                )
            )
        return events

    def record_order_error(self, now_ms: int) -> list[RiskEvent]:
        """A submit or cancel failed; `order_error_burst` failures in a row engage the kill switch."""
        errors = self._account.order_errors_in_row + 1
        self._account = replace(self._account, order_errors_in_row=errors)
        if errors < self._limits.order_error_burst:
            return []
        message = f"{errors} order errors in a row"
        return self._trip(ReasonCode.ERROR_BURST, message, now_ms, errors_in_row=errors)

    def record_order_ok(self) -> None:
        """A submit or cancel went through: the error run is over."""
        if self._account.order_errors_in_row:
            self._account = replace(self._account, order_errors_in_row=0)

    def record_stale(self, feed: str, now_ms: int) -> list[RiskEvent]:
        """A feed orders depend on went stale: engage the kill switch until every such feed recovers."""
        if feed not in self._trip_feeds:
            return []
        self._account = replace(self._account, stale_feeds=self._account.stale_feeds | {feed})
        return self._trip(ReasonCode.STALE_FEED, f"feed {feed} went stale", now_ms, feed=feed)

    def record_fresh(self, feed: str, now_ms: int) -> list[RiskEvent]:
        """A feed recovered; the last one releases a kill switch that staleness engaged, and only that."""
        stale = self._account.stale_feeds - {feed}
        self._account = replace(self._account, stale_feeds=stale)
        if stale or not self._account.kill_switch.is_automatic(ReasonCode.STALE_FEED):
            return []
        self._account = replace(self._account, kill_switch=KillSwitch())
        return [
            self._event(
                RiskEventKind.RESET, ReasonCode.STALE_FEED, f"feed {feed} recovered", now_ms, feed=feed
            )
        ]

    def engage_kill_switch(
        self,
        reason: str,
        source: KillSource = KillSource.MANUAL,
        *,
        now_ms: int,
        code: ReasonCode = ReasonCode.KILL_SWITCH,
    ) -> list[RiskEvent]:
        """Halt. It replaces an automatic trip, so no recovery releases it by itself. `code` says why:
        `kill_switch` for a halt from outside the engine, `venue_fatal` when the venue refused us for good."""
        current = self._account.kill_switch
        if current.engaged and current.source is source and current.code is code:
            return []
        switch = KillSwitch(True, reason, source, code, now_ms)
        self._account = replace(self._account, kill_switch=switch)
        return [self._event(RiskEventKind.TRIP, code, reason, now_ms, source=source.value)]

    def release_kill_switch(self, reason: str, *, now_ms: int) -> list[RiskEvent]:
        """Resume, whatever engaged the switch; the order-error count starts again from zero."""
        current = self._account.kill_switch
        if not current.engaged:
            return []
        self._account = replace(self._account, kill_switch=KillSwitch(), order_errors_in_row=0)
        return [
            self._event(
                RiskEventKind.RESET,
                ReasonCode.KILL_SWITCH,
                reason,
                now_ms,
                released_source=current.source.value if current.source else None,
                released_trip=current.code.value if current.code else None,
            )
        ]

    def _trip(self, code: ReasonCode, reason: str, now_ms: int, **details: Any) -> list[RiskEvent]:
        """Engage the switch automatically, unless it already is (then the first cause stands)."""
        if self._account.kill_switch.engaged:
            return []
        switch = KillSwitch(True, reason, KillSource.AUTOMATIC, code, now_ms)
        self._account = replace(self._account, kill_switch=switch)
        return [self._event(RiskEventKind.TRIP, code, reason, now_ms, **details)]

    def _event(
        self, kind: RiskEventKind, reason: ReasonCode, message: str, now_ms: int, **details: Any
    ) -> RiskEvent:
        return RiskEvent(self._next_id(ID_KIND), kind, reason, message, now_ms, details)
