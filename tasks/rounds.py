"""The round's tasks: discover its market, run it (the supervised live task), confirm its settlement,
publish its report. Thin: the work is in core; retries, timeouts and names are declared here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run, task_run
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.adapters.polymarket.gamma import GammaClient, MarketInfo
from core.alerts.alerter import Alerter, store_sink
from core.alerts.listener import AlertListener, alert_on
from core.clock import WallClock
from core.config import Settings
from core.engine.assembly import EngineRecipe
from core.errors import LiveStartError
from core.events import Outcome
from core.live.controls import ControlsWatch
from core.live.reconcile import trust_the_venue
from core.live.recovery import (
    RoundHistory,
    drain_spools,
    finish_unfinished_rounds,
    load_history,
    remove_if_drained,
)
from core.live.round_report import (
    RoundReport,
    history_rows,
    load_round_report,
    render_markdown,
    signed_usd,
)
from core.live.runner import RoundOutcome, RoundRunner, round_row
from core.live.venue_session import LiveVenueSession, open_live_session
from core.market.rounds import Round
from core.risk.limits import RiskLimits, load_limits
from core.risk.state import AccountState
from core.risk.verdict import ReasonCode
from core.store.claims import Claim, Holder, LeaseKeeper, claim_round, release_claim
from core.store.db import make_engine, migrate
from core.store.models import RiskEventRecord, SettlementRow
from core.store.outbox import Outbox
from core.store.writer import insert_rows
from core.strategies import build_strategies
from tasks.control import HaltWatch, TripResponse, read_kill_switch
from tasks.logs import core_warnings_to

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter[Any]


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
    """Today's settled rounds of this mode's runs (paper losses never count toward live limits, nor
    backtests toward either), and the stored kill switch: risk survives restarts."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with Session(engine) as session:
        rows = session.exec(
            select(SettlementRow)
            .where(col(SettlementRow.ts) >= since)
            .where(col(SettlementRow.mode) == settings.mode)
            .where(col(SettlementRow.run_id) == settings.mode)
        ).all()
    account = AccountState.from_settlements(rows, now_ms, limits, round_ms=settings.round_seconds * 1000)
    switch = read_kill_switch(engine)
    return replace(account, kill_switch=switch) if switch.engaged else account


@task(name="run_round", retries=1, retry_delay_seconds=1)
async def run_round(
    settings: Settings,
    round_: Round,
    market: MarketInfo,
    claim: Claim,
    strategies: list[str] | None = None,
) -> RoundOutcome:
    """The supervised task: feeds, engine, executor, tape. Prefect's retry after a crash is the claim's next
    attempt: it reads back what the failed attempt recorded and trades on from there."""
    logger = get_run_logger()
    store_url = settings.resolved_database_url
    migrate(store_url)
    store = make_engine(store_url)
    claim, history, market = await this_attempt(settings, store, round_, market, claim)
    spool = settings.resolved_spool_dir / f"{round_.slug}-attempt-{claim.attempt}"
    limits = load_limits(store, RiskLimits.from_settings(settings.risk))
    now = int(datetime.now(UTC).timestamp() * 1000)
    account = account_for(settings, limits, now, store)
    outbox = Outbox(spool, store_url).start()
    alerter = Alerter(settings.alerts, outbox.put, label=settings.mode)  # sends on a thread of its own
    watch = HaltWatch(store)
    lease = LeaseKeeper(store, claim)
    keeper = asyncio.create_task(lease.run())

    async def halt_check() -> str | None:
        if lease.lost is not None:
            return f"claim lost: {lease.lost}"
        return await watch()

    def progress(line: str) -> None:
        logger.info(line)

    on_trip = TripResponse(logger)  # the trip policy: pause the deployment only for what needs a human

    venue: LiveVenueSession | None = None
    outcome: RoundOutcome | None = None
    try:
        if settings.live_trading_allowed:
            try:
                venue = await open_live_session(settings, market, limits, clock=WallClock())
            except LiveStartError as exc:
                outcome = refuse_live_start(round_, outbox, str(exc), settings.mode, claim.attempt, history)
            if venue is not None and claim.resumed:
                # the venue's orders and trades count, not the store's: see core.live.reconcile
                history = await trust_the_venue(
                    venue,
                    store,
                    history,
                    outbox,
                    slug=round_.slug,
                    mode=settings.mode,
                    attempt=claim.attempt,
                    logger=logger,
                )
        if outcome is None:
            runner = RoundRunner(
                settings,
                round_,
                market,
                recipe_for(settings, limits, strategies),
                sink=outbox,
                venue=venue,
                run_id=settings.mode,
                account=account,
                tape_dir=settings.data_dir / "tapes",
                halt_check=halt_check,
                controls_check=ControlsWatch(store, RiskLimits.from_settings(settings.risk)),
                progress=progress,
                flow_run_id=str(flow_run.get_id() or ""),
                on_trip=on_trip,
                attempt=claim.attempt,
                history=history,
                alert=logger.warning,
            )
            runner.sink.listeners.append(AlertListener(alerter))
            with core_warnings_to(logger):
                outcome = await runner.run()
    finally:
        if venue is not None:
            await venue.close()  # cancels what rests; a no-op when the runner already closed it
        keeper.cancel()
        await asyncio.to_thread(alerter.close)  # each alert delivered, or stored as unsent, into the outbox
        drained = await asyncio.to_thread(outbox.close, 30.0)
        remove_if_drained(spool, drained=drained)
        if not drained:
            logger.warning("outbox not drained yet: records stay spooled in %s for the next run", spool)
    assert outcome is not None
    if finished(outcome):
        await asyncio.to_thread(release_claim, store, claim, outcome.status, datetime.now(UTC))
    store.dispose()
    return outcome


