"""The store's history as the API shows it: pages of rounds, and one round in full. A round's records are
those of its own mode's run (`run_id` = the mode), so backtest rows of the same slug never mix in."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, Engine, exists, func
from sqlmodel import Session, SQLModel, col, select

from api.models import (
    Counts,
    DecisionPublic,
    OrderPublic,
    Pnl,
    RoundDetail,
    RoundPage,
    RoundQuery,
    RoundSummary,
    Tape,
    VenueRulesPublic,
)
from core.engine.tape import segment_path
from core.live.round_report import load_round_report
from core.store.models import (
    DecisionRecord,
    DecisionRow,
    FillRecord,
    FillRow,
    OrderEventRecord,
    OrderEventRow,
    OrderRecord,
    OrderRow,
    RiskEventRecord,
    RiskEventRow,
    RoundRow,
    SettlementRecord,
    SettlementRow,
    TickSampleRecord,
    TickSampleRow,
    VenueRulesRow,
)

MAX_TAPE_SEGMENTS = 100
MAX_SAMPLES = 1_000
"""A round's tick samples come every 5 s (about 200 a round); a bound all the same."""

RoundTable = TypeVar("RoundTable", DecisionRow, RiskEventRow, OrderRow, FillRow, SettlementRow, TickSampleRow)
Record = TypeVar("Record", bound=SQLModel)


def round_page(session: Session, query: RoundQuery) -> RoundPage:
    """One page of rounds, newest first, and how many match in all."""
    where = _filters(query)
    count = session.exec(select(func.count()).select_from(RoundRow).where(*where)).one()
    rows = session.exec(
        select(RoundRow)
        .where(*where)
        .order_by(col(RoundRow.open_at).desc(), col(RoundRow.slug).desc())
        .offset(query.offset)
        .limit(query.limit)
    ).all()
    return RoundPage(data=summaries(session, rows), count=count, limit=query.limit, offset=query.offset)


