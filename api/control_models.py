"""Request and response models of the operator's controls: the kill switch, strategy toggles, risk limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.auth import MAX_PASSWORD, MIN_PASSWORD, NAME_PATTERN
from api.models import KillSwitchPublic
from core.store.auth import Role

Reason = Field(min_length=3, max_length=500, description="Why: recorded with the operator action.")


class KillSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engaged: bool = Field(description="true halts trading everywhere; false releases the operator's halt.")
    reason: str = Reason


class StepPublic(BaseModel):
    """One layer of a kill or release: done, skipped (nothing there to change) or failed, in words."""

    layer: Literal["halt file", "store flag", "deployment"]
    outcome: Literal["done", "skipped", "failed"]
    detail: str


class KillSwitchResult(BaseModel):
    """What each layer did. `complete` is false when one failed: that layer still has to be put right (the
    others hold meanwhile: a halt succeeds when any layer is set)."""

    engaged: bool
    complete: bool
    steps: list[StepPublic]
    kill_switch: KillSwitchPublic | None


class StrategyPublic(BaseModel):
    name: str
    enabled: bool
    description: str


class StrategiesPublic(BaseModel):
    data: list[StrategyPublic]


class StrategyToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    reason: str = Reason


class RiskLimitsPublic(BaseModel):
    """The limits rounds enforce (`effective`): the settings' `defaults` with the operator's `overrides`."""

    effective: dict[str, Any]
    defaults: dict[str, Any]
    overrides: dict[str, Any]


class RiskLimitsUpdate(BaseModel):
    """Limits to override (a value) or to return to the settings' default (null). Validated as strictly as
    at start-up, and bounded: a negative or absurd limit is refused with the field and the reason."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, JsonValue] = Field(
        min_length=1,
        max_length=20,
        examples=[{"max_notional_per_trade": "10", "max_trades_per_round": 2, "cooldown_rounds": None}],
    )
    reason: str = Reason


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class UserUpdate(BaseModel):
    """A new role or active flag (or both); the change counts at once for the user's sessions and tokens."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    active: bool | None = None
    reason: str = Reason
