"""The store's history as the API shows it: pages of rounds, and one round in full. A round's records are
those of its own mode's run (`run_id` = the mode), so backtest rows of the same slug never mix in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, ScalarSelect, Select, bindparam, exists, func
from sqlalchemy import select as select_columns
from sqlalchemy.orm import Mapped
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

Key = str | ColumnElement[str] | Mapped[str]
"""A round's slug or run: a value, or a column of the query it is used in."""
RoundTable = TypeVar("RoundTable", DecisionRow, RiskEventRow, OrderRow, FillRow, SettlementRow, TickSampleRow)
Record = TypeVar("Record", bound=SQLModel)


def round_page(session: Session, query: RoundQuery) -> RoundPage:
    """One page of rounds, newest first, and how many match in all. The page's slugs are picked first along
    the (open_at, slug) index, and only they are joined to their settlement and counts. The statements are
    built once per set of filters (values are bound), and rows are read plain: per request, building the
    statements and ORM objects cost more than running the queries."""
    shape = _Shape(
        mode=query.mode is not None,
        status=query.status is not None,
        since=query.since is not None,
        until=query.until is not None,
        traded=query.traded,
    )
    count_statement, page_statement = _statements(shape)
    values = {
        "mode": query.mode,
        "status": query.status.value if query.status is not None else None,
        "since": query.since,
        "until": query.until,
        "offset": query.offset,
        "limit": query.limit,
    }
    connection = session.connection()
    count = connection.execute(count_statement, values).scalar_one()
    rows = connection.execute(page_statement, values).mappings().all()
    # One validation of the whole page (rows as plain dicts) costs a quarter of one per row.
    page = {"data": [dict(row) for row in rows], "count": count, "limit": query.limit, "offset": query.offset}
    return RoundPage.model_validate(page)


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which filters a page of rounds has (`traded`: with fills, without, or either)."""

    mode: bool
    status: bool
    since: bool
    until: bool
    traded: bool | None


@cache
def _statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """The count and the page of rounds for one shape of filters, with their values as bound parameters."""
    where: list[ColumnElement[bool]] = []
    if shape.mode:
        where.append(col(RoundRow.mode) == bindparam("mode"))
    if shape.status:
        where.append(col(RoundRow.status) == bindparam("status"))
    if shape.since:
        where.append(col(RoundRow.open_at) >= bindparam("since"))
    if shape.until:
        where.append(col(RoundRow.open_at) < bindparam("until"))
    if shape.traded is not None:
        filled = exists().where(_of_run(FillRow, col(RoundRow.slug), col(RoundRow.mode)))
        where.append(filled if shape.traded else ~filled)
    newest_first = (col(RoundRow.open_at).desc(), col(RoundRow.slug).desc())
    page = (
        select_columns(*_ROUND_COLUMNS)
        .where(*where)
        .order_by(*newest_first)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    ).subquery("page")
    settled = _Latest(page.c.slug, page.c.mode)
    rows = select_columns(
        *(page.c[name] for name in _ROUND_COLUMN_NAMES if name != "strike"),
        func.coalesce(settled(SettlementRow.strike), page.c.strike).label("strike"),
        settled(SettlementRow.outcome).label("winner"),
        settled(SettlementRow.settle_price).label("settle_price"),
        settled(SettlementRow.pnl).label("pnl"),
        settled(SettlementRow.fees).label("fees"),
        _count_of(OrderRow, page.c.slug, page.c.mode).label("orders"),
        _count_of(FillRow, page.c.slug, page.c.mode).label("fills"),
    ).order_by(page.c.open_at.desc(), page.c.slug.desc())
    return select_columns(func.count()).select_from(RoundRow).where(*where), rows


def _of_run(table: type[RoundTable], slug: Key, run: Key) -> ColumnElement[bool]:
    """A row of `table` of this round and run (a round's own run: `run_id` = the round's mode)."""
    return (col(table.round_slug) == slug) & (col(table.run_id) == run)


@dataclass(frozen=True, slots=True)
class _Latest:
    """A column of the latest settlement of a page's round in its own run (settlements are append-only), as
    a subquery per column: every database walks the (round_slug, run_id, ts) index for the page's rounds
    alone (a join to the settlements made PostgreSQL hash every settlement of the store)."""

    slug: ColumnElement[str]
    run: ColumnElement[str]

    def __call__(self, column: Any) -> ScalarSelect[Any]:
        return (
            select_columns(column)
            .where(_of_run(SettlementRow, self.slug, self.run))
            .order_by(col(SettlementRow.ts).desc())
            .limit(1)
            .scalar_subquery()
        )


def _count_of(
    table: type[RoundTable], slug: ColumnElement[str], run: ColumnElement[str]
) -> ScalarSelect[int]:
    return select_columns(func.count()).select_from(table).where(_of_run(table, slug, run)).scalar_subquery()


_ROUND_COLUMN_NAMES = (
    "slug",
    "mode",
    "status",
    "reason",
    "open_at",
    "close_at",
    "length_s",
    "strike",
    "flow_run_id",
)
_ROUND_COLUMNS = tuple(getattr(RoundRow.__table__.c, name) for name in _ROUND_COLUMN_NAMES)  # type: ignore[attr-defined]


def summary(row: RoundRow, settlement: SettlementRow | None, *, orders: int, fills: int) -> RoundSummary:
    """One round as the drill-down heads it (the same fields a page of rounds reads in SQL)."""
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
        orders=orders,
        fills=fills,
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
        counted = summary(row, settlement, orders=len(orders), fills=len(fills))
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
            select(table).where(_of_run(table, slug, run)).order_by(col(table.ts), col(table.id))
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
