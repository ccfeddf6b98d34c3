"""The audit trail as the API pages it: decisions, orders (with their events and fills), fills, risk events,
operator actions and alerts, newest first. Without a `run_id`, records are those of the agent's own runs
(`run_id` = the mode), so backtest rows never mix in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, SQLModel, col, select

from api.models import DecisionPublic
from api.record_models import (
    AlertPage,
    AlertQuery,
    DecisionPage,
    DecisionQuery,
    FillPage,
    FillPublic,
    FillQuery,
    OperatorActionPage,
    OperatorActionQuery,
    OrderPage,
    OrderQuery,
    OrderSummary,
    RiskEventPage,
    RiskEventQuery,
    RunWindow,
    Window,
)
from core.engine.policy import PolicyReason
from core.events import OrderStatus
from core.store.models import (
    AlertRecord,
    AlertRow,
    DecisionRow,
    FillRecord,
    FillRow,
    OperatorActionRecord,
    OperatorActionRow,
    OrderEventRecord,
    OrderEventRow,
    OrderRow,
    RiskEventRecord,
    RiskEventRow,
)

MODES = ("paper", "live")
Table = TypeVar("Table", DecisionRow, OrderRow, FillRow, RiskEventRow, OperatorActionRow, AlertRow)
RunTable = TypeVar("RunTable", DecisionRow, OrderRow, FillRow, RiskEventRow)
Record = TypeVar("Record", bound=SQLModel)

STATUS_RANK = {
    OrderStatus.UNKNOWN.value: 0,
    OrderStatus.PENDING.value: 1,
    OrderStatus.LIVE.value: 2,
    OrderStatus.PARTIALLY_FILLED.value: 3,
    OrderStatus.FILLED.value: 4,
    OrderStatus.CANCELED.value: 4,
    OrderStatus.EXPIRED.value: 4,
    OrderStatus.REJECTED.value: 4,
}
"""An order's latest event is its newest; events of the same instant (a paper order placed and filled in
one millisecond) are ordered by how far along the status is."""


def decision_page(session: Session, query: DecisionQuery) -> DecisionPage:
    """Decisions with the risk verdicts on the orders they led to."""
    where = _runs(DecisionRow, query)
    if query.strategy is not None:
        where.append(col(DecisionRow.strategy) == query.strategy)
    if query.side is not None:
        where.append(col(DecisionRow.side) == query.side)
    if query.outcome is not None:
        where.append(col(DecisionRow.outcome) == query.outcome)
    if query.accepted is not None:
        accepted = col(DecisionRow.policy) == PolicyReason.ACCEPTED.value
        where.append(accepted if query.accepted else ~accepted)
    if query.policy is not None:
        where.append(col(DecisionRow.policy) == query.policy.value)
    if query.risk_reason is not None:
        verdicts = (
            select(col(RiskEventRow.decision_id))
            .where(col(RiskEventRow.kind) == "verdict")
            .where(col(RiskEventRow.reason_code) == query.risk_reason)
            .where(_run_of(RiskEventRow, query))
        )
        where.append(col(DecisionRow.id).in_(verdicts))
    rows, count = _page(session, DecisionRow, where, query)
    verdicts_of: defaultdict[str, list[RiskEventRecord]] = defaultdict(list)
    for event in session.exec(
        select(RiskEventRow)
        .where(col(RiskEventRow.decision_id).in_([row.id for row in rows]))
        .order_by(col(RiskEventRow.ts), col(RiskEventRow.id))
    ).all():
        verdicts_of[str(event.decision_id)].append(_public(RiskEventRecord, event))
    data = [
        DecisionPublic.model_validate({**row.model_dump(), "verdicts": verdicts_of[row.id]}) for row in rows
    ]
    return DecisionPage(data=data, count=count, limit=query.limit, offset=query.offset)


def order_page(session: Session, query: OrderQuery) -> OrderPage:
    """Orders with their status changes, fills, deciding strategy and latest status."""
    where = _runs(OrderRow, query)
    if query.strategy is not None:
        where.append(col(OrderRow.decision_id).in_(_decided_by(query.strategy, query)))
    if query.status is not None:
        where.append(_latest_status() == query.status.value)
    rows, count = _page(session, OrderRow, where, query)
    ids = [row.id for row in rows]
    events_of: defaultdict[str, list[OrderEventRecord]] = defaultdict(list)
    for event in session.exec(
        select(OrderEventRow)
        .where(col(OrderEventRow.order_id).in_(ids))
        .order_by(col(OrderEventRow.ts), col(OrderEventRow.id))
    ).all():
        events_of[event.order_id].append(_public(OrderEventRecord, event))
    fills_of: defaultdict[str, list[FillRecord]] = defaultdict(list)
    for fill in session.exec(
        select(FillRow).where(col(FillRow.order_id).in_(ids)).order_by(col(FillRow.ts), col(FillRow.id))
    ).all():
        fills_of[fill.order_id].append(_public(FillRecord, fill))
    decided = _strategies(session, [row.decision_id for row in rows if row.decision_id is not None])
    data = []
    for row in rows:
        events = events_of[row.id]
        latest = max(events, key=_progress, default=None)
        data.append(
            OrderSummary.model_validate(
                {
                    **row.model_dump(),
                    "events": events,
                    "fills": fills_of[row.id],
                    "strategy": decided.get(row.decision_id) if row.decision_id is not None else None,
                    "status": latest.status if latest is not None else None,
                    "filled_size": sum((fill.size for fill in fills_of[row.id]), Decimal(0)),
                }
            )
        )
    return OrderPage(data=data, count=count, limit=query.limit, offset=query.offset)


def fill_page(session: Session, query: FillQuery) -> FillPage:
    """Fills with the strategy whose decision led to their order."""
    where = _runs(FillRow, query)
    if query.strategy is not None:
        orders = select(col(OrderRow.id)).where(
            col(OrderRow.decision_id).in_(_decided_by(query.strategy, query))
        )
        where.append(col(FillRow.order_id).in_(orders))
    rows, count = _page(session, FillRow, where, query)
    strategy_of = {
        order_id: strategy
        for order_id, strategy in session.exec(
            select(col(OrderRow.id), col(DecisionRow.strategy))
            .join(DecisionRow, col(DecisionRow.id) == col(OrderRow.decision_id))
            .where(col(OrderRow.id).in_([row.order_id for row in rows]))
        ).all()
    }
    data = [
        FillPublic.model_validate({**row.model_dump(), "strategy": strategy_of.get(row.order_id)})
        for row in rows
    ]
    return FillPage(data=data, count=count, limit=query.limit, offset=query.offset)


def risk_event_page(session: Session, query: RiskEventQuery) -> RiskEventPage:
    where = _runs(RiskEventRow, query)
    if query.kind is not None:
        where.append(col(RiskEventRow.kind) == query.kind)
    if query.reason is not None:
        where.append(col(RiskEventRow.reason_code) == query.reason)
    if query.approved is not None:
        where.append(col(RiskEventRow.approved).is_(query.approved))
    rows, count = _page(session, RiskEventRow, where, query)
    data = [_public(RiskEventRecord, row) for row in rows]
    return RiskEventPage(data=data, count=count, limit=query.limit, offset=query.offset)


def operator_action_page(session: Session, query: OperatorActionQuery) -> OperatorActionPage:
    where = _window(OperatorActionRow, query)
    if query.actor is not None:
        where.append(col(OperatorActionRow.actor) == query.actor)
    if query.action is not None:
        where.append(col(OperatorActionRow.action) == query.action)
    rows, count = _page(session, OperatorActionRow, where, query)
    data = [_public(OperatorActionRecord, row) for row in rows]
    return OperatorActionPage(data=data, count=count, limit=query.limit, offset=query.offset)


def alert_page(session: Session, query: AlertQuery) -> AlertPage:
    where = _window(AlertRow, query)
    if query.code is not None:
        where.append(col(AlertRow.code) == query.code)
    if query.severity is not None:
        where.append(col(AlertRow.severity) == query.severity)
    if query.round is not None:
        where.append(col(AlertRow.round_slug) == query.round)
    rows, count = _page(session, AlertRow, where, query)
    data = [_public(AlertRecord, row) for row in rows]
    return AlertPage(data=data, count=count, limit=query.limit, offset=query.offset)


def _page(
    session: Session, table: type[Table], where: list[ColumnElement[bool]], query: Window
) -> tuple[Sequence[Table], int]:
    count = session.exec(select(func.count()).select_from(table).where(*where)).one()
    rows = session.exec(
        select(table)
        .where(*where)
        .order_by(col(table.ts).desc(), col(table.id).desc())
        .offset(query.offset)
        .limit(query.limit)
    ).all()
    return rows, count


def _window(table: type[Table], query: Window) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(col(table.ts) >= query.since)
    if query.until is not None:
        where.append(col(table.ts) < query.until)
    return where


def _runs(table: type[RunTable], query: RunWindow) -> list[ColumnElement[bool]]:
    where = [*_window(table, query), _run_of(table, query)]
    if query.round is not None:
        where.append(col(table.round_slug) == query.round)
    return where


def _run_of(table: type[RunTable], query: RunWindow) -> ColumnElement[bool]:
    """The run asked for, or the agent's own runs in the mode asked for (both by default)."""
    if query.run_id is not None:
        return col(table.run_id) == query.run_id
    if query.mode is not None:
        return col(table.run_id) == query.mode
    return col(table.run_id).in_(MODES)


