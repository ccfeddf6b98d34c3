"""`backtest_flow`: past rounds through the same engine on paper, batches of rounds as Prefect tasks on a
Dask task runner (a local cluster by default, an existing cluster by address), a parameter grid mapped
over; rows tagged with the backtest run and variant (`backtest-<run>/v<n>`), a summary artifact and a
report folder with plots."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect_dask.task_runners import DaskTaskRunner
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.backtest.report import write_report
from core.backtest.runner import (
    BacktestError,
    RoundJob,
    RoundResult,
    Variant,
    expand_grid,
    parse_grid,
    plan_rounds,
    run_jobs,
    summarize,
)
from core.config import SettingsError, load_settings
from core.engine.assembly import EngineRecipe
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.store.db import make_engine, migrate
from core.store.models import TABLES, table_of
from core.store.writer import insert_rows

log = logging.getLogger(__name__)


@task(name="backtest-batch", retries=1)
def backtest_batch(
    jobs: list[RoundJob],
    variant: Variant,
    strategies: list[str],
    run_id: str,
    price_file: str | None,
    store_url: str | None,
) -> list[RoundResult]:
    """A batch of rounds for one variant; its records go to the store tagged with the run id."""
    settings = load_settings()
    recipe = EngineRecipe(limits=RiskLimits.from_settings(settings.risk), strategies=tuple(strategies))
    schedule = RoundSchedule(
        settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
    )
    results = list(
        run_jobs(
            jobs,
            variant,
            recipe,
            run_id=run_id,
            price_file=Path(price_file) if price_file else None,
            keep_records=store_url is not None,
            schedule=schedule,
        )
    )
    if store_url is not None:
        records = [record for result in results for record in result.records]
        engine = make_engine(store_url)
        batch = [
            (table_of(r), TABLES[table_of(r)].model_validate(r.model_dump()).model_dump()) for r in records
        ]
        for start in range(0, len(batch), 2_000):
            insert_rows(engine, batch[start : start + 2_000])
        engine.dispose()
    return [RoundResult(**{**asdict(r), "records": ()}) for r in results]


def dask_runner() -> DaskTaskRunner:
    """A local Dask cluster, or the existing one at BTC_AGENT_DASK_ADDRESS when one machine is not enough."""
    try:
        address = load_settings().dask_address
    except SettingsError:
        address = None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None})


@flow(name="backtest-flow", log_prints=True, persist_result=False, task_runner=dask_runner())  # type: ignore[arg-type]
def backtest_flow(
    source: str = "generated",
    start: datetime | None = None,
    end: datetime | None = None,
    strategies: list[str] | None = None,
    params_grid: str | None = None,
    price_file: str | None = None,
    tape_dir: str | None = None,
    batch_size: int = 48,
    report_dir: str | None = None,
    write_rows: bool = True,
) -> list[dict[str, Any]]:
    """Replay rounds (`tapes`) or build them from BTC history (`generated`), for every variant of the grid."""
    logger = get_run_logger()
    settings = load_settings()
    names = strategies or ["fair_value", "momentum", "mean_reversion"]
    if source not in ("generated", "tapes"):
        raise BacktestError(f"source must be 'generated' or 'tapes', not {source!r}")
    if start is None or end is None or end <= start:
        raise BacktestError("give a start and an end (end after start), as aware UTC datetimes")
    variants = expand_grid(names, parse_grid(params_grid))
    jobs, missing = plan_rounds(
        source,  # type: ignore[arg-type]
        start,
        end,
        tape_dir=Path(tape_dir) if tape_dir else None,
        price_file=Path(price_file) if price_file else None,
        schedule=RoundSchedule(
            settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
        ),
    )
    if missing:
        logger.warning("%d rounds have no tape and are skipped: %s", len(missing), ", ".join(missing[:20]))
    run_id = f"backtest-{str(flow_run.get_id() or 'local')[:8]}"
    store_url = settings.resolved_database_url if write_rows else None
    if store_url is not None:
        migrate(store_url)
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    logger.info(
        "%s: %d rounds x %d variants in %d batches (%s)",
        run_id,
        len(jobs),
        len(variants),
        len(batches) * len(variants),
        source,
    )
    futures = [
        backtest_batch.submit(batch, variant, names, f"{run_id}/v{index}", price_file, store_url)
        for index, variant in enumerate(variants)
        for batch in batches
    ]
    results: list[RoundResult] = []
    columns = (
        TextColumn("[bold]backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rounds"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task("rounds", total=len(jobs) * len(variants))
        for future in as_completed(futures):
            done = future.result()
            results.extend(done)
            progress.advance(bar, len(done))
    summaries = summarize(results)
    run_of = {variant.name: f"{run_id}/v{index}" for index, variant in enumerate(variants)}
    table = [
        {
            "run_id": run_of[s.variant],
            "variant": s.variant,
            "rounds": s.rounds,
            "traded": s.traded,
            "pnl": str(s.pnl),
            "fees": str(s.fees),
            "win_rate": None if s.win_rate is None else round(s.win_rate, 4),
            "brier": None if s.brier is None else round(s.brier, 5),
        }
        for s in summaries
    ]
    create_table_artifact(key=f"{run_id}-summary", table=table, description=f"Backtest {run_id} by variant")
    folder = Path(report_dir) if report_dir else settings.data_dir / "backtests" / run_id
    page = write_report(
        results,
        summaries,
        folder,
        title=f"Backtest {run_id}: {source}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
    )
    best = summaries[0] if summaries else None
    create_markdown_artifact(
        key=f"{run_id}-report",
        markdown=f"# Backtest {run_id}\n\n{len(jobs)} rounds, {len(variants)} variants; best: "
        f"`{best.variant if best else '-'}` with P&L {best.pnl if best else Decimal(0)}.\n\nReport: `{page}`\n",
    )
    logger.info("report: %s", page)
    return table
