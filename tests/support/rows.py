"""Valid rows of every audit table, for store and outbox tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import SQLModel

from core.store.models import (
    AlertRow,
    DecisionRow,
    FillRow,
    OperatorActionRow,
    OrderEventRow,
    OrderRow,
    RiskEventRow,
    SettlementRow,
)

SLUG = "btc-updown-15m-1778437800"


def decision(**overrides: object) -> DecisionRow:
    values: dict[str, object] = {
        "round_slug": SLUG,
        "run_id": "test",
        "strategy": "fair_value",
        "outcome": "up",
        "side": "BUY",
        "limit_price": Decimal("0.53"),
        "size": Decimal("10"),
        "confidence": Decimal("0.61"),
        "reason": "edge 0.04 after fees",
        "features": {"btc_vs_strike_bps": 12.5},
    }
    values.update(overrides)
    return DecisionRow.model_validate(values)


def audit_rows() -> list[SQLModel]:
    """One row of each append-only table."""
    now = datetime(2026, 5, 10, 18, 42, 1, 250000, tzinfo=UTC)
    decided = decision(ts=now)
    order = OrderRow(
        round_slug=SLUG,
        run_id="test",
        decision_id=decided.id,
        ts=now,
        mode="paper",
        token_id="111",
        outcome="up",
        side="BUY",
        order_type="FAK",
        price=Decimal("0.53"),
        size=Decimal("10"),
    )
    return [
        decided,
        order,
        OrderEventRow(order_id=order.id, ts=now, status="filled", filled_size=Decimal("10")),
        FillRow(
            order_id=order.id,
            round_slug=SLUG,
            run_id="test",
            ts=now,
            trade_id="t-1",
            token_id="111",
            outcome="up",
            side="BUY",
            price=Decimal("0.53"),
            size=Decimal("10"),
            fee=Decimal("0.17436"),
            liquidity="taker",
            status="MATCHED",
        ),
        RiskEventRow(
            round_slug=SLUG,
            run_id="test",
            ts=now,
            kind="verdict",
            approved=True,
            reason_code="ok",
            message="all checks passed",
            order_id=order.id,
        ),
        SettlementRow(
            round_slug=SLUG,
            run_id="test",
            ts=now,
            outcome="up",
            strike=Decimal("80512.123456789012345678"),
            settle_price=Decimal("80530.5"),
            source="chainlink_spot",
            pnl=Decimal("4.52564"),
            fees=Decimal("0.17436"),
        ),
        OperatorActionRow(ts=now, actor="alice", action="halt", reason="test"),
        AlertRow(ts=now, code="feed_down", severity="critical", message="market feed down", source="test"),
    ]
