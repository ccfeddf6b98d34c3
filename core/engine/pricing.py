"""The fair Up probability of a round from its feature state: `up_probability` fed from the features.

Apart from `probability` so that the maths takes plain numbers and the features depend on it, not the
reverse."""

from __future__ import annotations

from core.engine.features import FeatureView
from core.engine.probability import up_probability
from core.market.settlement import TWAP_WINDOW_S, SettlementSource


def fair_up_probability(
    state: FeatureView, *, spot: float | None = None, volatility_scale: float = 1.0
) -> float | None:
    """`up_probability` from the features (Chainlink spot, strike, volatility, time left); None when one is
    unknown. `spot` replaces the current Chainlink price, for strategies that price a projected move;
    `volatility_scale` multiplies the volatility (bench/calibration.py measures what suits the data)."""
    strike, sigma = state.strike, state.volatility
    spot = state.chainlink if spot is None else spot
    if strike is None or sigma is None or spot is None or spot <= 0.0 or strike <= 0.0:
        return None
    tau_s = state.time_left_s
    source = state.settlement_source
    window_mean = None
    if source is SettlementSource.CHAINLINK_TWAP_60S and tau_s < TWAP_WINDOW_S:
        window_mean = state.settlement_window_mean
        if window_mean is None:
            return None
    return up_probability(source, spot, strike, sigma * volatility_scale, tau_s, window_mean=window_mean)
