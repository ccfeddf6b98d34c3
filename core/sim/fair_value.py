"""The simulated market's fair value: probability that a round settles Up, and the volatility it uses.

A digital option under driftless Brownian log price: P(Up) = N(ln(S/K) / (sigma * sqrt(tau))), sigma per
sqrt(second). On the real data this scores Brier 0.085 at T-180 s (../shared/data/DATA.md).
"""

from __future__ import annotations

import math
from collections import deque

from core.settlement import SettlementSource

P_MIN = 0.01
P_MAX = 0.99
TWAP_WINDOW_S = 60
DEFAULT_SIGMA = 7e-5
"""Per sqrt(second): the RMS of BTC 1m log returns over Dec 2025 (about 41 % a year), for a cold start."""


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


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


class VolatilityEstimator:
    """Sigma per sqrt(second) from the trailing `window_s` of returns: sqrt(sum r^2 / sum dt).

    Observations may be irregular (feed gaps); until `min_returns` are in, the prior `default_sigma` holds.
    """

    def __init__(self, *, window_s: int = 3600, default_sigma: float = DEFAULT_SIGMA, min_returns: int = 30):
        if window_s <= 0 or default_sigma < 0 or min_returns < 1:
            raise ValueError("window_s and min_returns must be positive, default_sigma non-negative")
        self._window_ms = window_s * 1000
        self._default = default_sigma
        self._min_returns = min_returns
        self._returns: deque[tuple[int, float, float]] = deque()
        self._last: tuple[int, float] | None = None

    def update(self, ts_ms: int, price: float) -> None:
        """Add an observation; repeated or out-of-order timestamps are ignored."""
        if price <= 0.0:
            raise ValueError(f"price {price} must be positive")
        if self._last is not None:
            last_ts, last_price = self._last
            if ts_ms <= last_ts:
                return
            self._returns.append((ts_ms, math.log(price / last_price) ** 2, (ts_ms - last_ts) / 1000))
        self._last = (ts_ms, price)
        while self._returns and self._returns[0][0] <= ts_ms - self._window_ms:
            self._returns.popleft()

    @property
    def sigma(self) -> float:
        if len(self._returns) < self._min_returns:
            return self._default
        squares = math.fsum(square for _, square, _ in self._returns)
        seconds = math.fsum(dt for _, _, dt in self._returns)
        return math.sqrt(squares / seconds)
