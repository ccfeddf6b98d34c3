"""What operators change while rounds run: the strategies switched off and the risk limits. Both live in the
store's settings table (keys `strategies` and `risk_limits`); a round reads them every `CONTROLS_POLL_S` and
its engine applies a change from its next evaluation (`RoundEngine.apply_controls`).

The risk limits are the settings' own, with the stored overrides validated as strictly as the environment
(`core/risk/limits.py`); a stored value that does not validate is an error, never a silent fallback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from core.risk.limits import LIMITS_KEY, LimitsError, RiskLimits
from core.store.models import SettingRow

STRATEGIES_KEY = "strategies"
CONTROLS_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class OperatorControls:
    limits: RiskLimits
    disabled: frozenset[str] = frozenset()

    def changes_from(self, before: OperatorControls) -> dict[str, Any]:
        """What differs from `before`, as JSON: limits as [before, after], strategies switched on and off."""
        old, new = before.limits.model_dump(mode="json"), self.limits.model_dump(mode="json")
        changes: dict[str, Any] = {}
        limits = {name: [old[name], value] for name, value in new.items() if old.get(name) != value}
        if limits:
            changes["limits"] = limits
        if self.disabled - before.disabled:
            changes["disabled"] = sorted(self.disabled - before.disabled)
        if before.disabled - self.disabled:
            changes["enabled"] = sorted(before.disabled - self.disabled)
        return changes


def disabled_strategies(value: Any) -> frozenset[str]:
    """The stored `strategies` setting, `{"disabled": [names]}`; anything else is an error."""
    if not isinstance(value, Mapping) or not isinstance(value.get("disabled", []), list):
        raise LimitsError(f"setting {STRATEGIES_KEY!r} must be {{'disabled': [names]}}, not {value!r}")
    names: Iterable[Any] = value.get("disabled", [])
    if not all(isinstance(name, str) for name in names):
        raise LimitsError(f"setting {STRATEGIES_KEY!r} must name strategies as strings: {value!r}")
    return frozenset(names)


def read_controls(session: Session, defaults: RiskLimits) -> OperatorControls:
    """`defaults` with the stored limit overrides, and the strategies switched off."""
    limits_row = session.get(SettingRow, LIMITS_KEY)
    strategies_row = session.get(SettingRow, STRATEGIES_KEY)
    limits = defaults
    if limits_row is not None:
        if not isinstance(limits_row.value, dict):
            raise LimitsError(f"setting {LIMITS_KEY!r} must be a JSON object")
        limits = defaults.with_overrides(limits_row.value)
    disabled = disabled_strategies(strategies_row.value) if strategies_row is not None else frozenset()
    return OperatorControls(limits, disabled)


class ControlsWatch:
    """What a round polls: the store's controls, read on a worker thread so a slow database never stalls
    the round's event loop."""

    def __init__(self, store: Engine, defaults: RiskLimits) -> None:
        self._store = store
        self._defaults = defaults

    async def __call__(self) -> OperatorControls:
        return await asyncio.to_thread(self._read)

    def _read(self) -> OperatorControls:
        with Session(self._store) as session:
            return read_controls(session, self._defaults)
