"""A supervised websocket feed: connect, subscribe, keep alive, turn frames into events, reconnect.

The reconnect loop is our own around `websockets.asyncio.client.connect`, not its `async for` iterator:
the iterator's backoff is process-wide (module constants or environment variables), starts with a random
0-5 s wait and never drops below 3.1 s, far from the sub-second recovery a 15-minute round needs, and it
retries without any pause when a server accepts and then immediately closes (a refused subscription).
Here the first frame a connection delivers resets the backoff (the connection is healthy); a connect
that fails, or a connection lost before any frame arrived, grows it.

Staleness is about data: a frame counts as fresh when the parser turned it into at least one event, so the
PONGs of a quiet socket do not make a frozen book look alive. Feeds whose silence is normal (the user
channel) set `stale_on_any_frame`, and then a PONG proves them alive.

Resync: a connection that delivers no data for `resync_after_s` (a subscription whose first event never
came, or a feed gone silent while the socket stays open) is dropped and made again, which subscribes
afresh; so is one on which data resumes after such a silence, and one whose owner calls `request_resync`
(a book that stopped adding up). Only a new subscription makes the venue send whole snapshots again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI

from core.clock import Clock
from core.events import Event, FeedStatus

log = logging.getLogger(__name__)

Parse = Callable[[str | bytes, int], Sequence[Event]]
Emit = Callable[[Event], None]

PROTOCOL_PING_INTERVAL_S = 20.0
OPEN_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0
MAX_FRAME_BYTES = 4 * 2**20
MAX_WATCHDOG_TICK_S = 0.25
MAX_ERROR_TEXT = 200
MIN_RESYNC_INTERVAL_S = 1.0


class _FramesUnlogged(logging.LoggerAdapter[logging.Logger]):
    """The websockets library's logger with DEBUG off: at DEBUG it logs every frame, secrets included."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_WIRE_LOG = _FramesUnlogged(logging.getLogger(f"{__name__}.websockets"))


