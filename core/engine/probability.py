"""Fair value of a round: the probability that the settlement quantity ends at or above the strike.

A digital option under driftless Brownian log price: P(Up) = N(ln(S/K) / (sigma * sqrt(tau))), sigma per
sqrt(second), with a variant for rounds that settle on a 60 s TWAP. Shared by the engine's strategies (through
`core.engine.pricing`) and the simulated market maker; on the real data it scores Brier 0.085 at T-180 s (../shared/data/DATA.md).
"""

from __future__ import annotations

import math

from core.market.settlement import TWAP_WINDOW_S, SettlementSource

P_MIN = 0.01
P_MAX = 0.99
DEFAULT_SIGMA = 7e-5
"""Per sqrt(second): the RMS of BTC 1m log returns over Dec 2025 (about 41 % a year), for a cold start."""

_SQRT2 = math.sqrt(2.0)


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def clip_probability(p: float) -> float:
    return min(P_MAX, max(P_MIN, p))


def _digital(log_moneyness: float, std: float) -> float:
    if std <= 0.0:
        return P_MAX if log_moneyness >= 0.0 else P_MIN
    return clip_probability(normal_cdf(log_moneyness / std))


def spot_up_probability(spot: float, strike: float, sigma: float, tau_s: float) -> float:
    """P(price at the close >= strike); a tie settles Up, so at tau = 0 equality is Up."""
    return _digital(math.log(spot / strike), sigma * math.sqrt(max(tau_s, 0.0)))


def twap_up_probability(
    spot: float,
    strike: float,
    sigma: float,
    tau_s: float,
    *,
    window_mean: float | None = None,
    window_s: int = TWAP_WINDOW_S,
) -> float:
    """P(TWAP over the last `window_s` before the close >= strike).

    Approximation: the log of an average of Brownian motion over a window of length w has variance
    sigma^2 * w / 3 beyond its start. With tau >= w the variance is sigma^2 * (tau - 2w/3). Inside the
    window, the elapsed part (length w - tau, mean `window_mean`) is known; Up then needs the remaining
    average to reach K' = (w*K - (w - tau) * mean) / tau, whose variance is sigma^2 * tau / 3.
    """
    if tau_s >= window_s:
        return _digital(math.log(spot / strike), sigma * math.sqrt(tau_s - 2.0 * window_s / 3.0))
    if window_mean is None:
        raise ValueError("inside the TWAP window the mean of the elapsed part is needed")
    elapsed = window_s - max(tau_s, 0.0)
    if tau_s <= 0.0:
        return P_MAX if window_mean >= strike else P_MIN
    needed = (window_s * strike - elapsed * window_mean) / tau_s
    if needed <= 0.0:
        return P_MAX
    return _digital(math.log(spot / needed), sigma * math.sqrt(tau_s / 3.0))


def up_probability(
    source: SettlementSource,
    spot: float,
    strike: float,
    sigma: float,
    tau_s: float,
    *,
    window_mean: float | None = None,
) -> float:
    """The fair probability of Up under the round's settlement rule, clipped to [0.01, 0.99]."""
    if source is SettlementSource.CHAINLINK_TWAP_60S:
        return twap_up_probability(spot, strike, sigma, tau_s, window_mean=window_mean)
    return spot_up_probability(spot, strike, sigma, tau_s)
