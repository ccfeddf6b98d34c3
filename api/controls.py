"""The operator's controls as the API changes them. Every change writes an operator-action row (who, what,
before, after, from where) in the transaction that makes it; the kill switch goes through the same layered
steps as `btc-agent kill` (`tasks/control.py`): the halt file first, then the store's flag, then the pause."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlmodel import Session

from api.auth import Principal
from api.control_models import (
    KillSwitchResult,
    RiskLimitsPublic,
    StepPublic,
    StrategiesPublic,
    StrategyPublic,
)
from api.status import kill_switch
from core.config import Settings
from core.live.controls import STRATEGIES_KEY, disabled_strategies
from core.live.halt import HaltNotice
from core.risk.limits import LIMITS_KEY, RiskLimits
from core.risk.state import KillSource, KillSwitch
from core.store.models import OperatorActionRow, SettingRow
from core.strategies import STRATEGIES
from tasks.control import (
    Step,
    put_halt_file,
    remove_halt_file,
    set_deployment_step,
    set_store_flag,
)


def client_of(request: Request) -> str:
    """The caller's address (behind the proxy, the one it forwards)."""
    return request.client.host if request.client else "unknown"


def origin(caller: Principal, request: Request) -> dict[str, Any]:
    """From where and how an action came, for its operator-action row."""
    return {"client": client_of(request), "via": caller.via, "role": caller.role.value}


def record_action(
    session: Session,
    caller: Principal,
    request: Request,
    *,
    action: str,
    target: str,
    reason: str | None,
    before: Any,
    after: Any,
) -> None:
    session.add(
        OperatorActionRow(
            actor=caller.user.name,
            action=action,
            target=target,
            reason=reason,
            details={"before": before, "after": after, **origin(caller, request)},
        )
    )


# --- the kill switch ----------------------------------------------------------------------------------


async def set_kill_switch(
    settings: Settings, session: Session, caller: Principal, request: Request, *, engaged: bool, reason: str
) -> KillSwitchResult:
    """Engage: halt file, store flag (with the operator action), deployment paused. Release: the same layers
    cleared. Each step bounded in time, each reported; a round halted before stays halted."""
    actor, url = caller.user.name, settings.resolved_database_url
    details = origin(caller, request)
    steps: list[Step] = []
    if engaged:
        notice = HaltNotice.now(actor, reason)
        steps.append(put_halt_file(settings.data_dir, notice))
        switch = KillSwitch(engaged=True, reason=reason, source=KillSource.MANUAL, since_ms=notice.at_ms)
        action = "halt"
    else:
        steps.append(remove_halt_file(settings.data_dir))
        switch, action = KillSwitch(), "resume"
    store_step = functools.partial(
        set_store_flag, url, switch, actor=actor, action=action, reason=reason, details=details
    )
    steps.append(await asyncio.to_thread(store_step))
    steps.append(await set_deployment_step(engaged))
    session.expire_all()
    public, _ = kill_switch(session)
    return KillSwitchResult(
        engaged=engaged,
        complete=not any(step.failed for step in steps),
        steps=[StepPublic.model_validate(step, from_attributes=True) for step in steps],
        kill_switch=public,
    )


# --- strategies -----------------------------------------------------------------------------------------


def _description(name: str) -> str:
    factory = STRATEGIES[name]
    cls = getattr(factory, "args", (None,))[0]
    doc = (getattr(cls, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else name


def strategies(session: Session) -> StrategiesPublic:
    row = session.get(SettingRow, STRATEGIES_KEY)
    disabled = disabled_strategies(row.value) if row is not None else frozenset()
    return StrategiesPublic(
        data=[
            StrategyPublic(name=name, enabled=name not in disabled, description=_description(name))
            for name in STRATEGIES
        ]
    )


def toggle_strategy(
    session: Session, caller: Principal, request: Request, name: str, *, enabled: bool, reason: str
) -> StrategiesPublic:
    """Switch a strategy on or off for every round from its next evaluation (rounds read it each second)."""
    row = session.get(SettingRow, STRATEGIES_KEY) or SettingRow(key=STRATEGIES_KEY, value={"disabled": []})
    before = disabled_strategies(row.value)
    after = before - {name} if enabled else before | {name}
    if after != before:
        row.value = {"disabled": sorted(after)}
        row.updated_by, row.updated_at = caller.user.name, datetime.now(UTC)
        session.add(row)
    record_action(
        session,
        caller,
        request,
        action="strategy_enable" if enabled else "strategy_disable",
        target=name,
        reason=reason,
        before={"enabled": name not in before},
        after={"enabled": enabled},
    )
    session.commit()
    return strategies(session)


# --- risk limits ----------------------------------------------------------------------------------------


def limits_view(session: Session, settings: Settings) -> RiskLimitsPublic:
    defaults = RiskLimits.from_settings(settings.risk)
    row = session.get(SettingRow, LIMITS_KEY)
    overrides = dict(row.value) if row is not None and isinstance(row.value, dict) else {}
    effective = defaults.with_overrides(overrides)
    return RiskLimitsPublic(
        effective=effective.model_dump(mode="json"),
        defaults=defaults.model_dump(mode="json"),
        overrides=RiskLimits.model_validate({**defaults.model_dump(), **overrides}).model_dump(
            mode="json", include=set(overrides)
        ),
    )


def update_limits(
    session: Session,
    settings: Settings,
    caller: Principal,
    request: Request,
    *,
    changes: dict[str, Any],
    reason: str,
) -> RiskLimitsPublic:
    """Apply `changes` (null returns a limit to its default); `LimitsError` names what is refused, and
    nothing is written then."""
    defaults = RiskLimits.from_settings(settings.risk)
    row = session.get(SettingRow, LIMITS_KEY) or SettingRow(key=LIMITS_KEY, value={})
    before = dict(row.value) if isinstance(row.value, dict) else {}
    merged = {k: v for k, v in {**before, **changes}.items() if v is not None}
    validated = defaults.with_overrides(merged)  # raises LimitsError: nothing written
    stored = validated.model_dump(mode="json", include=set(merged))
    row.value, row.updated_by, row.updated_at = stored, caller.user.name, datetime.now(UTC)
    session.add(row)
    record_action(
        session,
        caller,
        request,
        action="risk_limits",
        target=LIMITS_KEY,
        reason=reason,
        before=before,
        after=stored,
    )
    session.commit()
    return limits_view(session, settings)