async def this_attempt(
    settings: Settings, store: Engine, round_: Round, market: MarketInfo, claim: Claim
) -> tuple[Claim, RoundHistory, MarketInfo]:
    """This attempt's claim (Prefect's retry is the next attempt), and what earlier attempts left: their
    spools drained into the store, their orders and fills, and the official outcome if the round closed.
    A first attempt has nothing to read back: the flow's `recover` task drained dead spools just before."""
    if task_run.get_run_count() > 1:
        claim = claim_round(store, round_.slug, claim.holder, datetime.now(UTC))
        get_run_logger().warning("%s: retrying as attempt %d after a crash", round_.slug, claim.attempt)
    if not claim.resumed:
        return claim, RoundHistory(), market
    spool = settings.resolved_spool_dir / f"{round_.slug}-attempt-{claim.attempt}"
    await drain_dead_spools(settings, settings.resolved_database_url, skip=spool)
    history = load_history(store, round_.slug, settings.mode)
    if market.winner is None and datetime.now(UTC) >= round_.close:
        market = await official_market(settings, market)
    return claim, history, market


def refuse_live_start(
    round_: Round, sink: Outbox, reason: str, mode: str, attempt: int, history: RoundHistory
) -> RoundOutcome:
    """A live start the venue or the wallet refuses: one line, a round row saying why, nothing traded now.
    A resumed round's earlier orders stay counted, so its claim stays open and a later run settles it."""
    get_run_logger().error("%s: %s", round_.slug, reason)
    sink.put(round_row(round_, "aborted", mode=mode, reason=reason))
    return RoundOutcome(
        slug=round_.slug, status="aborted", attempt=attempt, reason=reason, orders=len(history.orders)
    )


def finished(outcome: RoundOutcome) -> bool:
    """Nobody need run this round again: it ended, or it ended with nothing to settle. An unsettled
    position keeps its claim open, so the next run settles it."""
    return outcome.status != "unsettled" and not (outcome.status == "aborted" and outcome.orders)


async def drain_dead_spools(settings: Settings, store_url: str, *, skip: Path | None = None) -> None:
    """Records a dead process left spooled go to the store first, so history and risk state are whole."""
    logger = get_run_logger()
    found = await asyncio.to_thread(
        drain_spools, settings.resolved_spool_dir, store_url, skip=[skip] if skip else []
    )
    if found.drained:
        logger.warning("drained spools left by dead runs: %s", ", ".join(found.drained))
    if found.left:
        logger.warning(
            "spools not fully drained (store away or records set aside): %s", ", ".join(found.left)
        )


async def official_market(settings: Settings, market: MarketInfo, wait_s: float = 30.0) -> MarketInfo:
    """The market again from Gamma until it names the winner (or `wait_s` passes)."""
    client = GammaClient(settings.venue.gamma_url, attempts=2)
    deadline = asyncio.get_running_loop().time() + wait_s
    try:
        while True:
            try:
                found = await client.market(market.slug)
            except Exception as exc:
                get_run_logger().warning("%s: official outcome not readable: %s", market.slug, exc)
            else:
                if found.winner is not None:
                    return found
            if asyncio.get_running_loop().time() >= deadline:
                return market
            await asyncio.sleep(2.0)
    finally:
        await client.close()


