"""P&L by UTC day and by strategy, per mode, over a bounded range of days."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import NowDep, SessionDep, Viewer
from api.pnl import by_strategy, daily, resolve
from api.record_models import PnlDays, PnlQuery, PnlStrategies

router = APIRouter(prefix="/pnl", tags=["pnl"])


@router.get("/daily")
def read_daily_pnl(
    query: Annotated[PnlQuery, Query()], _caller: Viewer, session: SessionDep, now: NowDep
) -> PnlDays:
    """Realised P&L net of fees per UTC day of settlement and mode, split by strategy, newest day first,
    with the totals per mode; at most 366 days (default: the 30 up to today)."""
    return daily(session, resolve(query, now.date()))


@router.get("/strategies")
def read_strategy_pnl(
    query: Annotated[PnlQuery, Query()], _caller: Viewer, session: SessionDep, now: NowDep
) -> PnlStrategies:
    """Each strategy's realised P&L net of fees per mode over the days: rounds it held a position in, wins,
    P&L; at most 366 days (default: the 30 up to today)."""
    return by_strategy(session, resolve(query, now.date()))
