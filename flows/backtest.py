"""`backtest_flow`: past rounds through the same engine on paper, batches of rounds as Prefect tasks on a
Dask task runner (a local cluster by default, an existing cluster by address), a parameter grid mapped
over. Variants run side by side; a variant's batches run in order, each starting from the account the one
before left (as a live deployment's rounds do). Rows are tagged with the backtest run and variant
(`backtest-<run>/v<n>`); the report goes to a folder (HTML and PNGs) and to the Prefect UI as a markdown
artifact with the figures inline and a table artifact per variant and strategy. The run is named after
what it ran.

No `from __future__ import annotations` here: Prefect validates a served run's parameters against the
flow's signature, and string annotations did not resolve in the process `serve` starts for a run
(`Backtest_FlowModel is not fully defined`)."""

import dataclasses
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect_dask.task_runners import DaskTaskRunner

from core.backtest.report import (
    Report,
    RunInfo,
    build_report,
    counts,
    percent,
    plain_usd,
    render_markdown,
    results_table,
    short_summary,
    span_text,
    usd,
    variants_line,
    write_report,
)
from core.backtest.runner import (
    BacktestError,
    RoundJob,
    RoundResult,
    Variant,
    expand_grid,
    parse_grid,
    plan_rounds,
    run_jobs,
)
from core.clock import ms_to_datetime
from core.config import SettingsError, load_settings
from core.engine.assembly import DEFAULT_STRATEGIES, EngineRecipe
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.store.db import make_engine, migrate
from core.store.models import TABLES, table_of
from core.store.writer import insert_rows


@task(name="backtest-batch", task_run_name="{label}", retries=1)
def backtest_batch(
    jobs: list[RoundJob],
    variant: Variant,
    strategies: list[str],
    run_id: str,
    price_file: str | None,
    store_url: str | None,
    seed: int,
    label: str,
    after: list[RoundResult] | None = None,
) -> list[RoundResult]:
    """A batch of rounds for one variant, from the account the variant's previous batch (`after`) left;
    its records go to the store tagged with the run id."""
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
            seed=seed,
            keep_records=store_url is not None,
            schedule=schedule,
            account=after[-1].account_after if after else None,
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
    return [dataclasses.replace(r, records=()) for r in results]


def dask_runner() -> DaskTaskRunner:
    """A local Dask cluster, or the existing one at BTC_AGENT_DASK_ADDRESS when one machine is not enough."""
    try:
        address = load_settings().dask_address
    except SettingsError:
        address = None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None})


def run_name(parameters: Mapping[str, Any]) -> str:
    """What the run backtests, e.g. `backtest generated 2025-12-10 00:00 to 2025-12-11 00:00 UTC (1 d),
    2 variants of fair_value.margin`."""
    start, end = _instant(parameters.get("start")), _instant(parameters.get("end"))
    grid = parse_grid(parameters.get("params_grid"))
    variants = expand_grid(list(parameters.get("strategies") or DEFAULT_STRATEGIES), grid)
    axes = [f"{strategy}.{param}" for strategy, axis in grid.items() for param in axis]
    name = f"backtest {parameters.get('source') or 'generated'}"
    if start is not None and end is not None:
        name += f" {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC ({span_text(start, end)})"
    name += f", {len(variants)} variant{'s' if len(variants) != 1 else ''}"
    return name + (f" of {', '.join(axes)}" if axes else "")


def _run_name() -> str:
    try:
        return run_name(flow_run.get_parameters())
    except (BacktestError, TypeError, ValueError):
        return "backtest (unreadable parameters)"


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def artifact_key(info: RunInfo) -> str:
    """Readable and unique: `backtest-2025-12-10-1d6h-<run>`; the report and results keys add a suffix.
    Artifact keys take lowercase letters, digits and dashes only."""
    days, rest = divmod(int((info.end - info.start).total_seconds()) // 60, 1440)
    hours, minutes = divmod(rest, 60)
    span = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n) or "0m"
    return f"backtest-{info.start:%Y-%m-%d}-{span}-{info.run_id.removeprefix('backtest-')}".lower()


