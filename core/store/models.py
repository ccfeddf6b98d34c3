"""The tables of the audit trail and of the agent's state.

Audit tables (AUDIT_TABLES) are append-only: a change of state is a new row, and the database refuses
UPDATE and DELETE on them. Every row has a unique id chosen by its producer, so re-inserting it is a no-op:
that is what lets the outbox retry without ever writing a record twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

import core.store.auth  # noqa: F401 - the API's users and tokens belong to the schema too
from core.store.types import ExactDecimal, JSONType, UTCDateTime


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(*, index: bool = True) -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, index=index)


def _money(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_type=ExactDecimal, nullable=nullable)


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class RoundRow(SQLModel, table=True):
    """A round the agent knows of, and how far it got (scheduled, active, missed, settled, skipped)."""

    __tablename__ = "rounds"
    __table_args__ = (Index("ix_rounds_open_at_slug", "open_at", "slug"),)  # history pages walk it

    slug: str = Field(primary_key=True, max_length=64)
    open_at: datetime = Field(sa_type=UTCDateTime)
    close_at: datetime = Field(sa_type=UTCDateTime)
    length_s: int
    status: str = Field(default="scheduled", max_length=32)
    strike: Decimal | None = _money(nullable=True)
    settlement_source: str | None = Field(default=None, max_length=32)
    flow_run_id: str | None = Field(default=None, max_length=64)
    mode: str = Field(default="paper", max_length=8)
    reason: str | None = Field(default=None, max_length=500)
    updated_at: datetime = _ts(index=False)


class RoundClaimRow(SQLModel, table=True):
    """Who trades a round: one row per round, taken atomically; a holder that dies loses it (its process
    is gone on the same host, or its lease ran out elsewhere), and the next holder resumes the round."""

    __tablename__ = "round_claims"

    slug: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    host: str = Field(max_length=100)
    pid: int
    pid_started: str = Field(default="", max_length=32)
    flow_run_id: str | None = Field(default=None, max_length=64)
    attempt: int = 1
    claimed_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime = Field(sa_type=UTCDateTime)
    released: bool = False
    outcome: str | None = Field(default=None, max_length=32)


class VenueRulesRow(SQLModel, table=True):
    """The venue's rules for one round's market, as discovered before trading."""

    __tablename__ = "venue_rules"

    round_slug: str = Field(primary_key=True, max_length=64)
    condition_id: str = Field(max_length=80)
    up_token_id: str = Field(max_length=100)
    down_token_id: str = Field(max_length=100)
    tick_size: Decimal = _money()
    min_order_size: Decimal = _money()
    fee_rate: Decimal = _money()
    fee_exponent: int
    fee_taker_only: bool = True
    resolution_source: str | None = Field(default=None, max_length=200)
    settlement_source: str = Field(max_length=32)
    market_version: str | None = Field(default=None, max_length=16)
    captured_at: datetime = _ts(index=False)


class HeartbeatRecord(SQLModel):
    """A component saying it is alive, with what it sees (feed ages, outbox backlog)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ts: datetime = _ts()
    component: str = Field(max_length=64, index=True)
    status: str = Field(max_length=32)
    details: dict[str, Any] = _json()


class HeartbeatRow(HeartbeatRecord, table=True):
    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_component_ts", "component", "ts"),)


class TickSampleRecord(SQLModel):
    """A periodic sample of what the agent saw: BTC prices and the top of both books."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    round_slug: str = Field(max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    ts: datetime = _ts()
    chainlink: Decimal | None = _money(nullable=True)
    chainlink_twap: Decimal | None = _money(nullable=True)
    binance: Decimal | None = _money(nullable=True)
    up_bid: Decimal | None = _money(nullable=True)
    up_ask: Decimal | None = _money(nullable=True)
    down_bid: Decimal | None = _money(nullable=True)
    down_ask: Decimal | None = _money(nullable=True)


class TickSampleRow(TickSampleRecord, table=True):
    __tablename__ = "tick_samples"


class DecisionRecord(SQLModel):
    """What a strategy proposed, with the inputs it saw and what the policy made of it."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    round_slug: str = Field(max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    ts: datetime = _ts()
    strategy: str = Field(max_length=64)
    outcome: str = Field(max_length=8)
    side: str = Field(max_length=8)
    limit_price: Decimal = _money()
    size: Decimal = _money()
    confidence: Decimal = _money()
    reason: str = Field(max_length=500)
    policy: str = Field(default="accepted", max_length=64)
    features: dict[str, Any] = _json()


class DecisionRow(DecisionRecord, table=True):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_run_id_ts", "run_id", "ts"),)


class OrderRecord(SQLModel):
    """An order as the agent created it (`id` is the client order id); its life is in order_events."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    round_slug: str = Field(max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    decision_id: str | None = Field(default=None, max_length=36, index=True)
    risk_event_id: str | None = Field(default=None, max_length=36)
    ts: datetime = _ts()
    mode: str = Field(max_length=8)
    token_id: str = Field(max_length=100)
    outcome: str = Field(max_length=8)
    side: str = Field(max_length=8)
    order_type: str = Field(max_length=8)
    price: Decimal = _money()
    size: Decimal = _money()
    post_only: bool = False
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderRow(OrderRecord, table=True):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_round_slug_run_id", "round_slug", "run_id"),)


class OrderEventRecord(SQLModel):
    """One status change of an order: never an update of the order row."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    order_id: str = Field(max_length=36, index=True)
    ts: datetime = _ts()
    status: str = Field(max_length=32)
    filled_size: Decimal = _money()
    venue_order_id: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    details: dict[str, Any] = _json()


