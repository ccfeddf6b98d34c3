"""What the guard knows besides the market: this round's exposure and the account's standing.

Both are immutable values with pure transitions. Settlement arithmetic lives in `AccountState.settled`
alone, and `from_settlements` folds it over stored rows, so the state a run rebuilds at start is exactly the
state the previous run ended with (each round is a fresh run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from core.clock import datetime_to_ms, ms_to_datetime
from core.events import Fill, Outcome, Side
from core.execution.base import OrderIntent
from core.money import ZERO
from core.risk.limits import RiskLimits
from core.risk.verdict import ReasonCode

DEFAULT_ROUND_MS = 900_000
KILL_SWITCH_KEY = "kill_switch"
_EPOCH_DAY = date(1970, 1, 1)


def utc_day(ts_ms: int) -> date:
    return ms_to_datetime(ts_ms).date()


class SettledRound(Protocol):
    """What `from_settlements` reads of a stored settlement (a `core.store.models.SettlementRow`)."""

    @property
    def id(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def pnl(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One of our orders that may still fill."""

    order_id: str
    outcome: Outcome
    side: Side
    price: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class RoundExposure:
    """This round's position: shares held per outcome, net cash paid (buys and fees less sell proceeds),
    orders placed, and orders still open."""

    shares: Mapping[Outcome, Decimal] = field(default_factory=dict)
    notional_spent: Decimal = ZERO
    trades_placed: int = 0
    open_orders: tuple[OpenOrder, ...] = ()

    def held(self, outcome: Outcome) -> Decimal:
        return self.shares.get(outcome, ZERO)

    def pending_buy_shares(self, outcome: Outcome) -> Decimal:
        return sum(
            (o.remaining for o in self.open_orders if o.outcome is outcome and o.side is Side.BUY), ZERO
        )

    @property
    def pending_buy_cost(self) -> Decimal:
        return sum((o.remaining * o.price for o in self.open_orders if o.side is Side.BUY), ZERO)

    def placed(self, intent: OrderIntent) -> RoundExposure:
        """After an approved order was submitted: one more trade, one more open order."""
        order = OpenOrder(intent.order_id, intent.outcome, intent.side, intent.price, intent.size)
        return replace(self, trades_placed=self.trades_placed + 1, open_orders=(*self.open_orders, order))

    def filled(self, fill: Fill, outcome: Outcome) -> RoundExposure:
        """After a fill of one of our orders (also one no longer open, as a late fill can be)."""
        signed = fill.size if fill.side is Side.BUY else -fill.size
        cash = fill.size * fill.price
        spent = self.notional_spent + (cash if fill.side is Side.BUY else -cash) + fill.fee
        reduced = (
            replace(o, remaining=o.remaining - fill.size) if o.order_id == fill.order_id else o
            for o in self.open_orders
        )
        orders = tuple(o for o in reduced if o.remaining > 0)
        shares = {**self.shares, outcome: self.held(outcome) + signed}
        return replace(self, shares=shares, notional_spent=spent, open_orders=orders)

    def closed(self, order_id: str) -> RoundExposure:
        """After an order left the book (filled, canceled, expired, rejected)."""
        return replace(self, open_orders=tuple(o for o in self.open_orders if o.order_id != order_id))