def _filters(query: RoundQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.mode is not None:
        where.append(col(RoundRow.mode) == query.mode)
    if query.status is not None:
        where.append(col(RoundRow.status) == query.status.value)
    if query.since is not None:
        where.append(col(RoundRow.open_at) >= query.since)
    if query.until is not None:
        where.append(col(RoundRow.open_at) < query.until)
    if query.traded is not None:
        filled = (
            exists()
            .where(col(FillRow.round_slug) == col(RoundRow.slug))
            .where(col(FillRow.run_id) == col(RoundRow.mode))
        )
        where.append(filled if query.traded else ~filled)
    return where


def summaries(session: Session, rows: Sequence[RoundRow]) -> list[RoundSummary]:
    """The rounds with their settlement and counts, in three queries whatever the page size."""
    slugs = [row.slug for row in rows]
    settled: dict[tuple[str, str], SettlementRow] = {}
    for settlement in session.exec(
        select(SettlementRow).where(col(SettlementRow.round_slug).in_(slugs)).order_by(col(SettlementRow.ts))
    ).all():
        settled[settlement.round_slug, settlement.run_id] = settlement
    orders = _counts(session, OrderRow, slugs)
    fills = _counts(session, FillRow, slugs)
    return [summary(row, settled.get((row.slug, row.mode)), orders, fills) for row in rows]


def _counts(
    session: Session, table: type[OrderRow] | type[FillRow], slugs: list[str]
) -> Counter[tuple[str, str]]:
    found = session.exec(
        select(table.round_slug, table.run_id, func.count())
        .where(col(table.round_slug).in_(slugs))
        .group_by(col(table.round_slug), col(table.run_id))
    ).all()
    return Counter({(slug, run): n for slug, run, n in found})


def summary(
    row: RoundRow,
    settlement: SettlementRow | None,
    orders: Counter[tuple[str, str]],
    fills: Counter[tuple[str, str]],
) -> RoundSummary:
    return RoundSummary(
        slug=row.slug,
        mode=row.mode,
        status=row.status,
        reason=row.reason,
        open_at=row.open_at,
        close_at=row.close_at,
        length_s=row.length_s,
        strike=settlement.strike if settlement is not None and settlement.strike is not None else row.strike,
        flow_run_id=row.flow_run_id,
        winner=settlement.outcome if settlement is not None else None,
        settle_price=settlement.settle_price if settlement is not None else None,
        pnl=settlement.pnl if settlement is not None else None,
        fees=settlement.fees if settlement is not None else None,
        orders=orders[row.slug, row.mode],
        fills=fills[row.slug, row.mode],
    )


def round_detail(store: Engine, slug: str, data_dir: Path) -> RoundDetail | None:
    """Everything the store holds on one round, or None when it has no such round."""
    with Session(store) as session:
        row = session.get(RoundRow, slug)
        if row is None:
            return None
        run = row.mode
        rules = session.get(VenueRulesRow, slug)
        decisions = _of_round(session, DecisionRow, slug, run)
        events = _of_round(session, RiskEventRow, slug, run)
        orders = _of_round(session, OrderRow, slug, run)
        fills = _of_round(session, FillRow, slug, run)
        order_events = session.exec(
            select(OrderEventRow)
            .where(col(OrderEventRow.order_id).in_([o.id for o in orders]))
            .order_by(col(OrderEventRow.ts), col(OrderEventRow.id))
        ).all()
        settlements = _of_round(session, SettlementRow, slug, run)
        settlement = settlements[-1] if settlements else None
        samples = _of_round(session, TickSampleRow, slug, run)
        counted = summary(
            row,
            settlement,
            Counter({(slug, run): len(orders)}),
            Counter({(slug, run): len(fills)}),
        )
    report = load_round_report(store, slug, run, status=row.status)
    verdicts: defaultdict[str, list[RiskEventRecord]] = defaultdict(list)
    for event in events:
        if event.decision_id is not None:
            verdicts[event.decision_id].append(_as(RiskEventRecord, event))
    events_of: defaultdict[str, list[OrderEventRecord]] = defaultdict(list)
    for order_event in order_events:
        events_of[order_event.order_id].append(_as(OrderEventRecord, order_event))
    fills_of: defaultdict[str, list[FillRecord]] = defaultdict(list)
    for fill in fills:
        fills_of[fill.order_id].append(_as(FillRecord, fill))
    return RoundDetail(
        round=counted,
        headline=report.headline,
        venue_rules=VenueRulesPublic.of(rules) if rules is not None else None,
        settlement=_as(SettlementRecord, settlement) if settlement is not None else None,
        pnl=Pnl(total=report.pnl, fees=report.fees, per_strategy=report.per_strategy),
        counts=Counts(policy=dict(report.policy), verdicts=dict(report.verdicts)),
        decisions=[
            DecisionPublic.model_validate({**_as(DecisionRecord, d).model_dump(), "verdicts": verdicts[d.id]})
            for d in decisions
        ],
        risk_events=[_as(RiskEventRecord, e) for e in events],
        orders=[
            OrderPublic.model_validate(
                {**_as(OrderRecord, o).model_dump(), "events": events_of[o.id], "fills": fills_of[o.id]}
            )
            for o in orders
        ],
        tape=tape_of(data_dir, slug),
        flow_run_id=row.flow_run_id,
        samples=[_as(TickSampleRecord, sample) for sample in samples[-MAX_SAMPLES:]],
    )


def _of_round(session: Session, table: type[RoundTable], slug: str, run: str) -> list[RoundTable]:
    return list(
        session.exec(
            select(table)
            .where(col(table.round_slug) == slug)
            .where(col(table.run_id) == run)
            .order_by(col(table.ts), col(table.id))
        ).all()
    )


def _as(record: type[Record], row: SQLModel) -> Record:
    """The plain record of a table row (the public shape, without the table's machinery)."""
    return record.model_validate(row.model_dump())


def tape_of(data_dir: Path, slug: str) -> Tape:
    """Where the round's tape is recorded (as the round task names it), and its segments found here."""
    path = data_dir / "tapes" / f"{slug}.parquet"
    files = []
    for number in range(1, MAX_TAPE_SEGMENTS + 1):
        segment = segment_path(path, number)
        if not segment.exists():
            break
        files.append(str(segment))
    return Tape(path=str(path), files=files)
