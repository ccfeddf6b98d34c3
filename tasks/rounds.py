"""The round's tasks: discover its market, run it (the supervised live task), confirm its settlement,
publish its report. Thin: the work is in core; retries, timeouts and names are declared here."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run, task_run
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.adapters.polymarket.gamma import GammaClient, MarketInfo
from core.config import Settings
from core.engine.assembly import EngineRecipe
from core.live.runner import RoundOutcome, RoundRunner
from core.market.rounds import Round
from core.risk.limits import RiskLimits, load_limits
from core.risk.state import AccountState
from core.store.db import make_engine, migrate
from core.store.models import SettlementRow
from core.store.outbox import Outbox
from core.strategies import build_strategies
from tasks.control import HaltWatch, read_kill_switch, set_deployment_paused

log = logging.getLogger(__name__)


@task(name="discover", retries=3, retry_delay_seconds=2, timeout_seconds=60)
async def discover(settings: Settings, slug: str) -> MarketInfo:
    """The round's market and venue rules from Gamma (retried while Gamma is still listing it)."""
    client = GammaClient(settings.venue.gamma_url)
    try:
        return await client.market(slug)
    finally:
        await client.close()


def recipe_for(settings: Settings, limits: RiskLimits, strategies: list[str] | None) -> EngineRecipe:
    names = strategies or ["fair_value", "momentum", "mean_reversion"]
    build_strategies(names)
    return EngineRecipe(limits=limits, strategies=tuple(names))


def account_for(settings: Settings, limits: RiskLimits, now_ms: int, engine: Engine) -> AccountState:
    """Today's settled rounds of live and paper runs, and the stored kill switch: risk survives restarts."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with Session(engine) as session:
        rows = session.exec(
            select(SettlementRow)
            .where(col(SettlementRow.ts) >= since)
            .where(col(SettlementRow.run_id).in_(["live", "paper"]))
        ).all()
    account = AccountState.from_settlements(rows, now_ms, limits, round_ms=settings.round_seconds * 1000)
    switch = read_kill_switch(engine)
    return replace(account, kill_switch=switch) if switch.engaged else account


@task(name="run_round", retries=1, retry_delay_seconds=1)
async def run_round(
    settings: Settings, round_: Round, market: MarketInfo, strategies: list[str] | None = None
) -> RoundOutcome:
    """The supervised task: feeds, engine, executor, tape; retried on a crash (then resumes trading)."""
    logger = get_run_logger()
    store_url = settings.resolved_database_url
    migrate(store_url)
    store = make_engine(store_url)
    limits = load_limits(store, RiskLimits.from_settings(settings.risk))
    now = int(datetime.now(UTC).timestamp() * 1000)
    account = account_for(settings, limits, now, store)
    spool = settings.resolved_spool_dir / f"{round_.slug}-{task_run.get_run_count()}"
    outbox = Outbox(spool, store_url).start()
    watch = HaltWatch(store)

    def progress(line: str) -> None:
        logger.info(line)

    def on_trip(reason: str) -> None:
        asyncio.get_running_loop().create_task(set_deployment_paused(True))
        logger.warning("automatic risk trip (%s): pausing the round deployment", reason)

    try:
        runner = RoundRunner(
            settings,
            round_,
            market,
            recipe_for(settings, limits, strategies),
            sink=outbox,
            run_id=settings.mode,
            account=account,
            tape_dir=settings.data_dir / "tapes",
            halt_check=watch,
            progress=progress,
            flow_run_id=str(flow_run.get_id() or ""),
            resume=task_run.get_run_count() > 1,
            on_trip=on_trip,
        )
        return await runner.run()
    finally:
        drained = await asyncio.to_thread(outbox.close, 30.0)
        if not drained:
            logger.warning("outbox not drained yet: records stay spooled in %s for the next run", spool)
        store.dispose()


@task(name="settle", retries=2, retry_delay_seconds=5, timeout_seconds=120)
async def settle(settings: Settings, outcome: RoundOutcome) -> RoundOutcome:
    """Compare our settlement with the venue's official one (Gamma), when the venue has published it."""
    logger = get_run_logger()
    if outcome.winner is None:
        return outcome
    client = GammaClient(settings.venue.gamma_url, attempts=2)
    try:
        official = await client.market(outcome.slug)
    except Exception as exc:
        logger.info("official outcome not available yet (%s); ours stands: %s", exc, outcome.winner)
        return outcome
    finally:
        await client.close()
    if official.winner is not None and official.winner is not outcome.winner:
        logger.error("our outcome %s differs from the venue's %s", outcome.winner, official.winner)
    return outcome


@task(name="report")
def report(round_: Round, outcome: RoundOutcome) -> str:
    """The round's markdown report and tables, as Prefect artifacts keyed `round-<open unix s>`."""
    key = f"round-{round_.open_s}"
    refused = ", ".join(f"{code} x{n}" for code, n in sorted(outcome.refusals.items())) or "none"
    feeds = "\n".join(
        f"| {name} | {h['messages']} | {h['reconnects']} | {h['malformed']} | {h['last_error'] or ''} |"
        for name, h in outcome.feed_health.items()
    )
    markdown = f"""# {round_.slug}

| | |
|---|---|
| window | {round_.open.isoformat()} to {round_.close.isoformat()} |
| status | **{outcome.status}** |
| strike | {outcome.strike} |
| settlement price | {outcome.settle_price} |
| winner | {outcome.winner.value if outcome.winner else "-"} |
| decisions / orders / fills | {outcome.decisions} / {outcome.orders} / {outcome.fills} |
| risk refusals | {refused} |
| P&L (net of fees) | {outcome.pnl} (fees {outcome.fees}) |
| halted | {outcome.halted or "no"} |

## Feeds
| feed | messages | reconnects | malformed | last error |
|---|---|---|---|---|
{feeds}
"""
    create_markdown_artifact(key=key, markdown=markdown, description=f"Round report {round_.slug}")
    create_table_artifact(
        key=f"{key}-summary",
        table=[
            {
                "slug": outcome.slug,
                "status": outcome.status,
                "winner": outcome.winner.value if outcome.winner else None,
                "decisions": outcome.decisions,
                "orders": outcome.orders,
                "fills": outcome.fills,
                "pnl": str(outcome.pnl),
                "fees": str(outcome.fees),
            }
        ],
        description=f"Round summary {round_.slug}",
    )
    return key
