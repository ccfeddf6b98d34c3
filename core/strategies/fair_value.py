"""Fair value: buy the token whose model probability beats its ask by a margin after the taker fee."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.engine.features import FeatureView
from core.engine.pricing import fair_up_probability
from core.events import Outcome, Side
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule, fee_per_share
from core.strategies.base import StrategyDecision


@dataclass(frozen=True, slots=True)
class FairValueParams:
    margin: float = 0.03
    """Least edge per share to trade: probability - ask - taker fee per share."""
    size: Decimal = Decimal(10)
    volatility_scale: float = 1.0
    """Multiplies the feature volatility; the plain model is underconfident, and 0.8 scores better."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")
        if not self.volatility_scale > 0:
            raise ValueError(f"volatility_scale must be positive, got {self.volatility_scale}")
        if not self.size > 0:
            raise ValueError(f"size must be positive, got {self.size}")


class FairValueStrategy:
    """Prices Up with `core.engine.probability` (spot or TWAP rule) and takes the side with the larger edge."""

    __slots__ = ("fees", "params")
    name = "fair_value"

    def __init__(self, params: FairValueParams | None = None, fees: FeeSchedule = CRYPTO_FEES_V2) -> None:
        self.params = params or FairValueParams()
        self.fees = fees

    def evaluate(self, state: FeatureView) -> StrategyDecision | None:
        p_up = fair_up_probability(state, volatility_scale=self.params.volatility_scale)
        if p_up is None:
            return None
        best: tuple[float, Outcome, float, Decimal, float] | None = None
        for outcome, probability in ((Outcome.UP, p_up), (Outcome.DOWN, 1.0 - p_up)):
            ask = state.book(outcome).best_ask
            if ask is None:
                continue
            price = float(ask)
            fee = fee_per_share(price, self.fees)
            edge = probability - price - fee
            if best is None or edge > best[0]:
                best = (edge, outcome, probability, ask, fee)
        if best is None or best[0] < self.params.margin:
            return None
        edge, outcome, probability, ask, fee = best
        reason = (
            f"fair P(up) {p_up:.3f} (spot {state.chainlink:.2f}, strike {state.strike:.2f}, "
            f"sigma {state.volatility:.2e}/sqrt(s) x{self.params.volatility_scale:g}, "
            f"{state.time_left_s:.0f} s left, {state.settlement_source}): {outcome} ask {ask} "
            f"+ fee {fee:.4f} leaves edge {edge:+.3f} >= margin {self.params.margin:.3f}"
        )
        return StrategyDecision(
            strategy=self.name,
            outcome=outcome,
            side=Side.BUY,
            limit_price=ask,
            size=self.params.size,
            confidence=probability,
            reason=reason,
            fair_probability=probability,
        )
