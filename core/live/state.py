"""What a running round looks like from outside, about once a second: the round and its timers, every feed's
health, both books' top and integrity, the position, the latest decision, and the kill-switch state.

Published as a heartbeat row through the outbox (so a SQLite store alone serves the API) under the component
`round:<mode>`; the API reads the newest. Built from the engine and the feeds, never from the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from core.adapters.polymarket.feed import FeedHealth
from core.clock import ms_to_datetime
from core.engine.engine import RoundEngine
from core.events import Outcome
from core.store.models import DecisionRecord, HeartbeatRecord
from core.store.outbox import OutboxStats

STATE_EVERY_S = 1.0


class FeedState(BaseModel):
    connected: bool
    stale: bool
    last_message_age_s: float | None
    reconnects: int
    resyncs: int
    malformed: int


class BookState(BaseModel):
    best_bid: Decimal | None
    best_ask: Decimal | None
    tick: Decimal
    synced: bool
    unsynced_because: str | None


class LatestDecision(BaseModel):
    at: datetime
    strategy: str
    side: str
    outcome: str
    size: Decimal
    limit_price: Decimal
    policy: str
    reason: str


class EngineState(BaseModel):
    events: int
    out_of_order: int
    evaluations: int
    decisions: int
    orders: int
    refusals: dict[str, int]


class Latency(BaseModel):
    """Receive-to-engine latency of the last events (ms): how far behind the feeds the engine runs."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class OutboxState(BaseModel):
    spooled: int
    written: int
    backlog: int
    consecutive_failures: int
    last_error: str | None


class LatencyWindow:
    """The last `size` latencies, summarised on demand (once a second, not per event)."""

    def __init__(self, size: int = 1024) -> None:
        self._samples: deque[int] = deque(maxlen=size)

    def add(self, ms: int) -> None:
        self._samples.append(ms)

    def summary(self) -> Latency | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        n = len(ordered)
        return Latency(
            samples=n,
            p50_ms=float(ordered[(n - 1) // 2]),
            p99_ms=float(ordered[min(n - 1, (n * 99) // 100)]),
            max_ms=float(ordered[-1]),
        )


class LiveState(BaseModel):
    """One snapshot of a running round; `phase` is warmup, active, cutoff (no new orders) or closing."""

    at: datetime
    mode: str
    round_slug: str
    phase: str
    activation_at: datetime
    close_at: datetime
    seconds_to_activation: float
    seconds_to_close: float
    feeds: dict[str, FeedState]
    books: dict[str, BookState]
    shares: dict[str, Decimal]
    notional_spent: Decimal
    open_orders: int
    trades_placed: int
    latest_decision: LatestDecision | None
    halted: str | None
    suspended: str | None
    engine: EngineState
    latency: Latency | None
    outbox: OutboxState | None
    activation_error_ms: int | None = None
    """How late the engine saw its first event of the active window (its first chance to evaluate), after
    the scheduled activation; None until then."""


def phase_of(engine: RoundEngine, now_ms: int) -> str:
    if now_ms < engine.round.activation_ms:
        return "warmup"
    if now_ms < engine.cutoff_ms:
        return "active"
    if now_ms < engine.round.close_ms:
        return "cutoff"
    return "closing"


def live_state(
    engine: RoundEngine,
    feeds: Mapping[str, FeedHealth],
    *,
    mode: str,
    now_ms: int,
    latest: DecisionRecord | None = None,
    latency: Latency | None = None,
    outbox: OutboxStats | None = None,
    activation_error_ms: int | None = None,
) -> LiveState:
    round_ = engine.round
    books = {}
    for outcome in Outcome:
        book = engine.features.book(outcome)
        books[outcome.value] = BookState(
            best_bid=book.best_bid,
            best_ask=book.best_ask,
            tick=book.tick,
            synced=book.synced and not book.crossed,
            unsynced_because="crossed" if book.synced and book.crossed else book.desync_reason,
        )
    exposure = engine.exposure
    return LiveState(
        at=ms_to_datetime(now_ms),
        mode=mode,
        round_slug=round_.slug,
        phase=phase_of(engine, now_ms),
        activation_at=round_.activation,
        close_at=round_.close,
        seconds_to_activation=max(round_.activation_ms - now_ms, 0) / 1000,
        seconds_to_close=max(round_.close_ms - now_ms, 0) / 1000,
        feeds={
            name: FeedState(
                connected=h.connected,
                stale=h.stale,
                last_message_age_s=h.last_message_age_s,
                reconnects=h.reconnects,
                resyncs=h.resyncs,
                malformed=h.malformed,
            )
            for name, h in feeds.items()
        },
        books=books,
        shares={outcome.value: exposure.held(outcome) for outcome in Outcome},
        notional_spent=exposure.notional_spent,
        open_orders=len(exposure.open_orders),
        trades_placed=exposure.trades_placed,
        latest_decision=None if latest is None else _decision(latest),
        halted=engine.halted,
        suspended=engine.suspended,
        engine=EngineState(
            events=engine.stats.events,
            out_of_order=engine.stats.out_of_order,
            evaluations=engine.stats.evaluations,
            decisions=engine.stats.decisions,
            orders=engine.stats.orders,
            refusals=dict(engine.stats.refusals),
        ),
        latency=latency,
        outbox=None if outbox is None else _outbox(outbox),
        activation_error_ms=activation_error_ms,
    )


def _outbox(stats: OutboxStats) -> OutboxState:
    return OutboxState(
        spooled=stats.spooled,
        written=stats.written,
        backlog=max(stats.spooled - stats.written - stats.dead_lettered, 0),
        consecutive_failures=stats.consecutive_failures,
        last_error=stats.last_error,
    )


def _decision(row: DecisionRecord) -> LatestDecision:
    return LatestDecision(
        at=row.ts,
        strategy=row.strategy,
        side=row.side,
        outcome=row.outcome,
        size=row.size,
        limit_price=row.limit_price,
        policy=row.policy,
        reason=row.reason,
    )


def heartbeat(state: LiveState) -> HeartbeatRecord:
    """The state as the row the outbox carries: component `round:<mode>`, status the phase."""
    details: dict[str, Any] = state.model_dump(mode="json")
    return HeartbeatRecord(ts=state.at, component=f"round:{state.mode}", status=state.phase, details=details)