class OrderEventRow(OrderEventRecord, table=True):
    __tablename__ = "order_events"


class FillRecord(SQLModel):
    """An execution of one of our orders, paper or live, recorded the same way."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    order_id: str = Field(max_length=36, index=True)
    round_slug: str = Field(max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    ts: datetime = _ts()
    trade_id: str = Field(max_length=100)
    token_id: str = Field(max_length=100)
    outcome: str = Field(max_length=8)
    side: str = Field(max_length=8)
    price: Decimal = _money()
    size: Decimal = _money()
    fee: Decimal = _money()
    liquidity: str = Field(max_length=8)
    status: str = Field(max_length=16)
    mode: str = Field(default="paper", max_length=8)


class FillRow(FillRecord, table=True):
    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_round_slug_run_id", "round_slug", "run_id"),)


class RiskEventRecord(SQLModel):
    """A verdict of the risk guard on an order, or an automatic trip or reset of the kill switch."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    round_slug: str | None = Field(default=None, max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    ts: datetime = _ts()
    kind: str = Field(max_length=16)
    approved: bool
    reason_code: str = Field(max_length=64, index=True)
    message: str = Field(max_length=500)
    decision_id: str | None = Field(default=None, max_length=36)
    order_id: str | None = Field(default=None, max_length=36)
    details: dict[str, Any] = _json()


class RiskEventRow(RiskEventRecord, table=True):
    __tablename__ = "risk_events"


class SettlementRecord(SQLModel):
    """A round's outcome and the agent's P&L on it, net of fees; `details` splits it per strategy."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    round_slug: str = Field(max_length=64, index=True)
    run_id: str = Field(max_length=64, index=True)
    ts: datetime = _ts()
    outcome: str = Field(max_length=8)
    strike: Decimal | None = _money(nullable=True)
    settle_price: Decimal | None = _money(nullable=True)
    source: str = Field(max_length=32)
    pnl: Decimal = _money()
    fees: Decimal = _money()
    mode: str = Field(default="paper", max_length=8, index=True)
    details: dict[str, Any] = _json()


class SettlementRow(SettlementRecord, table=True):
    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_round_slug_run_id_ts", "round_slug", "run_id", "ts"),)


class OperatorActionRecord(SQLModel):
    """Who did what to the agent, when and why (halt, resume, limit changes)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ts: datetime = _ts()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    details: dict[str, Any] = _json()


class OperatorActionRow(OperatorActionRecord, table=True):
    __tablename__ = "operator_actions"


class AlertRecord(SQLModel):
    """Something an operator must hear of (a feed down, a burst of order failures, a trip, a missed
    activation, a settlement mismatch, an outbox backlog): kept whether or not it was sent, and why not."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ts: datetime = _ts()
    code: str = Field(max_length=64, index=True)
    severity: str = Field(max_length=16)
    message: str = Field(max_length=500)
    round_slug: str | None = Field(default=None, max_length=64, index=True)
    source: str = Field(max_length=64)
    sent: bool = False
    suppressed: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = _json()


class AlertRow(AlertRecord, table=True):
    __tablename__ = "alerts"


class SettingRow(SQLModel, table=True):
    """Live-editable state: risk limits, strategy toggles, the kill switch."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = _ts(index=False)
    updated_by: str = Field(default="system", max_length=64)


AUDIT_TABLES: tuple[str, ...] = (
    "decisions",
    "orders",
    "order_events",
    "fills",
    "risk_events",
    "settlements",
    "operator_actions",
    "alerts",
)

TABLES: dict[str, type[SQLModel]] = {
    str(model.__tablename__): model
    for model in (
        RoundRow,
        RoundClaimRow,
        VenueRulesRow,
        HeartbeatRow,
        TickSampleRow,
        DecisionRow,
        OrderRow,
        OrderEventRow,
        FillRow,
        RiskEventRow,
        SettlementRow,
        OperatorActionRow,
        AlertRow,
        SettingRow,
    )
}

RECORD_TABLES: dict[type[SQLModel], str] = {
    base: str(model.__tablename__)
    for model in TABLES.values()
    for base in model.__bases__
    if base is not SQLModel and issubclass(base, SQLModel)
}
"""The plain (non-table) record class of a table -> its table name: cheap to build, written by the outbox."""


def table_of(row: SQLModel) -> str:
    """The table a row or a record belongs to."""
    table = RECORD_TABLES.get(type(row))
    return table if table is not None else str(row.__tablename__)


UPSERT_TABLES: frozenset[str] = frozenset({"rounds", "venue_rules", "settings"})
"""State tables where a newer record replaces the row with the same key; the rest insert once."""
