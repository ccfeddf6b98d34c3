"""Backtests started from the API (analyst and above) and their progress (viewer and above)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, status

from api.backtest_runs import (
    BacktestRequest,
    BacktestRunPublic,
    check_request,
    read_backtest_run,
    require_prefect,
    start_backtest,
)
from api.controls import record_action
from api.deps import Analyst, SessionDep, SettingsDep, Viewer

router = APIRouter(prefix="/backtest-runs", tags=["backtests"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={503: {"description": "Prefect cannot be reached, or the backtest deployment is not served."}},
)
async def start(
    body: BacktestRequest, caller: Analyst, session: SessionDep, settings: SettingsDep, request: Request
) -> BacktestRunPublic:
    """Start a backtest of the rounds opening in [start, end) as a Prefect flow run of backtest-flow/backtest;
    checked first (range, data, strategies, grid), so a request the flow would refuse is a 422."""
    parameters, rounds = check_request(body, settings)
    require_prefect(settings)
    run = await start_backtest(parameters)
    record_action(
        session,
        caller,
        request,
        action="backtest_start",
        target=run.flow_run_id,
        reason=None,
        before=None,
        after={**parameters, "rounds": rounds, "flow_run": run.name},
    )
    session.commit()
    return run


@router.get("/{flow_run_id}", responses={503: {"description": "Prefect cannot be reached."}})
async def progress(flow_run_id: UUID, _caller: Viewer, settings: SettingsDep) -> BacktestRunPublic:
    """A started backtest's state and how many of its task runs (batches) completed."""
    require_prefect(settings)
    return await read_backtest_run(flow_run_id)
