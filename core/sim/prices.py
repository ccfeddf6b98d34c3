"""BTC price paths for the simulated venue at 1-second resolution, and the feeds derived from them.

A path is a step function on whole seconds: `price_at(ts)` is the value of the last whole second at or
before `ts`. Paths replay history (Binance 1m candles bridged to 1 s, or a day of Chainlink reports) or
follow a seeded model; all are deterministic for a seed and random-access, so a server can ask any instant
in any order. Float math is used for the model; prices leave this module as Decimals.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from statistics import NormalDist
from typing import Protocol

from core.events import PriceSource, PriceTick
from core.market.settlement import Tick, price_in_effect, twap
from core.money import from_e18

SECOND_MS = 1000
MINUTE_S = 60
SECONDS_PER_YEAR = 365 * 24 * 3600
PRICE_QUANTUM = Decimal("0.00000001")
BINANCE_QUANTUM = Decimal("0.01")

_STD_NORMAL = NormalDist()


class PricePath(Protocol):
    """A BTC/USD price defined on whole seconds in [start_ms, end_ms)."""

    @property
    def start_ms(self) -> int: ...

    @property
    def end_ms(self) -> int: ...

    def price_at(self, ts_ms: int) -> Decimal: ...


class OutOfRangeError(ValueError):
    """An instant the path does not cover."""


def _second_index(path: PricePath, ts_ms: int) -> int:
    if not path.start_ms <= ts_ms < path.end_ms:
        raise OutOfRangeError(f"{ts_ms} is outside the path's range [{path.start_ms}, {path.end_ms})")
    return (ts_ms - path.start_ms) // SECOND_MS


def _to_price(value: float) -> Decimal:
    return Decimal(value).quantize(PRICE_QUANTUM)


def hashed_normal(seed: int, stream: str, index: int) -> float:
    """A standard normal draw addressed by (seed, stream, index): random access without replaying a stream."""
    digest = hashlib.blake2b(f"{seed}:{stream}:{index}".encode(), digest_size=8).digest()
    unit = ((int.from_bytes(digest, "big") >> 12) + 0.5) / 2**52
    return _STD_NORMAL.inv_cdf(unit)


def annual_to_per_second(annual_vol: float) -> float:
    """An annualised volatility as sigma per sqrt(second); BTC trades around the clock."""
    return annual_vol / math.sqrt(SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class Candle:
    """A 1-minute candle: `open_ms` is its open time; its close is the price at open_ms + 60 s."""

    open_ms: int
    open: Decimal
    close: Decimal


def read_binance_1m_csv(path: Path) -> list[Candle]:
    """Binance kline CSV with columns timestamp (open time, ms), open, high, low, close, volume."""
    with path.open(newline="") as handle:
        return [
            Candle(int(row["timestamp"]), Decimal(row["open"]), Decimal(row["close"]))
            for row in csv.DictReader(handle)
        ]


def read_chainlink_csv(path: Path) -> list[Tick]:
    """Chainlink reports (feed_ts_ms, full_accuracy_value x1e18), gzipped or not, sorted by feed time."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        ticks = [
            (int(row["feed_ts_ms"]), from_e18(row["full_accuracy_value"])) for row in csv.DictReader(handle)
        ]
    ticks.sort(key=lambda tick: tick[0])
    return ticks


