"""The simulated market's volatility estimate; the fair-value math itself lives in core.engine.probability.

Names of core.engine.probability are re-exported here for the simulator's modules and tests.
"""

from __future__ import annotations

import math
from collections import deque

from core.engine.probability import (
    DEFAULT_SIGMA,
    P_MAX,
    P_MIN,
    clip_probability,
    normal_cdf,
    spot_up_probability,
    twap_up_probability,
    up_probability,
)
from core.market.settlement import TWAP_WINDOW_S

__all__ = [
    "DEFAULT_SIGMA",
    "P_MAX",
    "P_MIN",
    "TWAP_WINDOW_S",
    "VolatilityEstimator",
    "clip_probability",
    "normal_cdf",
    "spot_up_probability",
    "twap_up_probability",
    "up_probability",
]


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
