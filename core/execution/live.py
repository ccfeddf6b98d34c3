"""The live executor: approved orders to the real CLOB, through ClobOrderPort, off the engine's thread.

Live orders need a `LivePermit`, which only exists when live mode, a private key and the explicit
confirmation are all set (core.config.Settings.live_trading_allowed): nothing else can reach the venue.
Network work happens on one worker thread, in submission order; results come back through `poll`. Fills
come from the user channel (UserParser, fed the venue-id -> order-id map this executor keeps). When an
outcome is unknown, nothing else is sent until reconciliation has found the order or established that it
was never placed.

The market data the engine passes to `observe` keeps this executor's view of each token's book: orders are
signed on the tick in force (it changes near the extremes) and a GTC/GTD that crosses is checked as the
marketable order it is. A taker answered `delayed` (the venue holds takers on crypto Up/Down markets
~250 ms, and they cannot be cancelled meanwhile) is reported PENDING: still open, so the engine counts it
as exposure until the user channel says how it ended.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest, PreparedOrder
from core.config import Settings
from core.errors import ErrorCategory, VenueError
from core.events import BookDelta, BookSnapshot, Event, OrderStatus, OrderUpdate, TickSizeChange
from core.execution.base import ApprovedOrder, ExecutionError, ExecutionEvent
from core.market import venue_rules
from core.market.book import TokenBook

log = logging.getLogger(__name__)

Results = list[ExecutionEvent | ExecutionError]
# What a post's answer says of the order; fills and the end of a delayed taker come from the user channel.
_PLACED = {"live": OrderStatus.LIVE, "delayed": OrderStatus.PENDING, "matched": OrderStatus.LIVE}


class LivePermit:
    """Proof that live trading was asked for in every way it must be; built only from settings."""

    __slots__ = ("_token",)
    _SEAL = object()

    def __init__(self, seal: object) -> None:
        if seal is not LivePermit._SEAL:
            raise PermissionError("a LivePermit comes only from LivePermit.from_settings")
        self._token = seal

    @classmethod
    def from_settings(cls, settings: Settings) -> LivePermit:
        if not settings.live_trading_allowed:
            raise PermissionError(
                "live trading needs BTC_AGENT_MODE=live, BTC_AGENT_PRIVATE_KEY and BTC_AGENT_LIVE_CONFIRMED=true"
            )
        return cls(cls._SEAL)


@dataclass(frozen=True, slots=True)
class MarketTerms:
    """What the venue needs besides the order: the tick grid, the minimum size, the condition id."""

    condition_id: str
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool = False


class LiveExecutor:
    """Executor on the real venue; `client_ids` maps venue order ids to ours, for the user channel parser."""

    def __init__(
        self,
        port: ClobOrderPort,
        permit: LivePermit,
        terms: MarketTerms,
        *,
        reconcile_attempts: int = 5,
        reconcile_backoff_s: float = 0.5,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if not isinstance(permit, LivePermit):
            raise PermissionError("live execution needs a LivePermit")
        self._port = port
        self._terms = terms
        self._attempts = reconcile_attempts
        self._backoff_s = reconcile_backoff_s
        self._now = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.client_ids: dict[str, str] = {}
        self._venue_ids: dict[str, str] = {}
        self._books: dict[str, TokenBook] = {}
        self._results: queue.SimpleQueue[ExecutionEvent | ExecutionError] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._unknown: str | None = None
        self._worker = threading.Thread(target=self._work, name="live-executor", daemon=True)
        self._worker.start()

    @property
    def mode(self) -> str:
        return "live"

    @property
    def reconciling(self) -> bool:
        return self._unknown is not None

    def submit(self, order: ApprovedOrder, now_ms: int) -> Results:
        intent = order.intent
        if self._unknown is not None:
            return [
                ExecutionError(
                    intent.order_id,
                    ErrorCategory.TRANSIENT,
                    "reconciling",
                    f"order {self._unknown} has an unknown outcome; nothing is sent until it is reconciled",
                )
            ]
        book = self._books.get(intent.token_id)
        request = OrderRequest(
            token_id=intent.token_id,
            side=intent.side,
            price=intent.price,
            size=intent.size,
            order_type=intent.order_type,
            tick_size=self._terms.tick_size if book is None else book.tick,
            min_size=self._terms.min_order_size,
            neg_risk=self._terms.neg_risk,
            post_only=intent.post_only,
            expiration_s=(intent.expires_ms or 0) // 1000,
            crosses=book is not None
            and venue_rules.crosses(
                intent.side, intent.price, best_bid=book.best_bid, best_ask=book.best_ask
            ),
        )
        self._jobs.put(lambda: self._place(intent.order_id, request))
        return []

    def cancel(self, order_id: str, now_ms: int) -> Results:
        venue_id = self._venue_ids.get(order_id)
        if venue_id is not None:
            self._jobs.put(lambda: self._cancel(order_id, venue_id))
        return []

    def cancel_all(self, now_ms: int) -> Results:
        self._jobs.put(self._cancel_all)
        return []

    def observe(self, event: Event) -> Results:
        if isinstance(event, BookSnapshot):
            self._book(event.token_id).apply_snapshot(event)
        elif isinstance(event, BookDelta):
            self._book(event.token_id).apply_delta(event)
        elif isinstance(event, TickSizeChange):
            self._book(event.token_id).tick = event.tick_size
        return []

    def poll(self, now_ms: int) -> Results:
        results: Results = []
        while True:
            try:
                results.append(self._results.get_nowait())
            except queue.Empty:
                return results

    def _book(self, token_id: str) -> TokenBook:
        book = self._books.get(token_id)
        if book is None:
            book = self._books[token_id] = TokenBook(token_id, self._terms.tick_size)
        return book

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(None)
        self._worker.join(timeout_s)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until the queued work is done (for shutdown and tests; never from the engine)."""
        done = threading.Event()
        self._jobs.put(done.set)
        return done.wait(timeout_s)

    # --- the worker thread --------------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a bug in one job must not stop the queue behind it
                log.exception("live executor: job failed")

    def _place(self, order_id: str, request: OrderRequest) -> None:
        try:
            prepared = self._port.prepare(request)
        except VenueError as exc:
            self._fail(order_id, exc)
            return
        self._track(order_id, prepared)
        try:
            result = self._port.post(prepared)
        except VenueError as exc:
            if exc.category is ErrorCategory.UNKNOWN:
                self._reconcile(order_id, prepared.venue_order_id)
            else:
                self._fail(order_id, exc)
            return
        self._update(order_id, _PLACED.get(result.status, OrderStatus.LIVE), prepared.venue_order_id)

    def _reconcile(self, order_id: str, venue_id: str) -> None:
        """The answer was lost: look the order up until the venue says where it is, then go on."""
        self._unknown = venue_id
        delay = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            try:
                found = self._port.reconcile(venue_id, market=self._terms.condition_id)
            except VenueError as exc:
                log.warning("reconcile %s (attempt %d): %s", venue_id, attempt, exc)
            else:
                if found.found:
                    status = OrderStatus.FILLED
                    if found.open_order is not None:
                        venue_status = str(found.open_order.get("status", "")).lower()
                        status = _PLACED.get(venue_status, OrderStatus.LIVE)
                    self._update(order_id, status, venue_id, reason="reconciled after an unknown outcome")
                    self._unknown = None
                    return
                if attempt >= 2:
                    self._update(order_id, OrderStatus.REJECTED, venue_id, reason="reconciled: never placed")
                    self._unknown = None
                    return
            time.sleep(delay)
            delay *= 2
        log.error("order %s still unknown after %d lookups; trading stays blocked", venue_id, self._attempts)
        self._results.put(
            ExecutionError(
                order_id, ErrorCategory.FATAL, "unreconciled", f"order {venue_id} could not be reconciled"
            )
        )

    def _cancel(self, order_id: str, venue_id: str) -> None:
        try:
            if self._port.cancel(venue_id):
                self._update(order_id, OrderStatus.CANCELED, venue_id, reason="user")
        except VenueError as exc:
            self._fail(order_id, exc)

    def _cancel_all(self) -> None:
        try:
            for venue_id in self._port.cancel_all():
                order_id = self.client_ids.get(venue_id)
                if order_id is not None:
                    self._update(order_id, OrderStatus.CANCELED, venue_id, reason="cancel_all")
        except VenueError as exc:
            log.warning("cancel-all failed: %s", exc)

    def _track(self, order_id: str, prepared: PreparedOrder) -> None:
        self.client_ids[prepared.venue_order_id] = order_id
        self._venue_ids[order_id] = prepared.venue_order_id

    def _update(
        self, order_id: str, status: OrderStatus, venue_id: str, *, reason: str | None = None
    ) -> None:
        self._results.put(
            OrderUpdate(
                ts_ms=self._now(), order_id=order_id, status=status, venue_order_id=venue_id, reason=reason
            )
        )

    def _fail(self, order_id: str, error: VenueError) -> None:
        self._results.put(ExecutionError(order_id, error.category, error.reason, error.message))
