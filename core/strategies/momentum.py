"""Momentum: after a strong recent move, buy the side it favours if the book has not priced it in yet."""

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
class MomentumParams:
    lookback_s: int = 30
    min_move_z: float = 2.0
    """How strong the move must be: |return over lookback| / (sigma * sqrt(lookback))."""
    continuation: float = 0.5
    """Fraction of the move expected to carry on; the probability is priced at the projected spot."""
    max_price: float = 0.80
    margin: float = 0.02
    """Least edge per share after the fee, against the projected probability."""
    size: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        if self.lookback_s not in RETURN_HORIZONS_S:
            raise ValueError(f"lookback_s must be one of {RETURN_HORIZONS_S}, got {self.lookback_s}")
        if self.min_move_z <= 0 or not 0.0 <= self.continuation <= 1.0 or not 0.0 < self.max_price < 1.0:
            raise ValueError("min_move_z must be positive, continuation in [0, 1], max_price in (0, 1)")
        if not 0.0 <= self.margin < 1.0 or not self.size > 0:
            raise ValueError("margin must be in [0, 1) and size positive")


class MomentumStrategy:
    """The move in volatility units says which side; the spot's distance from the strike says how likely."""

    __slots__ = ("fees", "params")
    name = "momentum"

    def __init__(self, params: MomentumParams | None = None, fees: FeeSchedule = CRYPTO_FEES_V2) -> None:
        self.params = params or MomentumParams()
        self.fees = fees

    def evaluate(self, state: FeatureView) -> StrategyDecision | None:
        params = self.params
        spot, strike, sigma = state.chainlink, state.strike, state.volatility
        move = state.log_return(params.lookback_s)
        if spot is None or strike is None or move is None or not sigma:
            return None
        move_z = move / (sigma * math.sqrt(params.lookback_s))
        if abs(move_z) < params.min_move_z:
            return None
        p_up = fair_up_probability(state, spot=spot * math.exp(params.continuation * move))
        ask = state.book(Outcome.UP if move > 0 else Outcome.DOWN).best_ask
        if p_up is None or ask is None or float(ask) > params.max_price:
            return None
        outcome = Outcome.UP if move > 0 else Outcome.DOWN
        probability = p_up if outcome is Outcome.UP else 1.0 - p_up
        fee = fee_per_share(float(ask), self.fees)
        edge = probability - float(ask) - fee
        if edge < params.margin:
            return None
        distance_z = math.log(spot / strike) / (sigma * math.sqrt(max(state.time_left_s, 1.0)))
        reason = (
            f"momentum: {params.lookback_s} s return {move:+.5f} ({move_z:+.1f} sigma), "
            f"spot {distance_z:+.2f} sigma from strike with {state.time_left_s:.0f} s left; "
            f"with {params.continuation:.0%} continuation P({outcome}) {probability:.3f} "
            f"vs ask {ask} + fee {fee:.4f}: edge {edge:+.3f}"
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
