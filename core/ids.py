"""Deterministic record ids: the same run and round replayed give the same ids, so replays compare exactly
and the outbox's idempotent inserts recognise a record written before a crash.
"""

from __future__ import annotations

import uuid
from collections import Counter


class IdFactory:
    """`next("order")` -> a UUID derived from (namespace, kind, n); one counter per kind."""

    def __init__(self, namespace: str) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"polymarket-btc-agent:{namespace}")
        self._counts: Counter[str] = Counter()

    def next(self, kind: str) -> str:
        self._counts[kind] += 1
        return str(uuid.uuid5(self._namespace, f"{kind}:{self._counts[kind]}"))

    def __call__(self, kind: str) -> str:
        return self.next(kind)
