"""Finishing what a dead run left: spools nobody drains, rounds left `active`, positions never settled.

Whoever runs next (Prefect's retry, a new run for the same round, the next round's run) drains the spool
directories of dead processes first, so the store holds everything the dead run recorded, then reads the
round's orders and fills back: the position, the trade count and the exposure carry over, and a round
whose window has closed is settled on the venue's official outcome.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import datetime_to_ms
from core.engine.assembly import EngineRecipe, build_engine
from core.engine.engine import ListSink, RoundMarket
from core.events import Fill, Liquidity, OrderType, Outcome, Side, TradeStatus
from core.execution.base import OrderIntent
from core.market.fees import FeeSchedule
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.store.claims import (
    Claim,
    Holder,
    RoundClaimedError,
    RoundFinishedError,
    claim_round,
    release_claim,
)
from core.store.models import (
    DecisionRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    RiskEventRecord,
    RoundRow,
    SettlementRecord,
    SettlementRow,
    VenueRulesRow,
    table_of,
    utc_now,
)
from core.store.outbox import Outbox
from core.store.spool import SpoolLockedError
from core.store.writer import insert_rows

log = logging.getLogger(__name__)

DEADLETTER = "deadletter.jsonl"
UNFINISHED = ("active", "aborted", "unsettled")


@dataclass(slots=True)
class DrainReport:
    """What the start-up drain found: spools written to the store and removed, spools still in use by a
    live process, and spools it could not finish (the store away, or records set aside)."""

    drained: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def drain_spools(
    root: Path, database: str | Engine, *, timeout_s: float = 30.0, skip: Iterable[Path] = ()
) -> DrainReport:
    """Write every spool under `root` that no live process holds to the store; remove the empty ones."""
    report = DrainReport()
    if not root.is_dir():
        return report
    skipped = {path.resolve() for path in skip}
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and p.resolve() not in skipped):
        try:
            outbox = Outbox(directory, database).start()
        except SpoolLockedError:
            report.busy.append(directory.name)
            continue
        if remove_if_drained(directory, drained=outbox.close(timeout_s)):
            report.drained.append(directory.name)
        else:
            report.left.append(directory.name)
    return report


def remove_if_drained(directory: Path, *, drained: bool) -> bool:
    """A spool whose every record is in the store, none set aside, is removed; True if it was."""
    if not drained or (directory / DEADLETTER).exists():
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return True


@dataclass(frozen=True, slots=True)
class RoundHistory:
    """What earlier attempts recorded of one round in one mode."""

    orders: tuple[OrderIntent, ...] = ()
    fills: tuple[Fill, ...] = ()
    settlement: SettlementRow | None = None

    @property
    def traded(self) -> bool:
        return bool(self.orders)


def load_history(engine: Engine, slug: str, mode: str) -> RoundHistory:
    """The round's orders, fills and settlement as the store has them, for `mode`'s runs only."""
    with Session(engine) as session:
        orders = session.exec(
            select(OrderRow)
            .where(col(OrderRow.round_slug) == slug)
            .where(col(OrderRow.mode) == mode)
            .where(col(OrderRow.run_id) == mode)
            .order_by(col(OrderRow.ts), col(OrderRow.id))
        ).all()
        decision_ids = [o.decision_id for o in orders if o.decision_id]
        strategies = {
            d.id: d.strategy
            for d in session.exec(select(DecisionRow).where(col(DecisionRow.id).in_(decision_ids))).all()
        }
        fills = session.exec(
            select(FillRow)
            .where(col(FillRow.round_slug) == slug)
            .where(col(FillRow.mode) == mode)
            .where(col(FillRow.run_id) == mode)
            .order_by(col(FillRow.ts), col(FillRow.id))
        ).all()
        settlement = session.exec(
            select(SettlementRow)
            .where(col(SettlementRow.round_slug) == slug)
            .where(col(SettlementRow.mode) == mode)
            .where(col(SettlementRow.run_id) == mode)
        ).first()
    return RoundHistory(
        orders=tuple(_intent(row, strategies.get(row.decision_id or "")) for row in orders),
        fills=tuple(_fill(row) for row in fills),
        settlement=settlement,
    )


def venue_order_ids(engine: Engine, slug: str, mode: str = "live") -> dict[str, str]:
    """The venue's order id -> our order id, for the round's orders of `mode`'s runs that the venue
    acknowledged (an order event naming its venue id)."""
    with Session(engine) as session:
        pairs = session.exec(
            select(OrderEventRow.venue_order_id, OrderEventRow.order_id)
            .join(OrderRow, col(OrderRow.id) == col(OrderEventRow.order_id))
            .where(col(OrderRow.round_slug) == slug)
            .where(col(OrderRow.mode) == mode)
            .where(col(OrderRow.run_id) == mode)
            .where(col(OrderEventRow.venue_order_id).is_not(None))
        ).all()
    return {venue_id: order_id for venue_id, order_id in pairs if venue_id}


def _intent(row: OrderRow, strategy: str | None) -> OrderIntent:
    return OrderIntent(
        order_id=row.id,
        round_slug=row.round_slug,
        token_id=row.token_id,
        outcome=Outcome(row.outcome),
        side=Side(row.side),
        price=row.price,
        size=row.size,
        order_type=OrderType(row.order_type),
        decision_id=row.decision_id,
        strategy=strategy,
        post_only=row.post_only,
    )


def _fill(row: FillRow) -> Fill:
    return Fill(
        ts_ms=datetime_to_ms(row.ts),
        order_id=row.order_id,
        trade_id=row.trade_id,
        token_id=row.token_id,
        side=Side(row.side),
        price=row.price,
        size=row.size,
        fee=row.fee,
        liquidity=Liquidity(row.liquidity),
        status=TradeStatus(row.status),
    )


def unfinished_rounds(engine: Engine, mode: str, now: datetime, *, within: timedelta) -> list[RoundRow]:
    """Closed rounds of `mode` that no run finished: left `active` by a dead process, or `aborted` and
    `unsettled` with a position that has no settlement yet."""
    with Session(engine) as session:
        rounds = session.exec(
            select(RoundRow)
            .where(col(RoundRow.status).in_(UNFINISHED))
            .where(col(RoundRow.mode) == mode)
            .where(col(RoundRow.close_at) <= now)
            .where(col(RoundRow.close_at) >= now - within)
            .order_by(col(RoundRow.close_at))
        ).all()
    return list(rounds)


def market_of_rules(rules: VenueRulesRow, strike: Decimal | None) -> RoundMarket:
    """The round's market as discovered by the run that traded it (its stored venue rules)."""
    return RoundMarket(
        slug=rules.round_slug,
        up_token_id=rules.up_token_id,
        down_token_id=rules.down_token_id,
        tick_size=rules.tick_size,
        min_order_size=rules.min_order_size,
        fee_schedule=FeeSchedule(
            rate=rules.fee_rate, exponent=rules.fee_exponent, taker_only=rules.fee_taker_only
        ),
        settlement_source=SettlementSource(rules.settlement_source),
        strike=strike,
        condition_id=rules.condition_id,
    )


