"""The operator's controls: the kill switch (operator and above), strategy toggles (operator and above) and
risk limits (admin). Reading them is open to every role; every change is an operator-action row."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from api.control_models import (
    KillSwitchRequest,
    KillSwitchResult,
    RiskLimitsPublic,
    RiskLimitsUpdate,
    StrategiesPublic,
    StrategyToggle,
)
from api.controls import limits_view, set_kill_switch, strategies, toggle_strategy, update_limits
from api.deps import Admin, Operator, SessionDep, SettingsDep, Viewer, unprocessable
from api.models import KillSwitchPublic
from api.status import kill_switch
from core.risk.limits import LimitsError
from core.strategies import STRATEGIES

router = APIRouter(tags=["controls"])


@router.get("/kill-switch")
def read_kill_switch(_caller: Viewer, session: SessionDep) -> KillSwitchPublic:
    """The store's kill switch: engaged or not, why, since when and by whom."""
    public, problem = kill_switch(session)
    if public is None:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=problem)
    return public


@router.post("/kill-switch")
async def write_kill_switch(
    body: KillSwitchRequest, caller: Operator, session: SessionDep, settings: SettingsDep, request: Request
) -> KillSwitchResult:
    """Engage (`engaged: true`): the halt file, the store's flag and the deployment's pause, in that order,
    so a running round halts within a second; release (`false`) clears them. The answer says what each layer
    did; `complete: false` means one failed and must be put right."""
    result = await set_kill_switch(
        settings, session, caller, request, engaged=body.engaged, reason=body.reason
    )
    request.app.state.status_cache.clear()  # /status shows the switch as it is now, not a second ago
    return result


@router.get("/strategies")
def read_strategies(_caller: Viewer, session: SessionDep) -> StrategiesPublic:
    """Every strategy the agent knows and whether operators left it on."""
    return strategies(session)


@router.put("/strategies/{name}")
def write_strategy(
    name: Annotated[str, Path(max_length=64, examples=["momentum"])],
    body: StrategyToggle,
    caller: Operator,
    session: SessionDep,
    request: Request,
) -> StrategiesPublic:
    """Switch a strategy on or off; running rounds apply it from their next evaluation (they read it every
    second), later rounds from their start."""
    if name not in STRATEGIES:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"no strategy {name!r}; known: {', '.join(STRATEGIES)}",
        )
    return toggle_strategy(session, caller, request, name, enabled=body.enabled, reason=body.reason)


@router.get("/risk/limits")
def read_limits(_caller: Viewer, session: SessionDep, settings: SettingsDep) -> RiskLimitsPublic:
    """The limits rounds enforce, the settings' defaults, and the operator's overrides."""
    return limits_view(session, settings)


@router.patch("/risk/limits", responses={422: {"description": "A limit is unknown, negative or absurd."}})
def write_limits(
    body: RiskLimitsUpdate, caller: Admin, session: SessionDep, settings: SettingsDep, request: Request
) -> RiskLimitsPublic:
    """Override limits (null returns one to its default). Validated as strictly as at start-up and bounded;
    running rounds apply them from their next evaluation (they read them every second)."""
    try:
        return update_limits(
            session, settings, caller, request, changes=dict(body.changes), reason=body.reason
        )
    except LimitsError as exc:
        raise unprocessable("changes", str(exc)) from None
