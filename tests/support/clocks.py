"""Clocks a test gives the simulated venue (and the agent), so rounds come when the test wants them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from core.clock import ms_to_datetime


@dataclass(slots=True)
class ShiftedClock:
    """The wall clock moved by a fixed offset (venue and agent agree on it), and held still while `held`
    is set: a venue whose time stands still changes nothing, so its state can be compared exactly."""

    offset_ms: int = 0
    held: int | None = None

    def now_ms(self) -> int:
        if self.held is not None:
            return self.held
        return time.time_ns() // 1_000_000 + self.offset_ms

    def now(self) -> datetime:
        return ms_to_datetime(self.now_ms())

    async def sleep_until(self, ts_ms: int) -> None:
        await asyncio.sleep(max(0.0, (ts_ms - self.now_ms()) / 1000))