class _Idle(Exception):
    """No frame at all for too long: the connection is presumed dead."""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed's vital signs. `reconnects` counts successful connections after the first, `resyncs` the
    connections we dropped on purpose to subscribe afresh (`resync_reasons` says why), `messages` every
    frame received (PONGs too), `consecutive_failures` the attempts since the last healthy connection,
    `next_retry_s` the pending reconnect delay (None while connected), `longest_silence_s` the longest run
    without data since the feed started (the current one included), `stale_s` the time spent stale."""

    feed: str
    connected: bool
    stale: bool
    last_message_age_s: float | None
    messages: int
    reconnects: int
    consecutive_failures: int
    next_retry_s: float | None
    malformed: int
    callback_errors: int
    last_error: str | None
    resyncs: int = 0
    resync_reasons: dict[str, int] = field(default_factory=dict)
    longest_silence_s: float = 0.0
    stale_s: float = 0.0


class Backoff:
    """Exponential delays with jitter: the n-th is drawn from [d/2, d], d = initial * 2**n, capped at max."""

    def __init__(self, initial_s: float, max_s: float, *, rng: Callable[[], float] = random.random) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"backoff needs 0 < initial ({initial_s}) <= max ({max_s})")
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._max_s, self._initial_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return ceiling * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self.failures = 0


class FeedClient:
    """One websocket subscription kept alive until `stop()`; frames go through `parse` to `emit`.

    `subscribe` is called on every (re)connect, so it may reveal secrets late and never store frames.
    `ping_text` is sent every `ping_interval_s` (endpoints that want a text PING); without it the
    websockets library's protocol-level ping is on instead. `idle_timeout_s`, when set, drops a
    connection that received no frame at all (not even a PONG) for that long; `resync_after_s`, when set,
    one that delivered no data for that long (see the module's docstring).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        subscribe: Callable[[], Sequence[str]],
        parse: Parse,
        clock: Clock,
        malformed_count: Callable[[], int] | None = None,
        ping_text: str | None = None,
        ping_interval_s: float = 10.0,
        stale_after_s: float = 5.0,
        stale_on_any_frame: bool = False,
        idle_timeout_s: float | None = None,
        resync_after_s: float | None = None,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        if ping_interval_s <= 0 or stale_after_s <= 0:
            raise ValueError("ping_interval_s and stale_after_s must be positive")
        if resync_after_s is not None and resync_after_s <= 0:
            raise ValueError(f"resync_after_s must be positive, got {resync_after_s}")
        self.name = name
        self.url = url
        self._subscribe = subscribe
        self._parse = parse
        self._clock = clock
        self._malformed_count = malformed_count
        self._ping_text = ping_text
        self._ping_interval_s = ping_interval_s
        self._stale_after_ms = round(stale_after_s * 1000)
        self._stale_on_any_frame = stale_on_any_frame
        self._idle_timeout_s = idle_timeout_s
        self._resync_after_ms = None if resync_after_s is None else round(resync_after_s * 1000)
        shortest = min(stale_after_s, resync_after_s or stale_after_s)
        self._watchdog_tick_s = min(shortest / 10, MAX_WATCHDOG_TICK_S)
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._connect_options: dict[str, Any] = {
            "ping_interval": None if ping_text is not None else PROTOCOL_PING_INTERVAL_S,
            "ping_timeout": None if ping_text is not None else PROTOCOL_PING_INTERVAL_S,
            "open_timeout": OPEN_TIMEOUT_S,
            "close_timeout": CLOSE_TIMEOUT_S,
            "max_size": MAX_FRAME_BYTES,
            "logger": _WIRE_LOG,
        }
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False
        self._ws: ClientConnection | None = None
        self._stale = False
        self._last_fresh_ms = 0
        self._last_frame_ms: int | None = None
        self._session_frames = 0
        self._connections = 0
        self._messages = 0
        self._callback_errors = 0
        self._next_retry_s: float | None = None
        self._last_error: str | None = None
        self._reported: set[str] = set()
        self._down = False
        self._connected_ms = 0
        self._resyncs: Counter[str] = Counter()
        self._resync_pending: str | None = None
        self._session_data = False
        self._longest_silence_ms = 0
        self._stale_since_ms: int | None = None
        self._stale_ms = 0

    async def run(self, emit: Emit) -> None:
        """Stay subscribed until `stop()` (which is final); only an unusable URL ends it with an exception."""
        if self._running:
            raise RuntimeError(f"feed {self.name} is already running")
        self._running = True
        self._last_fresh_ms = self._clock.now_ms()
        watchdog = asyncio.create_task(self._watch(emit), name=f"feed-{self.name}-watchdog")
        try:
            while not self._stopping.is_set():
                await self._session(emit)
                if self._stopping.is_set():
                    break
                self._next_retry_s = self._backoff.next_delay()
                log.info("feed %s: reconnecting in %.3f s", self.name, self._next_retry_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._next_retry_s)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        """Close the connection with a normal close frame and wait for `run` to return."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        if self._running:
            await self._finished.wait()

    def request_resync(self, reason: str) -> bool:
        """Drop the connection and subscribe afresh; False (nothing done) when not connected, when a resync is
        already under way, or when the connection is younger than `MIN_RESYNC_INTERVAL_S` (a new
        subscription needs a moment to deliver its snapshots)."""
        if self._clock.now_ms() - self._connected_ms < MIN_RESYNC_INTERVAL_S * 1000:
            return False
        return self._resync(reason)

    def _resync(self, reason: str) -> bool:
        ws = self._ws
        if ws is None or self._stopping.is_set() or self._resync_pending is not None:
            return False
        self._resync_pending = reason
        self._resyncs[reason] += 1
        log.warning("feed %s: resync (%s): subscribing afresh", self.name, reason)
        ws.transport.abort()
        return True

    def health(self) -> FeedHealth:
        last = self._last_frame_ms
        now = self._clock.now_ms()
        stale_ms = self._stale_ms + (0 if self._stale_since_ms is None else now - self._stale_since_ms)
        silence_ms = max(self._longest_silence_ms, now - self._last_fresh_ms if self._running else 0)
        return FeedHealth(
            feed=self.name,
            connected=self._ws is not None,
            stale=self._stale,
            last_message_age_s=None if last is None else (self._clock.now_ms() - last) / 1000,
            messages=self._messages,
            reconnects=max(self._connections - 1, 0),
            consecutive_failures=self._backoff.failures,
            next_retry_s=None if self._ws is not None else self._next_retry_s,
            malformed=self._malformed_count() if self._malformed_count else 0,
            callback_errors=self._callback_errors,
            last_error=self._last_error,
            resyncs=self._resyncs.total(),
            resync_reasons=dict(self._resyncs),
            longest_silence_s=silence_ms / 1000,
            stale_s=stale_ms / 1000,
        )

    async def _session(self, emit: Emit) -> None:
        """One connection, from the handshake to its loss."""
        self._session_frames = 0
        try:
            async with connect(self.url, **self._connect_options) as ws:
                await self._serve(ws, emit)
        except InvalidURI:
            raise
        except Exception as exc:
            self._connection_lost(exc)

    async def _serve(self, ws: ClientConnection, emit: Emit) -> None:
        self._ws = ws
        self._next_retry_s = None
        if self._stopping.is_set():
            return
        self._connections += 1
        self._connected_ms = self._clock.now_ms()
        pending, self._resync_pending, self._session_data = self._resync_pending, None, False
        why = "connect" if self._connections == 1 else f"resync:{pending}" if pending else "reconnect"
        keepalive = helper = None
        try:
            for event in self._connected(why):
                self._deliver(emit, event)
            for request in self._subscribe():
                await ws.send(request)
            if self._ping_text is not None:
                keepalive = asyncio.create_task(self._keepalive(ws, self._ping_text))
            follow_up = self._subscribed(emit)
            if follow_up is not None:
                helper = asyncio.create_task(follow_up)
            while True:
                try:
                    async with asyncio.timeout(self._idle_timeout_s):
                        frame = await ws.recv()
                except TimeoutError:
                    ws.transport.abort()
                    raise _Idle(f"no frame for {self._idle_timeout_s} s") from None
                self._on_frame(frame, emit)
        finally:
            self._ws = None
            for task in (keepalive, helper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    def _connected(self, why: str) -> Sequence[Event]:
        """Events to deliver when a connection opens, before it subscribes, and when data resumes after a
        silence (then before the data); `why` is "connect" for the first connection, "reconnect" after a
        loss, "silence", or the reason of the resync that dropped the last connection."""
        return ()

    def _subscribed(self, emit: Emit) -> Coroutine[Any, Any, None] | None:
        """Work that lives as long as this connection, started once it has subscribed (none here)."""
        return None

    async def _keepalive(self, ws: ClientConnection, text: str) -> None:
        while True:
            await asyncio.sleep(self._ping_interval_s)
            await ws.send(text)

    def _on_frame(self, frame: str | bytes, emit: Emit) -> None:
        now = self._clock.now_ms()
        self._messages += 1
        self._session_frames += 1
        self._last_frame_ms = now
        if self._session_frames == 1:
            self._backoff.reset()
            if self._down:
                self._down = False
                log.warning("feed %s: reconnected; data flows again", self.name)
        try:
            events = self._parse(frame, now)
        except Exception as exc:
            self._callback_failed("parse", exc)
            events = ()
        resync_ms = self._resync_after_ms
        if events and resync_ms is not None and now - self._last_fresh_ms >= resync_ms:
            # Data again after a silence: whatever the silence swallowed is unknown.
            for event in self._connected("silence"):
                self._deliver(emit, event)
            self.request_resync("silence")
        for event in events:
            self._deliver(emit, event)
        if events or self._stale_on_any_frame:
            self._longest_silence_ms = max(self._longest_silence_ms, now - self._last_fresh_ms)
            self._last_fresh_ms = now
            self._session_data = True
            if self._stale:
                self._stale = False
                if self._stale_since_ms is not None:
                    self._stale_ms += now - self._stale_since_ms
                    self._stale_since_ms = None
                self._deliver(emit, FeedStatus(ts_ms=now, feed=self.name, stale=False))

    async def _watch(self, emit: Emit) -> None:
        while True:
            await asyncio.sleep(self._watchdog_tick_s)
            now = self._clock.now_ms()
            if not self._stale and now - self._last_fresh_ms >= self._stale_after_ms:
                self._stale = True
                self._stale_since_ms = now
                log.warning("feed %s: stale, no data for %d ms", self.name, now - self._last_fresh_ms)
                self._deliver(emit, FeedStatus(ts_ms=now, feed=self.name, stale=True))
            resync_ms = self._resync_after_ms
            if (
                resync_ms is not None
                and self._ws is not None
                and now - max(self._last_fresh_ms, self._connected_ms) >= resync_ms
            ):
                self._resync("silence" if self._session_data else "no_first_event")

    def _deliver(self, emit: Emit, event: Event) -> None:
        try:
            emit(event)
        except Exception as exc:
            self._callback_failed("emit", exc)

    def _callback_failed(self, stage: str, exc: Exception) -> None:
        self._callback_errors += 1
        self._last_error = _describe(f"{stage} raised", exc)
        kind = f"{stage}:{type(exc).__name__}"
        if kind not in self._reported:
            self._reported.add(kind)
            log.error(
                "feed %s: %s raised %s; frame skipped, feed continues (repeats are only counted)",
                self.name,
                stage,
                type(exc).__name__,
                exc_info=exc,
            )

    def _connection_lost(self, exc: Exception) -> None:
        if self._stopping.is_set():
            return
        if self._resync_pending is not None:
            return  # dropped on purpose: `request_resync` said so at WARNING
        self._last_error = _describe("connection", exc)
        # At WARNING once per outage (the drop, then its return); the retries in between only at INFO.
        level = logging.INFO if self._down else logging.WARNING
        self._down = True
        log.log(level, "feed %s: connection lost (%s); reconnecting", self.name, self._last_error)


def _describe(what: str, exc: Exception) -> str:
    text = f"{what}: {type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
