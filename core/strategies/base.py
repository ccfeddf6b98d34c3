"""What a strategy is: a pure function of the feature state to an optional decision.

Strategies see only `FeatureView` (read-only features) and their own parameters: no network, no store, no
risk guard, no clock beyond the state's `now_ms`. That is what lets strategy work never weaken safety.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from core.events import Outcome, Side

if TYPE_CHECKING:
    from core.engine.features import FeatureView


@dataclass(frozen=True, slots=True)
class StrategyDecision:
    """A proposal: buy (or sell) `size` shares of one outcome at up to `limit_price`, and why."""

    strategy: str
    outcome: Outcome
    side: Side
    limit_price: Decimal
    size: Decimal
    confidence: float
    reason: str
    fair_probability: float | None = None
    """The strategy's probability that the outcome wins, when it has one; risk uses it for the edge check."""


class Strategy(Protocol):
    """`evaluate` is called on the engine's evaluation cadence during the active window."""

    @property
    def name(self) -> str: ...

    def evaluate(self, state: FeatureView) -> StrategyDecision | None: ...
