"""Mean reversion: fade a sharp short-term move when the book has priced it beyond fair value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from core.engine.features import RETURN_HORIZONS_S, FeatureView
from core.engine.pricing import fair_up_probability
from core.events import Outcome, Side
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule, fee_per_share
from core.strategies.base import StrategyDecision


@dataclass(frozen=True, slots=True)
class MeanReversionParams:
    lookback_s: int = 10
    min_move_z: float = 3.0
    """How sharp the move must be: |return over lookback| / (sigma * sqrt(lookback))."""
    reversion: float = 0.5
    """Fraction of the move expected to revert; the probability is priced at the reverted spot."""
    margin: float = 0.02
    """Least edge per share after the fee, against the reverted probability."""
    size: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        if self.lookback_s not in RETURN_HORIZONS_S:
            raise ValueError(f"lookback_s must be one of {RETURN_HORIZONS_S}, got {self.lookback_s}")
        if self.min_move_z <= 0 or not 0.0 <= self.reversion <= 1.0:
            raise ValueError("min_move_z must be positive and reversion in [0, 1]")
        if not 0.0 <= self.margin < 1.0 or not self.size > 0:
            raise ValueError("margin must be in [0, 1) and size positive")


class MeanReversionStrategy:
    """Buys the side against the move when its ask is below fair value now and clears the margin against
    the probability at the partly reverted spot."""

    __slots__ = ("fees", "params")
    name = "mean_reversion"

    def __init__(self, params: MeanReversionParams | None = None, fees: FeeSchedule = CRYPTO_FEES_V2) -> None:
        self.params = params or MeanReversionParams()
        self.fees = fees

    def evaluate(self, state: FeatureView) -> StrategyDecision | None:
        params = self.params
        spot, sigma = state.chainlink, state.volatility
        move = state.log_return(params.lookback_s)
        if spot is None or move is None or not sigma:
            return None
        move_z = move / (sigma * math.sqrt(params.lookback_s))
        if abs(move_z) < params.min_move_z:
            return None
        outcome = Outcome.DOWN if move > 0 else Outcome.UP
        fair_up = fair_up_probability(state)
        reverted_up = fair_up_probability(state, spot=spot * math.exp(-params.reversion * move))
        ask = state.book(outcome).best_ask
        if fair_up is None or reverted_up is None or ask is None:
            return None
        fair = fair_up if outcome is Outcome.UP else 1.0 - fair_up
        probability = reverted_up if outcome is Outcome.UP else 1.0 - reverted_up
        fee = fee_per_share(float(ask), self.fees)
        edge = probability - float(ask) - fee
        if float(ask) >= fair or edge < params.margin:
            return None
        reason = (
            f"mean reversion: {params.lookback_s} s return {move:+.5f} ({move_z:+.1f} sigma); {outcome} ask "
            f"{ask} is below its fair value {fair:.3f}; with {params.reversion:.0%} reversion P({outcome}) "
            f"{probability:.3f}, edge {edge:+.3f} after fee {fee:.4f} >= margin {params.margin:.3f}"
        )
        return StrategyDecision(
            strategy=self.name,
            outcome=outcome,
            side=Side.BUY,
            limit_price=ask,
            size=params.size,
            confidence=probability,
            reason=reason,
            fair_probability=probability,
        )
