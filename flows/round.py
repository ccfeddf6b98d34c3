"""`round_flow`: one flow run per round, named after the round's slug (from when it is scheduled: see
`flows/run_names.py`).

Scheduled at the round's wake time (cron `11,26,41,56 * * * *` for 15-minute rounds), it discovers the
market, runs the round (warm at T-180 s by its own clock, or a missed activation is recorded), confirms the
settlement and publishes the report. Before it trades, it finishes what dead runs left (their spools, and
closed rounds still unsettled) and claims its round in the store: a round another live run holds, or one
that already ran to its end, is not run twice; a round whose holder died is resumed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import WallClock, datetime_to_ms
from core.config import Settings, load_settings
from core.live.runner import RoundOutcome, round_row
from core.market.rounds import Round, RoundSchedule
from core.store.claims import Claim, Holder, RoundClaimedError, RoundFinishedError, claim_round, release_claim
from core.store.db import make_engine, migrate
from core.store.models import RoundRow
from flows.run_names import round_run_name
from tasks.rounds import discover, recover, report, run_round, settle

DONE = frozenset({"settled", "halted", "missed_activation", "closed_before_start"})


def _name() -> str:
    """The run's name, as `RunNamer` gave it while the run was still scheduled: the round's slug."""
    return round_run_name(flow_run.get_parameters(), flow_run.get_scheduled_start_time(), _schedule())


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
    holder = Holder.this_process(str(flow_run.get_id() or "") or None)
    await recover(settings, holder, round_.slug, strategies)
    store = make_engine(store_url)
    try:
        claim = _claim(store, round_, holder)
    finally:
        store.dispose()
    if claim is None:
        return None
    logger.info(
        "%s (%s mode, attempt %d): wake %s, activation %s, close %s",
        round_.slug,
        settings.mode,
        claim.attempt,
        round_.wake.time(),
        round_.activation.time(),
        round_.close.time(),
    )
    if claim.previous:
        logger.warning(
            "%s: resuming a round its previous holder left unfinished (%s)", round_.slug, claim.previous
        )
    try:
        market = await discover(settings, round_.slug)
    except Exception as exc:
        _abort(settings, round_, claim, f"discovery failed: {exc}", release=True)
        raise
    try:
        outcome = await run_round(settings, round_, market, claim, strategies)
    except Exception as exc:
        # The claim stays open: a new run of this round, or the next round's run, finishes it.
        _abort(settings, round_, claim, f"the round's run failed: {exc}", release=False)
        raise
    outcome = await settle(settings, outcome)
    report(settings, round_, outcome)
    logger.info("%s: %s, P&L %s", round_.slug, outcome.status, outcome.pnl)
    return outcome


def _claim(store: Engine, round_: Round, holder: Holder) -> Claim | None:
    """Our claim on the round, or None (with the reason logged) when another run has or had it."""
    logger = get_run_logger()
    try:
        claim = claim_round(store, round_.slug, holder, datetime.now(UTC))
    except RoundFinishedError as exc:
        logger.warning("%s; not running it twice", exc)
        return None
    except RoundClaimedError as exc:
        logger.warning("not trading: %s", exc)
        return None
    with Session(store) as session:
        existing = session.get(RoundRow, round_.slug)
    if claim.attempt == 1 and existing is not None and existing.status in DONE:
        # Ran before claims were kept: the stored status is the record of it.
        release_claim(store, claim, existing.status, datetime.now(UTC))
        logger.warning("%s already ran (status %s); not running it twice", round_.slug, existing.status)
        return None
    return claim


def _abort(settings: Settings, round_: Round, claim: Claim, reason: str, *, release: bool) -> None:
    """A round that could not start or whose run failed leaves a row saying so and why."""
    store = make_engine(settings.resolved_database_url)
    try:
        with Session(store) as session:
            row = session.get(RoundRow, round_.slug) or round_row(round_, "aborted", mode=settings.mode)
            row.status, row.reason, row.updated_at = "aborted", reason[:500], datetime.now(UTC)
            row.flow_run_id = claim.holder.flow_run_id
            session.add(row)
            session.commit()
        if release:
            release_claim(store, claim, "aborted", datetime.now(UTC))
    except Exception as exc:  # the store away: the error itself is what the operator needs
        get_run_logger().error("%s: could not record the abort (%s): %s", round_.slug, exc, reason)
    finally:
        store.dispose()
