"""`round_flow`: one flow run per round, named after the round's slug.

Scheduled at the round's wake time (cron `11,26,41,56 * * * *` for 15-minute rounds), it discovers the
market, runs the round (warm at T-180 s by its own clock, or a missed activation is recorded), confirms the
settlement and publishes the report. A round that already has a run on record is not run again.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from sqlmodel import Session

from core.clock import WallClock, datetime_to_ms
from core.config import load_settings
from core.live.runner import RoundOutcome
from core.market.rounds import Round, RoundSchedule
from core.store.db import make_engine, migrate
from core.store.models import RoundRow
from tasks.rounds import discover, report, run_round, settle

FINAL = frozenset({"active", "settled", "halted", "missed_activation", "unsettled", "closed_before_start"})


def _name() -> str:
    slug = flow_run.get_parameters().get("round_slug")
    return str(slug) if slug else _scheduled_round(_schedule()).slug


def _scheduled_round(schedule: RoundSchedule) -> Round:
    """The round this run was scheduled for: the one its scheduled start (the round's wake time) falls in.

    Prefect may start a run late; the round is still the scheduled one, and the runner decides whether it
    can be warm in time. An ad-hoc run without a slug takes the round of the moment it was created."""
    scheduled = flow_run.get_scheduled_start_time()
    at_ms = datetime_to_ms(scheduled) if scheduled is not None else WallClock().now_ms()
    return schedule.round_at_ms(at_ms)


def _schedule() -> RoundSchedule:
    settings = load_settings()
    return RoundSchedule(settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds)


@flow(name="round-flow", flow_run_name=_name, log_prints=True, persist_result=False)
async def round_flow(
    round_slug: str | None = None, strategies: list[str] | None = None
) -> RoundOutcome | None:
    """Trade one round on paper (or live, when settings allow it) from its wake-up to its settlement."""
    logger = get_run_logger()
    settings = load_settings()
    schedule = RoundSchedule(
        settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds
    )
    round_ = schedule.from_slug(round_slug) if round_slug else _scheduled_round(schedule)
    store_url = settings.resolved_database_url
    migrate(store_url)
    store = make_engine(store_url)
    with Session(store) as session:
        existing = session.get(RoundRow, round_.slug)
    store.dispose()
    if existing is not None and existing.status in FINAL and existing.flow_run_id != str(flow_run.get_id()):
        logger.warning(
            "%s already ran (status %s, flow run %s); not running it twice",
            round_.slug,
            existing.status,
            existing.flow_run_id,
        )
        return None
    logger.info(
        "%s (%s mode): wake %s, activation %s, close %s",
        round_.slug,
        settings.mode,
        round_.wake.time(),
        round_.activation.time(),
        round_.close.time(),
    )
    market = await discover(settings, round_.slug)
    outcome = await run_round(settings, round_, market, strategies)
    outcome = await settle(settings, outcome)
    report(round_, outcome)
    logger.info("%s: %s, P&L %s", round_.slug, outcome.status, outcome.pnl)
    return outcome
