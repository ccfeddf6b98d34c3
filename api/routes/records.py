"""The audit trail, paged newest first with bounded filters: decisions, orders with their events, fills,
risk events, operator actions and alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Operator, SessionDep, Viewer
from api.record_models import (
    AlertPage,
    AlertQuery,
    DecisionPage,
    DecisionQuery,
    FillPage,
    FillQuery,
    OperatorActionPage,
    OperatorActionQuery,
    OrderPage,
    OrderQuery,
    RiskEventPage,
    RiskEventQuery,
)
from api.records import (
    alert_page,
    decision_page,
    fill_page,
    operator_action_page,
    order_page,
    risk_event_page,
)

router = APIRouter()


@router.get("/decisions", tags=["decisions"])
def read_decisions(
    query: Annotated[DecisionQuery, Query()], _caller: Viewer, session: SessionDep
) -> DecisionPage:
    """Strategy decisions with their features, the policy's answer and the risk verdicts on their orders;
    filtered by mode (or run id), round, strategy, side, outcome, the policy's answer and a verdict's
    reason."""
    return decision_page(session, query)


@router.get("/orders", tags=["orders"])
def read_orders(query: Annotated[OrderQuery, Query()], _caller: Viewer, session: SessionDep) -> OrderPage:
    """Orders with their status changes and fills, the deciding strategy and the latest status; filtered by
    mode (or run id), round, latest status and strategy."""
    return order_page(session, query)


@router.get("/fills", tags=["fills"])
def read_fills(query: Annotated[FillQuery, Query()], _caller: Viewer, session: SessionDep) -> FillPage:
    """Fills with the strategy that led to them; filtered by mode (or run id), round and strategy."""
    return fill_page(session, query)


@router.get("/risk-events", tags=["risk-events"])
def read_risk_events(
    query: Annotated[RiskEventQuery, Query()], _caller: Viewer, session: SessionDep
) -> RiskEventPage:
    """Risk verdicts, trips, resets and alerts; filtered by mode (or run id), round, kind, reason code and
    whether they approved."""
    return risk_event_page(session, query)


@router.get("/operator-actions", tags=["operator-actions"])
def read_operator_actions(
    query: Annotated[OperatorActionQuery, Query()], _caller: Operator, session: SessionDep
) -> OperatorActionPage:
    """Who did what to the agent, when and why, with the state before and after; filtered by actor and
    action. Role operator and above: the rows name the client address each action came from."""
    return operator_action_page(session, query)


@router.get("/alerts", tags=["alerts"])
def read_alerts(query: Annotated[AlertQuery, Query()], _caller: Viewer, session: SessionDep) -> AlertPage:
    """Alerts as they were raised, sent or not (and why not); filtered by code, severity and round. Every
    role: an alert is what anyone watching the agent must see."""
    return alert_page(session, query)