class KillSource(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Engaged or not; `code` says which rule tripped it (KILL_SWITCH when an operator did)."""

    engaged: bool = False
    reason: str = ""
    source: KillSource | None = None
    code: ReasonCode | None = None
    since_ms: int | None = None

    def is_automatic(self, code: ReasonCode) -> bool:
        return self.engaged and self.source is KillSource.AUTOMATIC and self.code is code

    def to_setting(self) -> dict[str, Any]:
        """The JSON stored as SettingRow("kill_switch")."""
        return {
            "engaged": self.engaged,
            "reason": self.reason,
            "source": self.source.value if self.source else None,
            "code": self.code.value if self.code else None,
            "since_ms": self.since_ms,
        }

    @classmethod
    def from_setting(cls, value: Any) -> KillSwitch:
        """Parse SettingRow("kill_switch"); anything malformed is a ValueError, never a silent release."""
        if not isinstance(value, dict) or not isinstance(value.get("engaged"), bool):
            raise ValueError(f"setting {KILL_SWITCH_KEY!r} is not a kill switch: {value!r}")
        if not value["engaged"]:
            return cls()
        source, code, since = value.get("source"), value.get("code"), value.get("since_ms")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise ValueError(f"setting {KILL_SWITCH_KEY!r}: since_ms {since!r} is not an integer")
        try:
            return cls(
                engaged=True,
                reason=str(value.get("reason") or ""),
                source=KillSource(source) if source is not None else KillSource.MANUAL,
                code=ReasonCode(code) if code is not None else ReasonCode.KILL_SWITCH,
                since_ms=since,
            )
        except ValueError as exc:
            raise ValueError(f"setting {KILL_SWITCH_KEY!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account's standing: today's realised P&L (net of fees), losing rounds in a row, cooldown,
    kill switch, order errors in a row, and feeds that tripped the switch by going stale."""

    day: date = _EPOCH_DAY
    daily_pnl: Decimal = ZERO
    loss_streak: int = 0
    cooldown_until_ms: int | None = None
    kill_switch: KillSwitch = KillSwitch()
    order_errors_in_row: int = 0
    stale_feeds: frozenset[str] = frozenset()

    def daily_pnl_on(self, now_ms: int) -> Decimal:
        """Realised P&L of now's UTC day: a total kept for an earlier day counts as nothing."""
        return self.daily_pnl if self.day == utc_day(now_ms) else ZERO

    def in_cooldown(self, now_ms: int) -> bool:
        return self.cooldown_until_ms is not None and now_ms < self.cooldown_until_ms

    def rolled(self, now_ms: int) -> AccountState:
        """On a new UTC day the daily P&L restarts, and a daily-loss trip of the switch is released."""
        today = utc_day(now_ms)
        if today == self.day:
            return self
        switch = KillSwitch() if self.kill_switch.is_automatic(ReasonCode.DAILY_LOSS) else self.kill_switch
        return replace(self, day=today, daily_pnl=ZERO, kill_switch=switch)

    def settled(
        self, pnl: Decimal, at_ms: int, limits: RiskLimits, *, round_ms: int = DEFAULT_ROUND_MS
    ) -> AccountState:
        """After a round settled with `pnl`: a loss extends the streak, a gain ends it, a flat round (no
        position) leaves it. Every `loss_streak_for_cooldown`-th loss in a row starts a cooldown of
        `cooldown_rounds` rounds; reaching `max_daily_loss` engages the kill switch."""
        state = self.rolled(at_ms)
        streak, cooldown = state.loss_streak, state.cooldown_until_ms
        if pnl < 0:
            streak += 1
            if streak % limits.loss_streak_for_cooldown == 0 and limits.cooldown_rounds > 0:
                cooldown = max(cooldown or 0, at_ms + limits.cooldown_rounds * round_ms)
        elif pnl > 0:
            streak = 0
        daily = state.daily_pnl + pnl
        switch = state.kill_switch
        if daily <= -limits.max_daily_loss and not switch.engaged:
            switch = KillSwitch(
                engaged=True,
                reason=f"daily loss {-daily} reached the limit of {limits.max_daily_loss}",
                source=KillSource.AUTOMATIC,
                code=ReasonCode.DAILY_LOSS,
                since_ms=at_ms,
            )
        return replace(
            state, daily_pnl=daily, loss_streak=streak, cooldown_until_ms=cooldown, kill_switch=switch
        )

    @classmethod
    def from_settlements(
        cls,
        rows: Iterable[SettledRound],
        now_ms: int,
        limits: RiskLimits,
        *,
        round_ms: int = DEFAULT_ROUND_MS,
    ) -> AccountState:
        """The state after every settlement up to `now_ms`, in time order. Pass at least today's rows and
        the ones before them that may still belong to the loss streak (yesterday's are plenty)."""
        state = cls()
        # Sorted by instant, then id: the order the rows come back in must not change the result.
        settled = sorted((datetime_to_ms(row.ts), row.id, row.pnl) for row in rows)
        for at_ms, _, pnl in settled:
            if at_ms <= now_ms:
                state = state.settled(pnl, at_ms, limits, round_ms=round_ms)
        return state.rolled(now_ms)
