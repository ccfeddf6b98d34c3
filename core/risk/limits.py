"""The risk limits the guard enforces: start-up values from settings, live overrides from the settings table.

Overrides are stored as SettingRow("risk_limits"), a JSON object of field -> value. They are validated as
strictly as the environment is; a bad stored override fails loudly instead of falling back to defaults,
because the override an operator wrote is usually tighter than the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from core.config import PositiveDecimal, Probability, RiskLimitsSettings
from core.store.models import SettingRow

LIMITS_KEY = "risk_limits"

# Booleans are ints to Python; a limit of `true` trades is refused rather than read as 1. Upper bounds refuse
# the absurd (a slipped digit, a copy-paste of a price as a count) with the field named, at start-up and live.
Count = Annotated[int, Field(ge=0, le=1_000, strict=True)]
AtLeastOne = Annotated[int, Field(ge=1, le=1_000, strict=True)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
Amount = Annotated[PositiveDecimal, Field(le=1_000_000)]


class LimitsError(ValueError):
    """Overrides that cannot be applied; the message names every offending key."""


class RiskLimits(BaseModel):
    """Every limit a rule reads: the fields of RiskLimitsSettings, validated again when overridden live."""

    model_config = {"frozen": True, "extra": "forbid"}

    max_position_shares: Amount = Decimal(100)
    max_notional_per_trade: Amount = Decimal(25)
    max_trades_per_round: Count = 4
    max_daily_loss: Amount = Decimal(50)
    loss_streak_for_cooldown: AtLeastOne = 3
    cooldown_rounds: Count = 4
    entry_price_cap: Probability = Decimal("0.95")
    min_edge_after_fees: Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)] = Decimal("0.02")
    min_book_depth_shares: NonNegativeDecimal = Decimal(20)
    max_divergence_bps: Annotated[Decimal, Field(ge=0, le=10_000, allow_inf_nan=False)] = Decimal(50)
    stale_feed_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 5.0
    order_error_burst: AtLeastOne = 5
    min_book_depth_ticks: Count = 3
    """Depth is counted from the best price of the side we take to this many ticks beyond it."""
    require_fair_probability: Annotated[bool, Field(strict=True)] = True
    """When true, an order whose decision carries no fair probability fails the edge rule."""

    @classmethod
    def from_settings(cls, settings: RiskLimitsSettings) -> RiskLimits:
        return cls.model_validate(settings.model_dump())

    def with_overrides(self, overrides: Mapping[str, Any]) -> RiskLimits:
        """These limits with `overrides` applied; LimitsError names unknown keys and invalid values."""
        unknown = sorted(str(key) for key in overrides if key not in type(self).model_fields)
        if unknown:
            raise LimitsError(
                f"unknown risk limit(s): {', '.join(unknown)}; known: {', '.join(type(self).model_fields)}"
            )
        try:
            return type(self).model_validate({**self.model_dump(), **overrides})
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']} (got {error.get('input')!r})"
                for error in exc.errors(include_url=False)
            ]
            raise LimitsError("invalid risk limit override(s): " + "; ".join(problems)) from None


def load_limits(engine_or_session: Engine | Session, defaults: RiskLimits) -> RiskLimits:
    """`defaults` with the overrides stored under SettingRow("risk_limits"), if any."""
    if isinstance(engine_or_session, Session):
        row = engine_or_session.get(SettingRow, LIMITS_KEY)
    else:
        with Session(engine_or_session) as session:
            row = session.get(SettingRow, LIMITS_KEY)
    if row is None:
        return defaults
    if not isinstance(row.value, dict):
        raise LimitsError(f"setting {LIMITS_KEY!r} must be a JSON object, not {type(row.value).__name__}")
    return defaults.with_overrides(row.value)