class BridgedMinutePath:
    """Replay of 1-minute closes, filled to 1 s by a seeded Brownian bridge in log price.

    The path passes exactly through every close (at the candle's end) and through the first candle's open.
    The bridge's per-second volatility is the RMS 1m log return over a centred window of `vol_window_min`
    minutes, divided by sqrt(60), so the noise matches the period being replayed. Each minute is generated
    on demand from (seed, minute), so any instant costs at most one 60-step bridge.
    """

    def __init__(self, candles: Sequence[Candle], *, seed: int, vol_window_min: int = 60) -> None:
        if not candles:
            raise ValueError("a bridged path needs at least one candle")
        for before, after in pairwise(candles):
            if after.open_ms - before.open_ms != MINUTE_S * SECOND_MS:
                raise ValueError(f"candles must be consecutive minutes; gap after {before.open_ms}")
        self._seed = seed
        self._start_ms = candles[0].open_ms
        self._anchors = [candles[0].open, *(candle.close for candle in candles)]
        self._logs = [math.log(anchor) for anchor in self._anchors]
        self._sigmas = self._local_sigmas(vol_window_min)
        self._cache: dict[int, list[float]] = {}

    @classmethod
    def from_csv(cls, path: Path, *, seed: int, vol_window_min: int = 60) -> BridgedMinutePath:
        return cls(read_binance_1m_csv(path), seed=seed, vol_window_min=vol_window_min)

    @property
    def start_ms(self) -> int:
        return self._start_ms

    @property
    def end_ms(self) -> int:
        return self._start_ms + (len(self._anchors) - 1) * MINUTE_S * SECOND_MS + SECOND_MS

    @property
    def anchors(self) -> list[tuple[int, Decimal]]:
        """(time, price) of every point the bridge passes through exactly."""
        step = MINUTE_S * SECOND_MS
        return [(self._start_ms + i * step, price) for i, price in enumerate(self._anchors)]

    def sigma_per_second(self, minute: int) -> float:
        return self._sigmas[minute]

    def price_at(self, ts_ms: int) -> Decimal:
        minute, second = divmod(_second_index(self, ts_ms), MINUTE_S)
        if second == 0:
            return self._anchors[minute]
        return _to_price(math.exp(self._bridge(minute)[second]))

    def _bridge(self, minute: int) -> list[float]:
        cached = self._cache.get(minute)
        if cached is not None:
            return cached
        rng = random.Random(f"{self._seed}:bridge:{minute}")
        sigma = self._sigmas[minute]
        walk = [0.0]
        for _ in range(MINUTE_S):
            walk.append(walk[-1] + rng.gauss(0.0, sigma))
        start, end = self._logs[minute], self._logs[minute + 1]
        bridge = [
            start + (end - start) * k / MINUTE_S + walk[k] - walk[MINUTE_S] * k / MINUTE_S
            for k in range(MINUTE_S + 1)
        ]
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[minute] = bridge
        return bridge

    def _local_sigmas(self, window: int) -> list[float]:
        squares = [(b - a) ** 2 for a, b in pairwise(self._logs)]
        prefix = [0.0]
        for square in squares:
            prefix.append(prefix[-1] + square)
        half = max(window // 2, 1)
        sigmas = []
        for i in range(len(squares)):
            lo, hi = max(0, i - half), min(len(squares), i + half + 1)
            sigmas.append(math.sqrt((prefix[hi] - prefix[lo]) / (hi - lo) / MINUTE_S))
        return sigmas


class ChainlinkReplayPath:
    """A recorded Chainlink day as a path: the report in effect at each second (gaps hold the last value)."""

    def __init__(self, ticks: Sequence[Tick]) -> None:
        if not ticks:
            raise ValueError("a replayed path needs at least one report")
        self._ticks = list(ticks)

    @classmethod
    def from_csv(cls, path: Path) -> ChainlinkReplayPath:
        return cls(read_chainlink_csv(path))

    @property
    def start_ms(self) -> int:
        return self._ticks[0][0] - self._ticks[0][0] % SECOND_MS

    @property
    def end_ms(self) -> int:
        last = self._ticks[-1][0]
        return last - last % SECOND_MS + SECOND_MS

    def price_at(self, ts_ms: int) -> Decimal:
        index = _second_index(self, ts_ms)
        price = price_in_effect(self._ticks, self.start_ms + index * SECOND_MS)
        assert price is not None, "the first report opens the range"
        return price


class ModelPath:
    """Seeded geometric Brownian motion (a martingale) with optional compound-Poisson jumps in log price.

    Generated lazily in order from one random stream, so the values never depend on the order of queries.
    """

    _CHUNK_S = 3600

    def __init__(
        self,
        *,
        start_price: Decimal,
        start_ms: int,
        duration_s: int,
        seed: int,
        annual_vol: float = 0.40,
        jumps_per_hour: float = 0.0,
        jump_std: float = 0.003,
    ) -> None:
        if start_ms % SECOND_MS:
            raise ValueError(f"start_ms {start_ms} is not on a whole second")
        if duration_s <= 0 or annual_vol < 0 or jumps_per_hour < 0 or jump_std < 0:
            raise ValueError("duration must be positive; volatility and jump parameters non-negative")
        self._start_price = start_price
        self._start_ms = start_ms
        self._duration_s = duration_s
        self._sigma = annual_to_per_second(annual_vol)
        self._jump_probability = 1.0 - math.exp(-jumps_per_hour / 3600)
        self._jump_std = jump_std
        self._rng = random.Random(f"{seed}:gbm")
        self._logs = array("d", [math.log(start_price)])

    @property
    def start_ms(self) -> int:
        return self._start_ms

    @property
    def end_ms(self) -> int:
        return self._start_ms + self._duration_s * SECOND_MS

    def price_at(self, ts_ms: int) -> Decimal:
        index = _second_index(self, ts_ms)
        if index == 0:
            return self._start_price
        while index >= len(self._logs):
            self._extend()
        return _to_price(math.exp(self._logs[index]))

    def _extend(self) -> None:
        drift = -0.5 * self._sigma**2
        rng, log = self._rng, self._logs[-1]
        for _ in range(min(self._CHUNK_S, self._duration_s - len(self._logs))):
            log += drift + rng.gauss(0.0, self._sigma)
            if self._jump_probability and rng.random() < self._jump_probability:
                log += rng.gauss(0.0, self._jump_std)
            self._logs.append(log)


class ShiftedPath:
    """Another path moved in time by a whole number of seconds, so a historical day can be replayed now."""

    def __init__(self, inner: PricePath, offset_ms: int) -> None:
        if offset_ms % SECOND_MS:
            raise ValueError(f"offset {offset_ms} ms is not whole seconds; whole seconds must stay whole")
        self._inner = inner
        self._offset_ms = offset_ms

    @property
    def start_ms(self) -> int:
        return self._inner.start_ms + self._offset_ms

    @property
    def end_ms(self) -> int:
        return self._inner.end_ms + self._offset_ms

    def price_at(self, ts_ms: int) -> Decimal:
        return self._inner.price_at(ts_ms - self._offset_ms)


class JumpingPath:
    """Another path with jumps on demand: from a jump's whole second on, every price is scaled by it.

    Jumps only ever take effect after the present, so prices already reported (and the strikes, TWAPs and
    settlements computed from them) never change."""

    def __init__(self, inner: PricePath) -> None:
        self._inner = inner
        self._jumps: list[tuple[int, Decimal]] = []

    @property
    def start_ms(self) -> int:
        return self._inner.start_ms

    @property
    def end_ms(self) -> int:
        return self._inner.end_ms

    def jump(self, now_ms: int, percent: float) -> int:
        """Move the price by `percent` from the next whole second after `now_ms`; returns that second."""
        if percent <= -100:
            raise ValueError(f"a jump of {percent}% would take the price below zero")
        at_ms = now_ms - now_ms % SECOND_MS + SECOND_MS
        self._jumps.append((at_ms, 1 + Decimal(str(percent)) / 100))
        return at_ms

    def price_at(self, ts_ms: int) -> Decimal:
        price = self._inner.price_at(ts_ms)
        for at_ms, factor in self._jumps:
            if ts_ms >= at_ms:
                price = (price * factor).quantize(PRICE_QUANTUM)
        return price


def replay_from(path: PricePath, start_ms: int) -> ShiftedPath:
    """The path moved so that it starts at `start_ms` (a whole second)."""
    return ShiftedPath(path, start_ms - path.start_ms)


def whole_seconds(start_ms: int, end_ms: int) -> Iterable[int]:
    """Every whole second in [start_ms, end_ms)."""
    first = -(-start_ms // SECOND_MS) * SECOND_MS
    return range(first, end_ms, SECOND_MS)


class ChainlinkFeed:
    """Our model of Chainlink BTC/USD: one report per whole second carrying the path's value.

    `lag_ms` delays publication (a report stamped t is visible from t + lag; settlement uses the stamp);
    `noise_bps` adds a tiny seeded deviation from the path. Both are off by default.
    """

    def __init__(self, path: PricePath, *, lag_ms: int = 0, noise_bps: float = 0.0, seed: int = 0) -> None:
        if lag_ms < 0 or noise_bps < 0:
            raise ValueError("lag and noise must be non-negative")
        self.path = path
        self._lag_ms = lag_ms
        self._noise_bps = noise_bps
        self._seed = seed

    def report(self, feed_ts_ms: int) -> Decimal:
        """The value of the report stamped at a whole second."""
        price = self.path.price_at(feed_ts_ms)
        if not self._noise_bps:
            return price
        noise = self._noise_bps * 1e-4 * hashed_normal(self._seed, "chainlink", feed_ts_ms // SECOND_MS)
        return _to_price(float(price) * (1.0 + noise))

    def latest_stamp(self, now_ms: int) -> int:
        """The feed timestamp of the newest report visible at `now_ms`."""
        visible = now_ms - self._lag_ms
        return visible - visible % SECOND_MS

    def spot_at(self, now_ms: int) -> Decimal:
        return self.report(self.latest_stamp(now_ms))

    def ticks(self, start_ms: int, end_ms: int) -> list[Tick]:
        """Reports stamped in [start_ms, end_ms), clipped to the path."""
        lo, hi = max(start_ms, self.path.start_ms), min(end_ms, self.path.end_ms)
        return [(ts, self.report(ts)) for ts in whole_seconds(lo, hi)]

    def twap_at(self, end_ms: int, window_s: int = 60) -> Decimal | None:
        """Our model of Chainlink's 60 s TWAP stream: core.market.settlement.twap over our 1 s reports.

        Chainlink does not publish its sampling rule; this is the time-weighted mean of the report step
        function over [end - window, end). None when the path does not reach back far enough.
        """
        start_ms = end_ms - window_s * SECOND_MS
        if start_ms < self.path.start_ms:
            return None
        return twap(self.ticks(start_ms - SECOND_MS, end_ms), end_ms, window_s)

    def tick_at(self, now_ms: int) -> PriceTick:
        stamp = self.latest_stamp(now_ms)
        return PriceTick(
            ts_ms=now_ms, source=PriceSource.CHAINLINK, price=self.report(stamp), source_ts_ms=stamp
        )

    def twap_tick_at(self, now_ms: int) -> PriceTick | None:
        """The TWAP stamped t averages [t - 60 s, t), so the one stamped at a window's open is its strike."""
        stamp = self.latest_stamp(now_ms)
        value = self.twap_at(stamp)
        if value is None:
            return None
        return PriceTick(ts_ms=now_ms, source=PriceSource.CHAINLINK_TWAP_60S, price=value, source_ts_ms=stamp)


class BinanceFeed:
    """Binance BTC/USDT as the path plus a small seeded basis, so it diverges a little from Chainlink.

    The basis in bps is a slow component (a normal draw every `basis_period_s`, linearly interpolated,
    std `basis_bps`) plus per-second jitter (std `jitter_bps`); prices are on Binance's 0.01 grid.
    """

    def __init__(
        self,
        path: PricePath,
        *,
        seed: int,
        basis_bps: float = 2.0,
        jitter_bps: float = 0.5,
        basis_period_s: int = 60,
    ) -> None:
        if basis_period_s <= 0:
            raise ValueError("basis_period_s must be positive")
        self.path = path
        self._seed = seed
        self._basis_bps = basis_bps
        self._jitter_bps = jitter_bps
        self._period_s = basis_period_s

    def basis_bps(self, second: int) -> float:
        knot, into = divmod(second, self._period_s)
        weight = into / self._period_s
        slow = (1 - weight) * hashed_normal(self._seed, "basis", knot) + weight * hashed_normal(
            self._seed, "basis", knot + 1
        )
        fast = hashed_normal(self._seed, "jitter", second)
        return self._basis_bps * slow + self._jitter_bps * fast

    def price_at(self, now_ms: int) -> Decimal:
        stamp = now_ms - now_ms % SECOND_MS
        base = float(self.path.price_at(stamp))
        return Decimal(base * (1.0 + self.basis_bps(stamp // SECOND_MS) * 1e-4)).quantize(BINANCE_QUANTUM)

    def tick_at(self, now_ms: int) -> PriceTick:
        stamp = now_ms - now_ms % SECOND_MS
        return PriceTick(
            ts_ms=now_ms,
            source=PriceSource.BINANCE,
            price=self.price_at(now_ms),
            source_ts_ms=stamp,
            symbol="btcusdt",
        )
