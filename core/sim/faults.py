"""Faults on demand for the simulated venue: what chaos tests and the demo inject, counted not random,
so a test that asks for three 503s gets exactly three.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

Channel = Literal["market", "user", "rtds", "polybolt"]


class HttpFault(BaseModel):
    """Answer the next `count` requests whose path starts with `path_prefix` with `status`."""

    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    path_prefix: str = "/"
    retry_after_s: float | None = None


class FaultRequest(BaseModel):
    """The body of `POST /_sim/faults`: every field optional, each adds to what is already armed."""

    http: HttpFault | None = None
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    lose_order_responses: int | None = Field(default=None, ge=0)
    drop: list[Channel] = Field(default_factory=list)
    silence: dict[Channel, float] = Field(default_factory=dict)
    malformed: dict[Channel, int] = Field(default_factory=dict)
    btc_jump_pct: float | None = Field(default=None, gt=-50, lt=50)
    """BTC jumps by this percentage from the next whole second on (drives a round to an extreme)."""


@dataclass
class FaultPlan:
    """The faults currently armed; the server consults it on every request and every frame."""

    http: list[HttpFault] = field(default_factory=list)
    latency_ms: int = 0
    lose_order_responses: int = 0
    silenced_until_ms: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def arm(self, request: FaultRequest, now_ms: int) -> None:
        with self._lock:
            if request.http is not None:
                self.http.append(request.http)
            if request.latency_ms is not None:
                self.latency_ms = request.latency_ms
            if request.lose_order_responses is not None:
                self.lose_order_responses += request.lose_order_responses
            for channel, seconds in request.silence.items():
                self.silenced_until_ms[channel] = now_ms + int(seconds * 1000)
            for channel, count in request.malformed.items():
                self.malformed[channel] = self.malformed.get(channel, 0) + count

    def clear(self) -> None:
        with self._lock:
            self.http.clear()
            self.latency_ms = 0
            self.lose_order_responses = 0
            self.silenced_until_ms.clear()
            self.malformed.clear()

    def http_fault_for(self, path: str) -> HttpFault | None:
        """Consume one armed HTTP fault matching the path, if any."""
        with self._lock:
            for fault in self.http:
                if path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.http.remove(fault)
                    return fault
        return None

    def take_lost_order_response(self) -> bool:
        with self._lock:
            if self.lose_order_responses > 0:
                self.lose_order_responses -= 1
                return True
            return False

    def silenced(self, channel: str, now_ms: int) -> bool:
        return self.silenced_until_ms.get(channel, 0) > now_ms

    def take_malformed(self, channel: str) -> int:
        with self._lock:
            return self.malformed.pop(channel, 0)

    def describe(self) -> dict[str, object]:
        with self._lock:
            return {
                "http": [fault.model_dump() for fault in self.http],
                "latency_ms": self.latency_ms,
                "lose_order_responses": self.lose_order_responses,
                "silenced_until_ms": dict(self.silenced_until_ms),
                "malformed": dict(self.malformed),
            }
