"""P&L from the settlements of the agent's own runs: by UTC day of settlement and by strategy, per mode.
Summed here, not in SQL (SQLite keeps money as text, and its SUM would go through floats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from fastapi.exceptions import RequestValidationError
from sqlmodel import Session, col, select

from api.models import Mode
from api.record_models import (
    MAX_PNL_DAYS,
    PnlDay,
    PnlDays,
    PnlQuery,
    PnlStrategies,
    PnlTotal,
    StrategyPnl,
)
from core.store.models import SettlementRow

MODES: tuple[Mode, ...] = ("paper", "live")
DEFAULT_DAYS = 30
UNATTRIBUTED = "unattributed"
"""Where a settlement's P&L goes that its `details` do not split per strategy."""


@dataclass(frozen=True, slots=True)
class Range:
    first: date
    last: date
    modes: tuple[Mode, ...]


@dataclass(slots=True)
class Sum:
    rounds: int = 0
    wins: int = 0
    pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    per_strategy: dict[str, Decimal] = field(default_factory=dict)


def resolve(query: PnlQuery, today: date) -> Range:
    """The days asked for, by default the 30 up to today; a 422 naming the field when they are not a range
    of at most MAX_PNL_DAYS days."""
    last = query.last_day or today
    first = query.first_day or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        _refuse("first_day", f"first_day {first} is after last_day {last}")
    if (last - first).days >= MAX_PNL_DAYS:
        _refuse("first_day", f"a range of at most {MAX_PNL_DAYS} days, not {(last - first).days + 1}")
    return Range(first, last, (query.mode,) if query.mode is not None else MODES)


def _refuse(name: str, message: str) -> None:
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": None}]
    )


def daily(session: Session, days: Range) -> PnlDays:
    per_day: dict[tuple[date, Mode], Sum] = {}
    totals = {mode: Sum() for mode in days.modes}
    for mode, ts, pnl, fees, details in _settlements(session, days):
        day = per_day.setdefault((ts.date(), mode), Sum())
        for total in (day, totals[mode]):
            total.rounds += 1
            total.pnl += pnl
            total.fees += fees
        for name, value in split(pnl, details).items():
            day.per_strategy[name] = day.per_strategy.get(name, Decimal(0)) + value
    order = {mode: index for index, mode in enumerate(MODES)}
    return PnlDays(
        first_day=days.first,
        last_day=days.last,
        data=[
            PnlDay(
                day=day,
                mode=mode,
                rounds_settled=s.rounds,
                pnl=s.pnl,
                fees=s.fees,
                per_strategy=dict(sorted(s.per_strategy.items())),
            )
            for (day, mode), s in sorted(
                per_day.items(), key=lambda item: (-item[0][0].toordinal(), order[item[0][1]])
            )
        ],
        totals=[
            PnlTotal(mode=mode, rounds_settled=s.rounds, pnl=s.pnl, fees=s.fees) for mode, s in totals.items()
        ],
    )


def by_strategy(session: Session, days: Range) -> PnlStrategies:
    sums: dict[tuple[Mode, str], Sum] = {}
    for mode, _ts, pnl, _fees, details in _settlements(session, days):
        for name, value in split(pnl, details).items():
            s = sums.setdefault((mode, name), Sum())
            s.rounds += 1
            s.wins += 1 if value > 0 else 0
            s.pnl += value
    order = {mode: index for index, mode in enumerate(MODES)}
    return PnlStrategies(
        first_day=days.first,
        last_day=days.last,
        data=[
            StrategyPnl(mode=mode, strategy=name, rounds=s.rounds, wins=s.wins, pnl=s.pnl)
            for (mode, name), s in sorted(
                sums.items(), key=lambda item: (order[item[0][0]], -item[1].pnl, item[0][1])
            )
        ],
    )


def split(pnl: Decimal, details: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """A settlement's P&L per strategy as the engine splits it in `details["per_strategy"]` (exact decimal
    strings); what the split does not account for (none of it, for a settlement written without one) is
    `unattributed`, so the parts always add up to the settlement's P&L."""
    raw = details.get("per_strategy") if isinstance(details, Mapping) else None
    parts: dict[str, Decimal] = {}
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                continue
            if amount.is_finite() and name != UNATTRIBUTED:
                parts[str(name)] = amount
    rest = pnl - sum(parts.values(), Decimal(0))
    if rest:
        parts[UNATTRIBUTED] = rest
    return parts


def _settlements(session: Session, days: Range) -> list[tuple[Mode, datetime, Decimal, Decimal, Any]]:
    start = datetime.combine(days.first, time(), tzinfo=UTC)
    end = datetime.combine(days.last + timedelta(days=1), time(), tzinfo=UTC)
    rows = session.exec(
        select(SettlementRow)
        .where(col(SettlementRow.run_id).in_(days.modes))
        .where(col(SettlementRow.mode) == col(SettlementRow.run_id))
        .where(col(SettlementRow.ts) >= start)
        .where(col(SettlementRow.ts) < end)
    ).all()
    return [(cast(Mode, row.run_id), row.ts, row.pnl, row.fees, row.details) for row in rows]