def venue_rules(engine: Engine, slug: str) -> VenueRulesRow | None:
    with Session(engine) as session:
        return session.get(VenueRulesRow, slug)


OfficialOutcome = Callable[[str], Awaitable[Outcome | None]]


@dataclass(frozen=True, slots=True)
class Recovered:
    """What became of one unfinished round: its new status and why."""

    slug: str
    status: str
    reason: str
    pnl: Decimal | None = None


async def finish_unfinished_rounds(
    store: Engine,
    holder: Holder,
    recipe: EngineRecipe,
    *,
    mode: str,
    official: OfficialOutcome,
    now: datetime,
    skip: str | None = None,
    within: timedelta = timedelta(days=1),
) -> list[Recovered]:
    """Settle or abort the closed rounds that dead runs left unfinished (call after `drain_spools`)."""
    done: list[Recovered] = []
    for row in unfinished_rounds(store, mode, now, within=within):
        if row.slug == skip:
            continue
        try:
            claim = claim_round(store, row.slug, holder, now)
        except (RoundClaimedError, RoundFinishedError):
            continue
        recovered = await _finish(store, row, claim, recipe, mode=mode, official=official, now=now)
        done.append(recovered)
        if recovered.status != "unsettled":
            release_claim(store, claim, recovered.status, now)
    return done


async def _finish(
    store: Engine,
    row: RoundRow,
    claim: Claim,
    recipe: EngineRecipe,
    *,
    mode: str,
    official: OfficialOutcome,
    now: datetime,
) -> Recovered:
    history = load_history(store, row.slug, mode)
    rules = venue_rules(store, row.slug)
    if history.settlement is not None:
        return _record(store, row, "settled", "settled before its run died", history.settlement.pnl)
    if not history.traded or rules is None:
        return _record(
            store,
            row,
            "aborted",
            "its run ended without finishing it; nothing was traded, so nothing to settle",
        )
    winner = await official(row.slug)
    if winner is None:
        return _record(
            store, row, "unsettled", "its run died; the venue has not published the outcome yet (retried)"
        )
    round_ = Round(open_s=datetime_to_ms(row.open_at) // 1000, length_s=row.length_s)
    sink = ListSink()
    engine = build_engine(
        round_,
        market_of_rules(rules, row.strike),
        recipe,
        run_id=mode,
        sink=sink,
        attempt=claim.attempt,
    )
    engine.restore(history.orders, history.fills)
    settlement = engine.settle(winner, None, datetime_to_ms(now))
    rows = [r for r in sink.rows if isinstance(r, SettlementRecord | RiskEventRecord)]
    for record in rows:
        if isinstance(record, SettlementRecord):
            record.mode = mode
    insert_rows(store, [(table_of(r), r.model_dump()) for r in rows])
    reason = f"its run died; settled on the venue's outcome ({winner.value}) by a later run"
    return _record(store, row, "settled", reason, settlement.pnl)


def _record(store: Engine, row: RoundRow, status: str, reason: str, pnl: Decimal | None = None) -> Recovered:
    with Session(store) as session:
        stored = session.get(RoundRow, row.slug)
        if stored is not None:
            stored.status, stored.reason, stored.updated_at = status, reason, utc_now()
            session.add(stored)
            session.commit()
    log.warning("%s: %s (%s)", row.slug, status, reason)
    return Recovered(row.slug, status, reason, pnl)
