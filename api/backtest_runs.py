"""Backtests started from the API: a flow run of the `backtest-flow/backtest` deployment (served beside the
rounds by `btc-agent serve`), with its parameters checked here first so a bad request is a 422 with the
reason, never a flow run that fails. Its progress is the flow run's state and its task runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from fastapi import HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.deps import unprocessable
from core.backtest.runner import BacktestError, expand_grid, parse_grid, plan_rounds
from core.config import Settings
from core.market.rounds import RoundSchedule
from core.strategies import STRATEGIES

BACKTEST_DEPLOYMENT = "backtest-flow/backtest"


class BacktestRequest(BaseModel):
    """The rounds opening in [start, end), from generated prices or recorded tapes, through the strategies
    (with an optional parameter grid)."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    source: Literal["generated", "tapes"] = "generated"
    strategies: list[str] = Field(default_factory=lambda: list(STRATEGIES), min_length=1, max_length=10)
    params_grid: str | None = Field(
        default=None, max_length=4000, examples=['{"fair_value": {"margin": [0.02, 0.04]}}']
    )
    seed: int = Field(default=1, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _range(self) -> BacktestRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        unknown = sorted(set(self.strategies) - set(STRATEGIES))
        if unknown:
            raise ValueError(f"unknown strategy {', '.join(unknown)}; known: {', '.join(STRATEGIES)}")
        return self


class BacktestRunPublic(BaseModel):
    """A backtest's flow run: its state, and once it ran, the run id its rows and report carry."""

    flow_run_id: str
    name: str
    state: str
    state_message: str | None
    created: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    tasks_total: int
    tasks_completed: int
    run_id: str = Field(
        description="backtest-<first 8 of the flow run id>: GET /backtests/{run_id} once done."
    )
    parameters: dict[str, Any]


def check_request(body: BacktestRequest, settings: Settings) -> tuple[dict[str, Any], int]:
    """The flow's parameters and how many rounds they hold, or a 422 saying what the flow would refuse
    (range, data, grid)."""
    days = (body.end - body.start).total_seconds() / 86_400
    if days > settings.api.backtest_max_days:
        raise unprocessable(
            "end", f"at most {settings.api.backtest_max_days} days per backtest, not {days:.1f}"
        )
    price_file = settings.api.backtest_price_file
    tape_dir = settings.data_dir / "tapes"
    if body.source == "generated" and price_file is None:
        raise unprocessable(
            "source",
            "no price file for generated rounds: set BTC_AGENT_API__BACKTEST_PRICE_FILE, or use source=tapes",
        )
    schedule = RoundSchedule(
        settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
    )
    try:
        expand_grid(body.strategies, parse_grid(body.params_grid))
    except (BacktestError, ValueError) as exc:
        raise unprocessable("params_grid", str(exc)) from None
    try:
        jobs, _ = plan_rounds(
            body.source,
            body.start,
            body.end,
            tape_dir=tape_dir if body.source == "tapes" else None,
            price_file=Path(price_file) if price_file is not None else None,
            schedule=schedule,
        )
    except (BacktestError, ValueError) as exc:
        raise unprocessable("start", str(exc)) from None
    parameters = {
        "source": body.source,
        "start": body.start.isoformat(),
        "end": body.end.isoformat(),
        "strategies": body.strategies,
        "params_grid": body.params_grid,
        "price_file": str(price_file) if body.source == "generated" and price_file else None,
        "tape_dir": str(tape_dir) if body.source == "tapes" else None,
        "seed": body.seed,
    }
    return parameters, len(jobs)


def require_prefect(settings: Settings) -> None:
    """A 503 when no Prefect API is configured: the API never starts a throwaway Prefect server of its own."""
    from api.readiness import prefect_api_url

    if not prefect_api_url(settings):
        raise _unavailable("no Prefect API configured (PREFECT_API_URL): backtests run as Prefect flow runs")


async def start_backtest(parameters: dict[str, Any]) -> BacktestRunPublic:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        async with get_client() as client:
            try:
                deployment = await client.read_deployment_by_name(BACKTEST_DEPLOYMENT)
            except ObjectNotFound:
                raise _unavailable(
                    f"{BACKTEST_DEPLOYMENT} is not deployed: `btc-agent serve` serves it beside the rounds"
                ) from None
            run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            return await _public(client, run)
    except HTTPException:
        raise
    except Exception as exc:
        raise _unavailable(
            f"the Prefect API cannot start the backtest: {type(exc).__name__}: {exc}"
        ) from None


async def read_backtest_run(flow_run_id: UUID) -> BacktestRunPublic:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        async with get_client() as client:
            try:
                run = await client.read_flow_run(flow_run_id)
            except ObjectNotFound:
                raise HTTPException(
                    status_code=status.HTTP_404_NOT_FOUND, detail=f"no flow run {flow_run_id}"
                ) from None
            deployment = await client.read_deployment_by_name(BACKTEST_DEPLOYMENT)
            if run.deployment_id != deployment.id:
                raise HTTPException(
                    status_code=status.HTTP_404_NOT_FOUND, detail=f"flow run {flow_run_id} is not a backtest"
                )
            return await _public(client, run)
    except HTTPException:
        raise
    except Exception as exc:
        raise _unavailable(f"the Prefect API cannot answer: {type(exc).__name__}: {exc}") from None


async def _public(client: Any, run: Any) -> BacktestRunPublic:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    state = run.state
    return BacktestRunPublic(
        flow_run_id=str(run.id),
        name=run.name,
        state=state.name if state is not None else "Unknown",
        state_message=state.message if state is not None else None,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        tasks_total=len(tasks),
        tasks_completed=sum(1 for t in tasks if t.state is not None and t.state.is_completed()),
        run_id=f"backtest-{str(run.id)[:8]}",
        parameters=dict(run.parameters),
    )


def _unavailable(reason: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=reason)
