"""GET /status: the agent at a glance, from the schedule, the store and the running round's heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.models import DayPnl, KillSwitchPublic, Mode, RecentDecision, RoundTimer, Status
from core.clock import datetime_to_ms, ms_to_datetime
from core.config import Settings
from core.live.state import STATE_EVERY_S, LiveState
from core.market.rounds import Round, RoundSchedule
from core.risk.state import KILL_SWITCH_KEY, KillSwitch
from core.store.models import DecisionRow, HeartbeatRow, RoundRow, SettingRow, SettlementRow

MODES: tuple[Mode, ...] = ("paper", "live")
FRESH_S = 10 * STATE_EVERY_S
"""A heartbeat older than this is not shown as live: the round stopped publishing (or the outbox lags)."""


LiveRead = Callable[[Session, str, datetime], tuple[LiveState | None, str | None, str]]


def agent_status(session: Session, settings: Settings, now: datetime, *, live_read: LiveRead) -> Status:
    schedule = RoundSchedule(
        settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
    )
    current = schedule.round_at(now)
    stored = session.get(RoundRow, current.slug)
    switch, switch_problem = kill_switch(session)
    live, live_problem, source = live_read(session, settings.mode, now)
    return Status(
        at=now,
        mode=settings.mode,
        live_trading_allowed=settings.live_trading_allowed,
        round=timer(current, datetime_to_ms(now), stored.status if stored is not None else None),
        kill_switch=switch,
        kill_switch_unavailable=switch_problem,
        pnl_today=[day_pnl(session, mode, now) for mode in MODES],
        latest_decision=latest_decision(session),
        live=live,
        live_unavailable=live_problem,
        live_source=source,
    )


def timer(current: Round, now_ms: int, stored_status: str | None) -> RoundTimer:
    if now_ms < current.wake_ms:
        phase = "waiting"
    elif now_ms < current.activation_ms:
        phase = "warmup"
    else:
        phase = "active"
    return RoundTimer(
        slug=current.slug,
        open_at=current.open,
        close_at=current.close,
        wake_at=current.wake,
        activation_at=current.activation,
        phase=phase,
        seconds_to_activation=max(current.activation_ms - now_ms, 0) / 1000,
        seconds_to_close=max(current.close_ms - now_ms, 0) / 1000,
        stored_status=stored_status,
    )


def kill_switch(session: Session) -> tuple[KillSwitchPublic | None, str | None]:
    row = session.get(SettingRow, KILL_SWITCH_KEY)
    if row is None:
        return KillSwitchPublic(
            engaged=False, reason="", source=None, code=None, since=None, set_by=None
        ), None
    try:
        switch = KillSwitch.from_setting(row.value)
    except ValueError as exc:
        return None, f"the stored kill switch is unreadable, so rounds treat it as engaged: {exc}"
    return (
        KillSwitchPublic(
            engaged=switch.engaged,
            reason=switch.reason,
            source=switch.source.value if switch.source else None,
            code=switch.code.value if switch.code else None,
            since=ms_to_datetime(switch.since_ms) if switch.since_ms is not None else None,
            set_by=row.updated_by,
        ),
        None,
    )


def day_pnl(session: Session, mode: Mode, now: datetime) -> DayPnl:
    """Rounds of `mode`'s own runs settled today (UTC), summed exactly."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = session.exec(
        select(SettlementRow)
        .where(col(SettlementRow.mode) == mode)
        .where(col(SettlementRow.run_id) == mode)
        .where(col(SettlementRow.ts) >= start)
        .where(col(SettlementRow.ts) < start + timedelta(days=1))
    ).all()
    return DayPnl(
        mode=mode,
        day=start.date().isoformat(),
        rounds_settled=len(rows),
        pnl=sum((r.pnl for r in rows), Decimal(0)),
        fees=sum((r.fees for r in rows), Decimal(0)),
    )


def latest_decision(session: Session) -> RecentDecision | None:
    """The newest decision of the paper or live run: one query per mode, each a walk down the (run_id, ts)
    index (one query for both would sort every decision of both runs)."""
    found = [
        session.exec(
            select(DecisionRow)
            .where(col(DecisionRow.run_id) == mode)
            .order_by(col(DecisionRow.ts).desc())
            .limit(1)
        ).first()
        for mode in MODES
    ]
    rows = [row for row in found if row is not None]
    if not rows:
        return None
    row = max(rows, key=lambda r: r.ts)
    return RecentDecision(
        round_slug=row.round_slug,
        at=row.ts,
        mode=row.run_id,
        strategy=row.strategy,
        outcome=row.outcome,
        side=row.side,
        limit_price=row.limit_price,
        size=row.size,
        policy=row.policy,
        reason=row.reason,
    )


def latest_heartbeat(session: Session, mode: str) -> HeartbeatRow | None:
    """The newest state a round of `mode` published (component `round:<mode>`)."""
    return session.exec(
        select(HeartbeatRow)
        .where(col(HeartbeatRow.component) == f"round:{mode}")
        .order_by(col(HeartbeatRow.ts).desc())
        .limit(1)
    ).first()


def live_state(session: Session, mode: str, now: datetime) -> tuple[LiveState | None, str | None]:
    """The running round's latest heartbeat, if it is recent; else None and why."""
    return fresh_state(latest_heartbeat(session, mode), mode, now)


def fresh_state(row: HeartbeatRow | None, mode: str, now: datetime) -> tuple[LiveState | None, str | None]:
    component = f"round:{mode}"
    if row is None:
        return None, f"no round has published its state yet (no {component} heartbeat in the store)"
    age = (now - row.ts).total_seconds()
    if age > FRESH_S:
        return None, (
            f"the latest {component} heartbeat is {age:.0f} s old: no round is running now "
            "(or its outbox cannot reach the store)"
        )
    try:
        return LiveState.model_validate(row.details), None
    except ValidationError as exc:
        return None, f"the latest {component} heartbeat is malformed ({exc.error_count()} errors)"