def _decided_by(strategy: str, query: RunWindow) -> Any:
    """The ids of the decisions of `strategy` in the runs asked for (a subquery)."""
    return (
        select(col(DecisionRow.id))
        .where(col(DecisionRow.strategy) == strategy)
        .where(_run_of(DecisionRow, query))
    )


def _strategies(session: Session, decision_ids: list[str]) -> dict[str, str]:
    return {
        decision_id: strategy
        for decision_id, strategy in session.exec(
            select(col(DecisionRow.id), col(DecisionRow.strategy)).where(
                col(DecisionRow.id).in_(decision_ids)
            )
        ).all()
    }


def _rank() -> Any:
    return case(STATUS_RANK, value=col(OrderEventRow.status), else_=0)


def _latest_status() -> Any:
    """The status of the order's latest event (a scalar subquery correlated with `orders`)."""
    return (
        select(col(OrderEventRow.status))
        .where(col(OrderEventRow.order_id) == col(OrderRow.id))
        .order_by(col(OrderEventRow.ts).desc(), _rank().desc(), col(OrderEventRow.id).desc())
        .limit(1)
        .scalar_subquery()
    )


def _progress(event: OrderEventRecord) -> tuple[Any, int, str]:
    return event.ts, STATUS_RANK.get(event.status, 0), event.id


def _public(record: type[Record], row: SQLModel) -> Record:
    """The plain record of a table row: the public shape, without the table's machinery."""
    return record.model_validate(row.model_dump())
