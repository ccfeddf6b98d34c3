"""`/status` computed at most once per `ttl` for every caller, and kept as the JSON it is sent as: it is
polled by every console and probe, and what it shows (the round's heartbeat) changes once a second. One
computation at a time (the others wait for it, never stampede the store); the kill switch's route drops the
cached answer when it changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from api.models import Status


class StatusCache:
    def __init__(self, ttl_s: float) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._at: datetime | None = None

    def get(self, now: datetime, compute: Callable[[], Status]) -> bytes:
        """The answer as JSON: validated and serialised once per computation, not once per caller."""
        if not self._ttl:
            return compute().model_dump_json().encode()
        with self._lock:
            if self._body is None or self._at is None or not (self._at <= now < self._at + self._ttl):
                self._body, self._at = compute().model_dump_json().encode(), now
            return self._body

    def clear(self) -> None:
        with self._lock:
            self._body = self._at = None