@flow(
    name="backtest-flow",
    flow_run_name=_run_name,
    log_prints=True,
    persist_result=False,
    task_runner=dask_runner(),  # type: ignore[arg-type]
)
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
    seed: int = 1,
) -> list[dict[str, Any]]:
    """Replay rounds (`tapes`) or build them from BTC history (`generated`), for every variant of the grid."""
    logger = get_run_logger()
    settings = load_settings()
    names = strategies or list(DEFAULT_STRATEGIES)
    if source not in ("generated", "tapes"):
        raise BacktestError(f"source must be 'generated' or 'tapes', not {source!r}")
    if start is None or end is None or end <= start:
        raise BacktestError("give a start and an end (end after start), as aware UTC datetimes")
    variants = expand_grid(names, parse_grid(params_grid))
    schedule = RoundSchedule(
        settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
    )
    jobs, missing = plan_rounds(
        source,  # type: ignore[arg-type]
        start,
        end,
        tape_dir=Path(tape_dir) if tape_dir else None,
        price_file=Path(price_file) if price_file else None,
        schedule=schedule,
    )
    if missing:
        logger.warning("%d rounds have no tape and are skipped: %s", len(missing), ", ".join(missing[:20]))
    run_id = f"backtest-{str(flow_run.get_id() or 'local')[:8]}"
    info = RunInfo(
        run_id=run_id,
        source=source,
        start=start,
        end=end,
        data=(price_file if source == "generated" else tape_dir) or "-",
        seed=seed if source == "generated" else None,
        recipe=EngineRecipe(limits=RiskLimits.from_settings(settings.risk), strategies=tuple(names)),
        variants=variants,
        schedule=schedule,
        rounds_planned=len(jobs),
        missing=missing,
        batch_size=batch_size,
    )
    store_url = settings.resolved_database_url if write_rows else None
    if store_url is not None:
        migrate(store_url)
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    logger.info(
        "%s: %d rounds (%s from %s) x %d variant(s) = %d round runs in %d batches of up to %d; variants run "
        "side by side, each variant's batches in order (the account carries over)",
        run_id,
        len(jobs),
        source,
        info.data,
        len(variants),
        len(jobs) * len(variants),
        len(batches) * len(variants),
        batch_size,
    )
    for index, variant in enumerate(variants):
        logger.info("v%d = %s (rows tagged %s/v%d)", index, variant.name, run_id, index)
    labels: dict[str, str] = {}
    futures: list[PrefectFuture[list[RoundResult]]] = []
    for index, variant in enumerate(variants):
        previous: PrefectFuture[list[RoundResult]] | None = None
        for number, batch in enumerate(batches, 1):
            label = (
                f"v{index} batch {number}/{len(batches)} "
                f"({ms_to_datetime(batch[0].open_s * 1000):%m-%d %H:%M} to "
                f"{ms_to_datetime(batch[-1].open_s * 1000):%m-%d %H:%M})"
            )
            previous = backtest_batch.submit(
                batch,
                variant,
                names,
                f"{run_id}/v{index}",
                price_file,
                store_url,
                seed,
                label,
                previous,  # type: ignore[arg-type]
            )
            labels[str(previous.task_run_id)] = label
            futures.append(previous)
    results: list[RoundResult] = []
    began, total = time.monotonic(), len(jobs) * len(variants)
    for future in as_completed(futures):
        done = future.result()
        results.extend(done)
        elapsed = time.monotonic() - began
        traded = sum(1 for r in done if r.fills)
        blocked = counts(Counter(r.blocked for r in done if r.blocked))
        trips = counts(Counter(t for r in done for t in r.trips))
        logger.info(
            "%s: %d rounds, %d traded, P&L %s pUSD, blocked %s, trips %s; %d/%d round runs (%.0f %%), "
            "%.0f s, ~%.0f s left",
            labels.get(str(future.task_run_id), "batch"),
            len(done),
            traded,
            usd(sum((r.pnl for r in done), Decimal(0))),
            blocked,
            trips,
            len(results),
            total,
            100 * len(results) / total,
            elapsed,
            elapsed / len(results) * (total - len(results)),
        )
    report = build_report(results, info)
    for result in report.analysis.variants:
        logger.info(
            "%s %s: %d rounds, %d traded, win rate %s, P&L %s pUSD (%s), max drawdown %s, blocked %s, "
            "trips %s",
            result.tag,
            result.name,
            len(result.rounds),
            result.traded,
            percent(result.win_rate),
            usd(result.pnl),
            ", ".join(f"{name} {usd(s.pnl)}" for name, s in result.strategies.items()),
            plain_usd(result.max_drawdown),
            counts(result.blocked),
            counts(result.trips),
        )
    folder = Path(report_dir) if report_dir else settings.data_dir / "backtests" / run_id
    page = write_report(report, folder)
    logger.info("report written on this machine: %s", page)
    key = publish(report)
    logger.info("artifacts %s-report (summary with figures) and %s-results (table)", key, key)
    return variant_table(report)


def publish(report: Report) -> str:
    """The summary (figures inline) and the per-variant, per-strategy table as artifacts of the run."""
    key = artifact_key(report.info)
    create_markdown_artifact(
        key=f"{key}-report", markdown=render_markdown(report), description=short_summary(report)
    )
    create_table_artifact(
        key=f"{key}-results",
        table=results_table(report),
        description=f"P&L (pUSD) {variants_line(report)}; per variant (strategy 'all') and per strategy. "
        f"{report.info.title}",
    )
    return key


def variant_table(report: Report) -> list[dict[str, Any]]:
    """One row per variant, the flow's return value (the CLI prints it)."""
    analysis = report.analysis
    return [
        {
            "run_id": report.info.tag_of(v.name),
            "tag": v.tag,
            "variant": v.name,
            "rounds": len(v.rounds),
            "traded": v.traded,
            "pnl": str(v.pnl),
            "fees": str(v.fees),
            "max_drawdown": str(v.max_drawdown),
            "win_rate": None if v.win_rate is None else round(v.win_rate, 4),
            "brier": None if analysis.brier is None else round(analysis.brier, 5),
        }
        for v in sorted(analysis.variants, key=lambda v: v.pnl, reverse=True)
    ]