async def official_outcome(settings: Settings, slug: str) -> Outcome | None:
    """The venue's published winner of a round, or None (not yet, or Gamma unreachable)."""
    client = GammaClient(settings.venue.gamma_url, attempts=2)
    try:
        return (await client.market(slug)).winner
    except Exception as exc:
        get_run_logger().warning("%s: official outcome not readable: %s", slug, exc)
        return None
    finally:
        await client.close()


@task(name="recover", retries=0, timeout_seconds=120)
async def recover(
    settings: Settings, holder: Holder, current: str, strategies: list[str] | None = None
) -> int:
    """Finish the rounds dead runs left: drain their spools, then settle (or abort) each closed round that
    is still `active`, `aborted` or `unsettled` with a position, so its P&L counts toward today's limits."""
    logger = get_run_logger()
    store_url = settings.resolved_database_url
    store = make_engine(store_url)
    try:
        await drain_dead_spools(settings, store_url)
        limits = load_limits(store, RiskLimits.from_settings(settings.risk))
        done = await finish_unfinished_rounds(
            store,
            holder,
            recipe_for(settings, limits, strategies),
            mode=settings.mode,
            official=lambda slug: official_outcome(settings, slug),
            now=datetime.now(UTC),
            skip=current,
        )
    finally:
        store.dispose()
    for item in done:
        pnl = f", P&L {item.pnl}" if item.pnl is not None else ""
        logger.warning("recovered %s: %s (%s%s)", item.slug, item.status, item.reason, pnl)
    return len(done)


OFFICIAL_OUTCOME_MISSING = "official_outcome_missing"
"""The reason code of the alert a round records when the venue's official outcome never arrives."""
RETRY_CAP_S = 30.0
REACHED_SETTLEMENT = frozenset({"settled", "halted", "unsettled"})


@task(name="settle", retries=2, retry_delay_seconds=5, timeout_seconds=1900)
async def settle(settings: Settings, outcome: RoundOutcome) -> RoundOutcome:
    """Confirm the round's settlement with the venue's official one (Gamma), asked again with backoff for
    at most `official_outcome_wait_seconds` (1800 at most: the timeout here is above it)."""
    logger = get_run_logger()
    return await confirm_settlement(settings, outcome, logger, on_trip=TripResponse(logger))


async def confirm_settlement(
    settings: Settings, outcome: RoundOutcome, logger: Logger, *, on_trip: Callable[[str], None]
) -> RoundOutcome:
    """Ours against the venue's: a mismatch is a trip (the policy pauses the deployment); a round our feed
    could not decide stays `unsettled` (a later run's `recover` settles it on the venue's outcome); an
    outcome that never arrives is an alert in the risk events. The round's outcome itself is unchanged."""
    if outcome.status not in REACHED_SETTLEMENT:
        return outcome
    official = await await_official_outcome(settings, outcome.slug, logger)
    if official is None:
        waited = f"{settings.official_outcome_wait_seconds:g} s"
        if outcome.winner is None:
            message = (
                f"the venue's official outcome did not arrive within {waited}: the round stays unsettled"
            )
        else:
            message = (
                f"the venue's official outcome did not arrive within {waited}: "
                f"ours ({outcome.winner.value}) is unconfirmed"
            )
        logger.warning("%s: %s", outcome.slug, message)
        await asyncio.to_thread(
            record_risk_event, settings, outcome.slug, "alert", OFFICIAL_OUTCOME_MISSING, message
        )
        return outcome
    if outcome.winner is None:
        logger.warning(
            "%s: the venue says %s; our feed did not decide the round, so it stays unsettled until a later "
            "run's recover task settles it on the venue's outcome",
            outcome.slug,
            official.value,
        )
    elif official is not outcome.winner:
        message = f"our outcome {outcome.winner.value} differs from the venue's {official.value}"
        await asyncio.to_thread(
            record_risk_event, settings, outcome.slug, "trip", ReasonCode.SETTLEMENT_MISMATCH.value, message
        )
        on_trip(f"{ReasonCode.SETTLEMENT_MISMATCH.value}: {outcome.slug}: {message}")
    else:
        logger.info("%s: the venue's official outcome agrees with ours: %s", outcome.slug, official.value)
    return outcome


