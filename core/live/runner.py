"""Running one live (or paper) round: discover, connect, warm, trade the active window, settle.

This is the work of the supervised `run_round` task, kept free of Prefect: feeds and timers produce events,
one loop feeds them to the engine in arrival order, a tape records them, records go to the sink (the durable
outbox). A run that cannot be warm by the activation instant records a missed activation and trades nothing
(a resumed run trades on instead); a run for a round that has closed records only that. A resumed attempt
(`attempt` > 1, after a crash) starts from the round's `history` (orders, fills) and new ids, and settles
after the close on the venue's official outcome. The halt file is watched ten times a second and
`halt_check` twice: when either names a reason the engine stops opening positions and cancels what rests,
and the round still settles; while they cannot be read past the grace, it opens nothing (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import SQLModel

from core.adapters.polymarket.book_rest import RestBookFetcher
from core.adapters.polymarket.feed import FeedClient, FeedHealth
from core.adapters.polymarket.gamma import MarketInfo
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.adapters.polymarket.price_parser import RtdsParser
from core.adapters.polymarket.price_ws import RtdsPriceFeed
from core.adapters.polymarket.user_ws import USER_FEED
from core.clock import Clock, WallClock
from core.config import Settings
from core.engine.assembly import EngineRecipe, build_engine, tape_meta_of
from core.engine.engine import RecordSink, RoundEngine, RoundMarket
from core.engine.tape import TapeWriter, next_segment
from core.events import (
    Event,
    Fill,
    MarketResolved,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Timer,
)
from core.execution.base import Executor
from core.live.controls import CONTROLS_POLL_S, OperatorControls
from core.live.halt import HALT_FILE_POLL_S, FailClosed, HaltFileWatch, halt_path
from core.live.publish import RedisPublisher
from core.live.recovery import RoundHistory
from core.live.state import STATE_EVERY_S, LatencyWindow, heartbeat, live_state
from core.market.book import TokenBook
from core.market.rounds import Round
from core.market.settlement import settle_round
from core.risk.rules.stale_feed import FEEDS as STALE_TRIP_FEEDS
from core.risk.state import AccountState
from core.store.models import (
    DecisionRecord,
    FillRecord,
    OrderRecord,
    RiskEventRecord,
    RoundRow,
    SettlementRecord,
    VenueRulesRow,
)
from core.store.outbox import Outbox

log = logging.getLogger(__name__)

TICK_MS = 200
BOOK_CHECK_S = 0.25
HALT_POLL_S = 0.5
HALT_CHECK_TIMEOUT_S = 10.0
WARMUP_MIN_S = 5.0
RESOLUTION_WAIT_S = 20.0

HaltCheck = Callable[[], Awaitable[str | None]]
ControlsCheck = Callable[[], Awaitable[OperatorControls]]


class VenueSession(Protocol):
    """Live trading's own parts, built only with a `LivePermit`: the executor on the venue, the user
    channel that reports our orders and fills, and the venue's heartbeat dead-man switch."""

    @property
    def executor(self) -> Executor: ...

    def feeds(self) -> Sequence[FeedClient]:
        """Feeds whose events go to the engine beside the market data (the user channel)."""
        ...

    async def keepalive(self) -> None:
        """Runs for the whole round (order heartbeats); cancelled when the round ends."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class RoundOutcome:
    """What became of a round's run: the report's raw material."""

    slug: str
    status: str
    late_start: bool = False
    winner: Outcome | None = None
    strike: Decimal | None = None
    settle_price: Decimal | None = None
    pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    decisions: int = 0
    orders: int = 0
    fills: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    halted: str | None = None
    halt_seen_ms: int | None = None
    last_order_ms: int | None = None
    feed_health: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    tape: str | None = None
    attempt: int = 1
    reason: str | None = None


class TeeSink:
    """Passes records on, and tells `progress` about the ones a person watching wants to see; the first
    refusal of each reason in a round goes to `alert` (a warning), its repeats to `progress`."""

    def __init__(
        self,
        inner: RecordSink,
        progress: Callable[[str], None] | None,
        on_trip: Callable[[str], None] | None = None,
        alert: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.progress = progress
        self.alert = alert or progress
        self.on_trip = on_trip
        self.last_order_ms: int | None = None
        self.latest_decision: DecisionRecord | None = None
        self.listeners: list[Callable[[SQLModel], None]] = []
        self.refused: Counter[str] = Counter()

    def put(self, row: SQLModel, *, sync: bool = False) -> None:
        self.inner.put(row, sync=sync)
        for listener in self.listeners:
            listener(row)
        if isinstance(row, OrderRecord):
            self.last_order_ms = int(row.ts.timestamp() * 1000)
        elif isinstance(row, DecisionRecord):
            self.latest_decision = row
        if isinstance(row, RiskEventRecord) and row.kind == "trip" and self.on_trip is not None:
            self.on_trip(f"{row.reason_code}: {row.message}")
        if self.progress is None:
            return
        if isinstance(row, DecisionRecord):
            self.progress(
                f"decision  {row.strategy}: {row.side} {row.outcome} {row.size} @ {row.limit_price} ({row.policy}) - {row.reason}"
            )
        elif isinstance(row, RiskEventRecord) and row.kind == "verdict":
            if not row.approved:
                self._refused(row)
        elif isinstance(row, RiskEventRecord) and (row.kind != "trip" or self.on_trip is None):
            # Trips are told by on_trip, in the trip policy's words; a reset says what lifted one.
            self.progress(f"risk      {row.kind}: {row.reason_code} - {row.message}")
        elif isinstance(row, FillRecord):
            self.progress(
                f"fill      {row.side} {row.size} {row.outcome} @ {row.price} fee {row.fee} ({row.liquidity})"
            )
        elif isinstance(row, SettlementRecord):
            self.progress(f"settled   {row.outcome.upper()} wins; P&L {row.pnl} (fees {row.fees})")

    def _refused(self, row: RiskEventRecord) -> None:
        self.refused[row.reason_code] += 1
        seen = self.refused[row.reason_code]
        if seen == 1 and self.alert is not None:
            self.alert(
                f"risk refused an order: {row.reason_code} - {row.message} (repeats are logged at INFO)"
            )
        elif self.progress is not None:
            self.progress(f"risk      refused again ({seen}x): {row.reason_code} - {row.message}")


def round_market(market: MarketInfo) -> RoundMarket:
    return RoundMarket(
        slug=market.slug,
        up_token_id=market.up_token_id,
        down_token_id=market.down_token_id,
        tick_size=market.tick_size,
        min_order_size=market.min_order_size,
        fee_schedule=market.fee_schedule,
        settlement_source=market.settlement_source,
        strike=market.strike,
        condition_id=market.condition_id,
    )


def venue_rules_row(market: MarketInfo) -> VenueRulesRow:
    return VenueRulesRow(
        round_slug=market.slug,
        condition_id=market.condition_id,
        up_token_id=market.up_token_id,
        down_token_id=market.down_token_id,
        tick_size=market.tick_size,
        min_order_size=market.min_order_size,
        fee_rate=market.fee_schedule.rate,
        fee_exponent=market.fee_schedule.exponent,
        fee_taker_only=market.fee_schedule.taker_only,
        resolution_source=market.resolution_source,
        settlement_source=market.settlement_source.value,
        market_version=market.market_version,
    )


def round_row(
    round_: Round,
    status: str,
    *,
    strike: Decimal | None = None,
    flow_run_id: str | None = None,
    mode: str = "paper",
    reason: str | None = None,
) -> RoundRow:
    return RoundRow(
        slug=round_.slug,
        open_at=round_.open,
        close_at=round_.close,
        length_s=round_.length_s,
        status=status,
        strike=strike,
        flow_run_id=flow_run_id,
        mode=mode,
        reason=reason[:500] if reason else None,
    )


class RoundRunner:
    """One round, from the wake-up to the settlement, on real feeds."""

    def __init__(
        self,
        settings: Settings,
        round_: Round,
        market: MarketInfo,
        recipe: EngineRecipe,
        *,
        sink: RecordSink,
        run_id: str,
        clock: Clock | None = None,
        executor: Executor | None = None,
        account: AccountState | None = None,
        tape_dir: Path | None = None,
        halt_check: HaltCheck | None = None,
        progress: Callable[[str], None] | None = None,
        flow_run_id: str | None = None,
        on_trip: Callable[[str], None] | None = None,
        venue: VenueSession | None = None,
        attempt: int = 1,
        history: RoundHistory | None = None,
        alert: Callable[[str], None] | None = None,
        controls_check: ControlsCheck | None = None,
    ) -> None:
        self.settings = settings
        self.round = round_
        self.market = market
        self.recipe = recipe
        self.sink = TeeSink(sink, progress, on_trip, alert=alert)
        self.attempt = attempt
        self.history = history or RoundHistory()
        self.run_id = run_id
        self.clock = clock or WallClock()
        self.venue = venue
        self.executor = venue.executor if venue is not None else executor
        self.account = account
        self.tape_dir = tape_dir
        self.halt_check = halt_check
        self.controls_check = controls_check
        self.progress = progress or (lambda line: None)
        self.flow_run_id = flow_run_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._chainlink: list[tuple[int, Decimal]] = []
        self._resolved: MarketResolved | None = None
        self._latency = LatencyWindow()
        self._activation_error_ms: int | None = None

    async def run(self) -> RoundOutcome:
        round_, now = self.round, self.clock.now_ms()
        outcome = RoundOutcome(slug=round_.slug, status="pending", attempt=self.attempt)
        self.sink.put(venue_rules_row(self.market))
        if self.history.settlement is not None:
            return self._settled_before(outcome)
        if now >= round_.close_ms:
            if self.resumed:
                return self._settle_after_close(outcome)
            self.sink.put(self._round_row("closed_before_start"))
            outcome.status = "closed_before_start"
            self.progress(f"{round_.slug}: closed before the run started; nothing to do")
            return outcome
        if not self.resumed and now > round_.activation_ms - WARMUP_MIN_S * 1000:
            self.sink.put(self._round_row("missed_activation"))
            outcome.status, outcome.late_start = "missed_activation", True
            late_by = (now - round_.activation_ms) / 1000
            self.progress(
                f"{round_.slug}: started {late_by:+.1f} s from activation: missed activation, no trading"
            )
            return outcome
        engine = self._engine()
        self.sink.put(self._round_row("active", strike=engine.market.strike))
        if self.resumed:
            self.progress(f"{round_.slug}: {self._carried_over(engine)}; trading on until the close")
        else:
            self.progress(
                f"{round_.slug}: warming up; active from {round_.activation.time()} to {round_.close.time()} UTC"
            )
        await self._trade(engine, outcome)
        return outcome

    @property
    def resumed(self) -> bool:
        return self.attempt > 1

    def _engine(self) -> RoundEngine:
        """The round's engine; on a resumed attempt it starts from what the earlier attempts did."""
        engine = build_engine(
            self.round,
            round_market(self.market),
            self.recipe,
            run_id=self.run_id,
            sink=self.sink,
            account=self.account,
            executor=self.executor,
            attempt=self.attempt,
            trip_feeds=STALE_TRIP_FEEDS if self.venue is None else (*STALE_TRIP_FEEDS, USER_FEED),
        )
        engine.restore(self.history.orders, self.history.fills)
        return engine

    def _carried_over(self, engine: RoundEngine) -> str:
        held = ", ".join(f"{_plain(engine.exposure.held(o))} {o.value}" for o in Outcome)
        return (
            f"resumed (attempt {self.attempt}): {len(self.history.orders)} orders and "
            f"{len(self.history.fills)} fills carried over, holding {held}, "
            f"{_plain(engine.exposure.notional_spent)} pUSD spent"
        )

    def _round_row(
        self, status: str, *, strike: Decimal | None = None, reason: str | None = None
    ) -> RoundRow:
        mode = self.executor.mode if self.executor is not None else "paper"
        return round_row(
            self.round, status, strike=strike, flow_run_id=self.flow_run_id, mode=mode, reason=reason
        )

    def _settled_before(self, outcome: RoundOutcome) -> RoundOutcome:
        settled = self.history.settlement
        assert settled is not None
        outcome.status, outcome.pnl, outcome.fees = "settled", settled.pnl, settled.fees
        outcome.winner, outcome.strike = Outcome(settled.outcome), settled.strike
        outcome.settle_price, outcome.fills = settled.settle_price, len(self.history.fills)
        outcome.orders = len(self.history.orders)
        self.sink.put(self._round_row("settled", strike=settled.strike))
        self.progress(f"{self.round.slug}: already settled by an earlier attempt; P&L {settled.pnl}")
        return outcome

    def _settle_after_close(self, outcome: RoundOutcome) -> RoundOutcome:
        """A resumed round whose window has closed: settle what earlier attempts hold on the venue's
        official outcome; without one, say so and leave it for the next run to settle."""
        engine = self._engine()
        self.progress(f"{self.round.slug}: {self._carried_over(engine)}; the window has closed")
        outcome.strike, outcome.orders = engine.market.strike, len(self.history.orders)
        winner = self.market.winner
        if winner is None:
            traded = self.history.traded
            outcome.status = "unsettled" if traded else "aborted"
            outcome.reason = (
                "resumed after the close; the venue has not published the outcome yet, the next run settles it"
                if traded
                else "a run of this round died; nothing was traded and no outcome is published yet"
            )
            self.sink.put(self._round_row(outcome.status, strike=outcome.strike, reason=outcome.reason))
            self.progress(f"{self.round.slug}: {outcome.status}: {outcome.reason}")
            return outcome
        settlement = engine.settle(winner, None, max(self.clock.now_ms(), self.round.close_ms))
        outcome.winner, outcome.pnl, outcome.fees = winner, settlement.pnl, settlement.fees
        outcome.fills, outcome.digest = engine.fill_count, engine.digest()
        outcome.status = "settled"
        outcome.reason = (
            f"settled after a crash on the venue's outcome ({winner.value}), attempt {self.attempt}"
        )
        self.sink.put(self._round_row("settled", strike=outcome.strike, reason=outcome.reason))
        return outcome

    async def _trade(self, engine: RoundEngine, outcome: RoundOutcome) -> None:
        market_parser, price_parser = MarketParser(), RtdsParser()
        market_feed = MarketFeed(
            self.settings.venue.market_ws_url,
            [self.market.up_token_id, self.market.down_token_id],
            parse=market_parser.parse,
            clock=self.clock,
            malformed_count=lambda: market_parser.malformed.total,
            fetch_snapshot=RestBookFetcher(self.settings.venue.clob_url, market_parser, self.clock),
        )
        price_feed = RtdsPriceFeed(
            self.settings.venue.rtds_url,
            parse=price_parser.parse,
            clock=self.clock,
            malformed_count=lambda: price_parser.malformed.total,
        )
        feeds: list[FeedClient] = [
            market_feed,
            price_feed,
        ]
        if self.venue is not None:
            feeds.extend(self.venue.feeds())
        tasks = [asyncio.create_task(feed.run(self._queue.put_nowait)) for feed in feeds]
        tasks.append(asyncio.create_task(self._tick()))
        books = [engine.features.book(outcome) for outcome in Outcome]
        tasks.append(asyncio.create_task(watch_books(books, market_feed)))
        publisher = self._publisher()
        tasks.append(asyncio.create_task(self._publish_state(engine, feeds, publisher)))
        if self.venue is not None:
            tasks.append(asyncio.create_task(self.venue.keepalive()))
        tasks.append(asyncio.create_task(self._watch_halt(engine, outcome)))
        if self.controls_check is not None:
            tasks.append(asyncio.create_task(self._watch_controls(engine, self.controls_check)))
        try:
            tape = self._tape(engine)
            finished = False
            try:
                await self._consume(engine, tape, until_ms=self.round.close_ms)
                engine.finish(self.clock.now_ms())
                await self._await_resolution(engine, tape)
                finished = True
            finally:
                for feed in feeds:
                    await feed.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if self.venue is not None:
                    await self.venue.close()
                if tape is not None:
                    # Closed only when the round ran to its end: after a crash the parts stay, and the attempt
                    # that resumes the round carries on with the same tape.
                    await asyncio.to_thread(tape.close if finished else tape.flush)
            outcome.feed_health = {feed.health().feed: _health(feed.health()) for feed in feeds}
            outcome.feed_health[market_feed.name]["rest_books"] = market_feed.rest_snapshots
            outcome.feed_health[price_feed.name]["quarantined"] = price_parser.gate.quarantined.total()
            self._settle(engine, outcome)
            outcome.tape = str(tape.path) if tape is not None else None
        finally:
            if publisher is not None:
                self.sink.listeners.remove(publisher.record)
                await publisher.flush()
                await publisher.close()

    async def _consume(self, engine: RoundEngine, tape: TapeWriter | None, *, until_ms: int) -> None:
        activated = False
        while True:
            event = await self._queue.get()
            self._ingest(event, engine, tape)
            if not activated and event.ts_ms >= self.round.activation_ms:
                activated = True
                self._activation_error_ms = event.ts_ms - self.round.activation_ms
                self.progress(f"{self.round.slug}: active (T-{self.round.close_ms - event.ts_ms} ms)")
            if event.ts_ms >= until_ms and isinstance(event, Timer):
                return

    async def _await_resolution(self, engine: RoundEngine, tape: TapeWriter | None) -> None:
        """The venue's `market_resolved` if it comes soon; else our own rule on the Chainlink ticks."""
        deadline = self.round.close_ms + int(RESOLUTION_WAIT_S * 1000)
        while self._resolved is None and self.clock.now_ms() < deadline and not self._closing_tick_seen():
            with contextlib.suppress(TimeoutError):
                self._ingest(await asyncio.wait_for(self._queue.get(), timeout=0.25), engine, tape)

    def _ingest(self, event: Event, engine: RoundEngine, tape: TapeWriter | None) -> None:
        """Every event: onto the tape, into the settlement evidence, into the engine.

        Our own orders' reports (the live user channel) stay off the tape: a replay re-executes the
        decisions on paper, and taped fills would be booked a second time; the store keeps them."""
        if not isinstance(event, Timer):
            self._latency.add(self.clock.now_ms() - event.ts_ms)
        if tape is not None and not isinstance(event, OrderUpdate | Fill):
            tape.append(event)
        if isinstance(event, PriceTick) and event.source is PriceSource.CHAINLINK:
            self._chainlink.append((event.source_ts_ms, event.price))
        elif isinstance(event, MarketResolved):
            self._resolved = event
        engine.on_event(event)

    def _closing_tick_seen(self) -> bool:
        """A Chainlink report stamped at or after the close arrived, a few seconds ago: our rule can decide."""
        return self.clock.now_ms() > self.round.close_ms + 3000 and any(
            ts >= self.round.close_ms for ts, _ in self._chainlink
        )

    def _settle(self, engine: RoundEngine, outcome: RoundOutcome) -> None:
        ours = settle_round(
            sorted(self._chainlink, key=lambda tick: tick[0]),  # stable: a same-second correction wins
            self.round.open_ms,
            self.round.close_ms,
            self.market.settlement_source,
            strike=self.market.strike,
        )
        strike, final = ours.strike.price, ours.final.price
        winner = self._resolved.winning_outcome if self._resolved is not None else ours.winner
        outcome.strike, outcome.settle_price, outcome.winner = strike, final, winner
        outcome.decisions, outcome.orders = engine.stats.decisions, engine.stats.orders
        outcome.refusals = dict(engine.stats.refusals)
        outcome.last_order_ms = self.sink.last_order_ms
        outcome.halted = engine.halted
        if winner is None:
            outcome.digest = engine.digest()
            outcome.status = "unsettled"
            outcome.reason = f"no resolution from the venue, and our feed does not decide: {ours.undecidable}"
            self.sink.put(self._round_row("unsettled", strike=strike, reason=outcome.reason))
            self.progress(f"{self.round.slug}: {outcome.reason}; left unsettled for the venue's outcome")
            return
        settlement = engine.settle(winner, final, max(self.clock.now_ms(), self.round.close_ms))
        outcome.pnl, outcome.fees = settlement.pnl, settlement.fees
        outcome.digest = engine.digest()
        outcome.fills = engine.fill_count
        outcome.status = "halted" if engine.halted else "settled"
        self.sink.put(self._round_row(outcome.status, strike=strike))

    async def _tick(self) -> None:
        """Timers, so time passes (activation, cut-off, close) even when the feeds are quiet."""
        while True:
            self._queue.put_nowait(Timer(ts_ms=self.clock.now_ms(), name="tick"))
            await asyncio.sleep(TICK_MS / 1000)

    def _publisher(self) -> RedisPublisher | None:
        """Redis, when configured: its record queue listens to the sink; `_publish_state` drives the rest."""
        url = self.settings.redis_url
        if url is None:
            return None
        publisher = RedisPublisher(url, self.settings.mode, namespace=self.settings.redis_namespace)
        self.sink.listeners.append(publisher.record)
        return publisher

    async def _publish_state(
        self, engine: RoundEngine, feeds: Sequence[FeedClient], publisher: RedisPublisher | None
    ) -> None:
        """The round as the API shows it, every `STATE_EVERY_S`: a heartbeat row through the outbox, and on
        Redis (the state, and the records its queue holds) when configured."""
        sender = None if publisher is None else asyncio.create_task(publisher.run())
        try:
            await self._state_loop(engine, feeds, publisher)
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender

    async def _state_loop(
        self, engine: RoundEngine, feeds: Sequence[FeedClient], publisher: RedisPublisher | None
    ) -> None:
        mode = self.settings.mode
        while True:
            healths = {h.feed: h for h in (feed.health() for feed in feeds)}
            inner = self.sink.inner
            state = live_state(
                engine,
                healths,
                mode=mode,
                now_ms=self.clock.now_ms(),
                latest=self.sink.latest_decision,
                latency=self._latency.summary(),
                outbox=inner.stats if isinstance(inner, Outbox) else None,
                activation_error_ms=self._activation_error_ms,
            )
            self.sink.put(heartbeat(state))
            if publisher is not None:
                await publisher.state(state)
            await asyncio.sleep(STATE_EVERY_S)

    async def _watch_halt(self, engine: RoundEngine, outcome: RoundOutcome) -> None:
        """The kill switch as the round sees it. The halt file in the data directory is stat'ed every
        `HALT_FILE_POLL_S` (no database); `halt_check` (the store's flag, the deployment, the flow run) runs
        beside it every `HALT_POLL_S`. A reason from either halts the engine for good. Fail closed: while
        either cannot be read for longer than `kill_switch_grace_seconds`, the engine opens no positions and
        cancels what rests; it trades on by itself once both answer again and neither is engaged."""
        halt_file = HaltFileWatch(halt_path(self.settings.data_dir))
        places = ("halt file", "store and Prefect") if self.halt_check is not None else ("halt file",)
        grace_ms = int(self.settings.kill_switch_grace_seconds * 1000)
        fail_closed = FailClosed(grace_ms, self.clock.now_ms(), places)
        remote: list[str] = []
        poller = (
            asyncio.create_task(self._poll_halt_check(fail_closed, remote))
            if self.halt_check is not None
            else None
        )
        try:
            while engine.halted is None:
                now = self.clock.now_ms()
                try:
                    notice = halt_file.check()
                except OSError as exc:
                    fail_closed.failed("halt file", str(exc))
                    notice = None
                else:
                    fail_closed.ok("halt file", now)
                reason = notice.describe() if notice is not None else next(iter(remote), None)
                if reason:
                    outcome.halt_seen_ms = now
                    engine.halt(reason, now)
                    log.warning("%s: %s", self.round.slug, reason)
                    self.progress(
                        f"{self.round.slug}: HALT - {reason}; no new positions, resting orders "
                        "cancelled; the round still settles"
                    )
                    return
                self._fail_closed(engine, fail_closed.unreadable(now), now)
                await asyncio.sleep(HALT_FILE_POLL_S)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    async def _watch_controls(self, engine: RoundEngine, check: ControlsCheck) -> None:
        """The operator's strategy toggles and risk limits, read every `CONTROLS_POLL_S`; a change reaches the
        engine's next evaluation. A failed read keeps what the engine has (logged once per outage): limits
        never loosen by accident, and the kill switch, not this, is what stops trading."""
        applied = OperatorControls(engine.guard.limits, engine.disabled)
        failing = False
        while True:
            try:
                controls = await asyncio.wait_for(check(), HALT_CHECK_TIMEOUT_S)
            except Exception as exc:
                if not failing:
                    log.warning(
                        "%s: operator controls unreadable, keeping the current ones: %s", self.round.slug, exc
                    )
                failing = True
            else:
                failing = False
                changes = controls.changes_from(applied)
                if changes:
                    engine.apply_controls(
                        controls.limits, controls.disabled, self.clock.now_ms(), changes=changes
                    )
                    applied = controls
                    log.warning("%s: operator controls applied: %s", self.round.slug, changes)
                    self.progress(f"{self.round.slug}: operator controls applied: {changes}")
            await asyncio.sleep(CONTROLS_POLL_S)

    def _fail_closed(self, engine: RoundEngine, unreadable: list[str], now: int) -> None:
        if unreadable and engine.suspended is None:
            reason = (
                f"kill switch state unknown ({'; '.join(unreadable)}): no new positions until it is known"
            )
            engine.suspend(reason, now)
            log.warning("%s: %s", self.round.slug, reason)
            self.progress(f"{self.round.slug}: FAIL CLOSED - {reason}; resting orders cancelled")
        elif not unreadable and engine.suspended is not None:
            engine.unsuspend("the kill switch can be read again and is not engaged", now)
            log.warning("%s: kill switch readable again and not engaged: trading resumes", self.round.slug)
            self.progress(f"{self.round.slug}: kill switch readable again and not engaged: trading resumes")

    async def _poll_halt_check(self, fail_closed: FailClosed, found: list[str]) -> None:
        """`halt_check` every `HALT_POLL_S` until it names a reason (put in `found`); its failures are
        counted against the grace, and a check that hangs counts as one that failed."""
        assert self.halt_check is not None
        failures = 0
        while True:
            try:
                reason = await asyncio.wait_for(self.halt_check(), HALT_CHECK_TIMEOUT_S)
            except Exception as exc:
                failures += 1
                text = str(exc).strip()
                error = f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
                fail_closed.failed("store and Prefect", error)
                if failures == 1 or failures % 20 == 0:
                    log.warning("halt check failed (%d in a row): %s", failures, error)
            else:
                if failures:
                    log.warning("halt check answers again after %d failures", failures)
                failures = 0
                fail_closed.ok("store and Prefect", self.clock.now_ms())
                if reason:
                    found.append(reason)
                    return
            await asyncio.sleep(HALT_POLL_S)

    def _tape(self, engine: RoundEngine) -> TapeWriter | None:
        if self.tape_dir is None:
            return None
        self.tape_dir.mkdir(parents=True, exist_ok=True)
        return TapeWriter(
            next_segment(self.tape_dir / f"{self.round.slug}.parquet"),
            tape_meta_of(self.round, engine.market),
        )


async def watch_books(books: Sequence[TokenBook], feed: MarketFeed) -> None:
    """A book left crossed, locked or at odds with the venue's stated best prices is one the feed cannot
    heal by itself: ask it for a fresh subscription (silences and reconnects it handles itself)."""
    while True:
        await asyncio.sleep(BOOK_CHECK_S)
        for book in books:
            reason = "crossed" if book.crossed else book.desync_reason
            if reason in ("crossed", "mismatch"):
                feed.request_resync(reason)


def _plain(value: Decimal) -> str:
    """Shares and pUSD as people read them: at most the venue's 5 decimals, no trailing zeros."""
    return format(value.quantize(Decimal("0.00001")).normalize(), "f")


def _health(health: FeedHealth) -> dict[str, Any]:
    return {
        "connected": health.connected,
        "stale": health.stale,
        "messages": health.messages,
        "reconnects": health.reconnects,
        "resyncs": health.resyncs,
        "resync_reasons": health.resync_reasons,
        "malformed": health.malformed,
        "longest_silence_s": round(health.longest_silence_s, 3),
        "stale_s": round(health.stale_s, 3),
        "last_error": health.last_error,
    }
