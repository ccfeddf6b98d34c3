"""One notion of time for the whole engine: the wall clock live, a controllable clock in tests and backtests.

Time is integer milliseconds since the Unix epoch (UTC), the unit Polymarket and Chainlink stamp with.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(ts_ms: int) -> datetime:
    """An aware UTC datetime for a millisecond timestamp."""
    # Integer arithmetic: through a float (`fromtimestamp(ts_ms / 1000)`) distant instants come back 1 ms off.
    return _EPOCH + timedelta(milliseconds=ts_ms)


def datetime_to_ms(instant: datetime) -> int:
    """Milliseconds since the epoch; naive datetimes are refused because their zone is a guess."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: pass an aware UTC datetime")
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@runtime_checkable
class Clock(Protocol):
    """What the engine may ask about time."""

    def now_ms(self) -> int: ...

    def now(self) -> datetime: ...

    async def sleep_until(self, ts_ms: int) -> None: ...


class WallClock:
    """The real clock, for live and paper runs."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, ts_ms: int) -> None:
        delay = (ts_ms - self.now_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)


class SimulatedClock:
    """A clock that moves only when told to; it never runs backwards."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def now(self) -> datetime:
        return ms_to_datetime(self._now_ms)

    def set(self, ts_ms: int) -> None:
        if ts_ms < self._now_ms:
            raise ValueError(f"simulated clock cannot go back from {self._now_ms} to {ts_ms}")
        self._now_ms = ts_ms

    def advance(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError(f"cannot advance by a negative {delta_ms} ms")
        self._now_ms += delta_ms

    async def sleep_until(self, ts_ms: int) -> None:
        """Jump straight to the instant: a backtest runs as fast as the engine allows."""
        self._now_ms = max(self._now_ms, ts_ms)
        await asyncio.sleep(0)