async def await_official_outcome(settings: Settings, slug: str, logger: Logger) -> Outcome | None:
    """The venue's published winner, asked again with doubling pauses (each failure a WARNING) until it
    arrives or `official_outcome_wait_seconds` pass; None then."""
    client = GammaClient(settings.venue.gamma_url, attempts=1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.official_outcome_wait_seconds
    pause = settings.official_outcome_retry_seconds
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                found = (await client.market(slug)).winner
            except Exception as exc:  # Gamma down, refusing or answering garbage: all worth another try
                logger.warning("%s: official outcome not readable (attempt %d): %s", slug, attempt, exc)
            else:
                if found is not None:
                    return found
                logger.info("%s: the venue has not published the outcome yet (attempt %d)", slug, attempt)
            left = deadline - loop.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, RETRY_CAP_S)
    finally:
        await client.close()


def record_risk_event(settings: Settings, slug: str, kind: str, code: str, message: str) -> None:
    """A trip or alert found outside the engine (after the round), in the audit trail like the engine's own,
    and raised as an alert first (waiting at most the send timeout): a store that is away cannot hide it."""
    record = RiskEventRecord(
        round_slug=slug,
        run_id=settings.mode,
        kind=kind,
        approved=False,
        reason_code=code,
        message=message[:500],
    )
    store = make_engine(settings.resolved_database_url)
    try:
        alert_on(Alerter(settings.alerts, store_sink(store), label=settings.mode), [record], source="settle")
        insert_rows(store, [("risk_events", record.model_dump())])
    finally:
        store.dispose()


def round_artifact_key(round_: Round, mode: str) -> str:
    """`round-<mode>-<UTC open, yyyymmdd-hhmmss>`: one card per round that sorts by time and reads."""
    return f"round-{mode}-{round_.open:%Y%m%d-%H%M%S}"


@task(name="report")
def report(settings: Settings, round_: Round, outcome: RoundOutcome) -> str:
    """The round's markdown report (headline first) as one Prefect artifact (`round_artifact_key`), today's
    run history, and the outcome and P&L as tags of the flow run, for the runs list."""
    key = round_artifact_key(round_, settings.mode)
    store = make_engine(settings.resolved_database_url)
    try:
        found = load_round_report(
            store,
            round_.slug,
            settings.mode,
            status=outcome.status,
            feed_health=outcome.feed_health,
            halted=outcome.halted,
        )
    finally:
        store.dispose()
    create_markdown_artifact(
        key=key,
        markdown=render_markdown(found),
        description=f"{round_.open:%H:%M}-{round_.close:%H:%M} UTC · {found.headline}",
    )
    publish_history(settings, round_)
    tag_flow_run(round_tags(found))
    return key


HISTORY_KEY = "run-history"


def publish_history(settings: Settings, round_: Round) -> None:
    """The growing table of today's rounds (UTC), newest first with cumulative P&L, as one artifact."""
    day = round_.open.replace(hour=0, minute=0, second=0, microsecond=0)
    store = make_engine(settings.resolved_database_url)
    try:
        rows = history_rows(store, settings.mode, day)
    finally:
        store.dispose()
    latest = rows[0]["cumulative_pnl_pusd"] if rows else "-"
    create_table_artifact(
        key=f"{HISTORY_KEY}-{settings.mode}",
        table=rows,
        description=f"{settings.mode} rounds of {day:%Y-%m-%d} (UTC): {len(rows)} rounds, P&L {latest} pUSD",
    )


def round_tags(found: RoundReport) -> list[str]:
    tags = [f"status:{found.status}", f"traded:{'yes' if found.fills else 'no'}"]
    if found.winner:
        tags.append(f"winner:{found.winner}")
    if found.pnl is not None:
        tags.append(f"pnl:{signed_usd(found.pnl)}")
    return tags


def tag_flow_run(tags: list[str]) -> None:
    """Add tags to this flow run (kept: the ones it had); a failure costs only the tags."""
    found = flow_run.get_id()
    if not found:
        return
    run_id = UUID(found)
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(run_id).tags
            client.update_flow_run(run_id, tags=[*current, *(t for t in tags if t not in current)])
    except Exception as exc:
        get_run_logger().warning("flow run not tagged with the round's outcome: %s", exc)
