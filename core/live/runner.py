"""Running one live (or paper) round: discover, connect, warm, trade the active window, settle.

This is the work of the supervised `run_round` task, kept free of Prefect: feeds and timers produce events,
one loop feeds them to the engine in arrival order, a tape records them, records go to the sink (the durable
outbox). A run that cannot be warm by the activation instant records a missed activation and trades nothing
(a retried run resumes instead); a run for a round that has closed records only that. `halt_check` is polled twice a second: when it names a
reason the engine stops opening positions and cancels what rests, and the round still settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel

from core.adapters.polymarket.gamma import MarketInfo
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.adapters.polymarket.price_parser import RtdsParser
from core.adapters.polymarket.price_ws import RtdsPriceFeed
from core.clock import Clock, WallClock
from core.config import Settings
from core.engine.assembly import EngineRecipe, build_engine, tape_meta_of
from core.engine.engine import RecordSink, RoundEngine, RoundMarket
from core.engine.tape import TapeWriter
from core.events import Event, MarketResolved, Outcome, PriceSource, PriceTick, Timer
from core.execution.base import Executor
from core.market.rounds import Round
from core.market.settlement import decide_outcome, settlement_price
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

log = logging.getLogger(__name__)

TICK_MS = 200
HALT_POLL_S = 0.5
WARMUP_MIN_S = 5.0
RESOLUTION_WAIT_S = 20.0

HaltCheck = Callable[[], Awaitable[str | None]]


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


class TeeSink:
    """Passes records on, and tells `progress` about the ones a person watching wants to see."""

    def __init__(
        self,
        inner: RecordSink,
        progress: Callable[[str], None] | None,
        on_trip: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.progress = progress
        self.on_trip = on_trip
        self.last_order_ms: int | None = None

    def put(self, row: SQLModel, *, sync: bool = False) -> None:
        self.inner.put(row, sync=sync)
        if isinstance(row, OrderRecord):
            self.last_order_ms = int(row.ts.timestamp() * 1000)
        if isinstance(row, RiskEventRecord) and row.kind == "trip" and self.on_trip is not None:
            self.on_trip(f"{row.reason_code}: {row.message}")
        if self.progress is None:
            return
        if isinstance(row, DecisionRecord):
            self.progress(
                f"decision  {row.strategy}: {row.side} {row.outcome} {row.size} @ {row.limit_price} ({row.policy}) - {row.reason}"
            )
        elif isinstance(row, RiskEventRecord) and not row.approved:
            self.progress(f"risk      {row.kind} refused: {row.reason_code} - {row.message}")
        elif isinstance(row, FillRecord):
            self.progress(
                f"fill      {row.side} {row.size} {row.outcome} @ {row.price} fee {row.fee} ({row.liquidity})"
            )
        elif isinstance(row, SettlementRecord):
            self.progress(f"settled   {row.outcome.upper()} wins; P&L {row.pnl} (fees {row.fees})")


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
    round_: Round, status: str, *, strike: Decimal | None = None, flow_run_id: str | None = None
) -> RoundRow:
    return RoundRow(
        slug=round_.slug,
        open_at=round_.open,
        close_at=round_.close,
        length_s=round_.length_s,
        status=status,
        strike=strike,
        flow_run_id=flow_run_id,
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
        resume: bool = False,
        on_trip: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.round = round_
        self.market = market
        self.recipe = recipe
        self.sink = TeeSink(sink, progress, on_trip)
        self.resume = resume
        self.run_id = run_id
        self.clock = clock or WallClock()
        self.executor = executor
        self.account = account
        self.tape_dir = tape_dir
        self.halt_check = halt_check
        self.progress = progress or (lambda line: None)
        self.flow_run_id = flow_run_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._chainlink: list[tuple[int, Decimal]] = []
        self._resolved: MarketResolved | None = None

    async def run(self) -> RoundOutcome:
        round_, now = self.round, self.clock.now_ms()
        outcome = RoundOutcome(slug=round_.slug, status="pending")
        self.sink.put(venue_rules_row(self.market))
        if now >= round_.close_ms:
            self.sink.put(round_row(round_, "closed_before_start", flow_run_id=self.flow_run_id))
            outcome.status = "closed_before_start"
            self.progress(f"{round_.slug}: closed before the run started; nothing to do")
            return outcome
        if not self.resume and now > round_.activation_ms - WARMUP_MIN_S * 1000:
            self.sink.put(round_row(round_, "missed_activation", flow_run_id=self.flow_run_id))
            outcome.status, outcome.late_start = "missed_activation", True
            late_by = (now - round_.activation_ms) / 1000
            self.progress(
                f"{round_.slug}: started {late_by:+.1f} s from activation: missed activation, no trading"
            )
            return outcome
        market = round_market(self.market)
        engine = build_engine(
            round_,
            market,
            self.recipe,
            run_id=self.run_id,
            sink=self.sink,
            account=self.account,
            executor=self.executor,
        )
        self.sink.put(round_row(round_, "active", strike=market.strike, flow_run_id=self.flow_run_id))
        self.progress(
            f"{round_.slug}: warming up; active from {round_.activation.time()} to {round_.close.time()} UTC"
        )
        await self._trade(engine, outcome)
        return outcome

    async def _trade(self, engine: RoundEngine, outcome: RoundOutcome) -> None:
        market_parser, price_parser = MarketParser(), RtdsParser()
        feeds = [
            MarketFeed(
                self.settings.venue.market_ws_url,
                [self.market.up_token_id, self.market.down_token_id],
                parse=market_parser.parse,
                clock=self.clock,
                malformed_count=lambda: market_parser.malformed.total,
            ),
            RtdsPriceFeed(
                self.settings.venue.rtds_url,
                parse=price_parser.parse,
                clock=self.clock,
                malformed_count=lambda: price_parser.malformed.total,
            ),
        ]
        tasks = [asyncio.create_task(feed.run(self._queue.put_nowait)) for feed in feeds]
        tasks.append(asyncio.create_task(self._tick()))
        if self.halt_check is not None:
            tasks.append(asyncio.create_task(self._watch_halt(engine, outcome)))
        tape = self._tape(engine)
        try:
            await self._consume(engine, tape, until_ms=self.round.close_ms)
            engine.finish(self.clock.now_ms())
            await self._await_resolution(engine, tape)
        finally:
            for feed in feeds:
                await feed.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if tape is not None:
                await asyncio.to_thread(tape.close)
        outcome.feed_health = {feed.health().feed: _health(feed.health()) for feed in feeds}
        self._settle(engine, outcome)
        outcome.tape = str(self._tape_path()) if tape is not None else None

    async def _consume(self, engine: RoundEngine, tape: TapeWriter | None, *, until_ms: int) -> None:
        activated = False
        while True:
            event = await self._queue.get()
            self._ingest(event, engine, tape)
            if not activated and event.ts_ms >= self.round.activation_ms:
                activated = True
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
        """Every event: onto the tape, into the settlement evidence, into the engine."""
        if tape is not None:
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
        ticks = sorted(self._chainlink)
        source = self.market.settlement_source
        strike = (
            self.market.strike
            if self.market.strike is not None
            else settlement_price(ticks, self.round.open_ms, source)
        )
        final = settlement_price(ticks, self.round.close_ms, source)
        if self._resolved is not None:
            winner: Outcome | None = self._resolved.winning_outcome
        elif strike is not None and final is not None:
            winner = decide_outcome(strike, final)
        else:
            winner = None
        outcome.strike, outcome.settle_price, outcome.winner = strike, final, winner
        outcome.decisions, outcome.orders = engine.stats.decisions, engine.stats.orders
        outcome.refusals = dict(engine.stats.refusals)
        outcome.last_order_ms = self.sink.last_order_ms
        outcome.halted = engine.halted
        if winner is None:
            outcome.digest = engine.digest()
            outcome.status = "unsettled"
            self.sink.put(round_row(self.round, "unsettled", strike=strike, flow_run_id=self.flow_run_id))
            self.progress(f"{self.round.slug}: no resolution and no closing tick; left unsettled")
            return
        settlement = engine.settle(winner, final, max(self.clock.now_ms(), self.round.close_ms))
        outcome.pnl, outcome.fees = settlement.pnl, settlement.fees
        outcome.digest = engine.digest()
        outcome.fills = engine.fill_count
        outcome.status = "halted" if engine.halted else "settled"
        self.sink.put(round_row(self.round, outcome.status, strike=strike, flow_run_id=self.flow_run_id))

    async def _tick(self) -> None:
        """Timers, so time passes (activation, cut-off, close) even when the feeds are quiet."""
        while True:
            self._queue.put_nowait(Timer(ts_ms=self.clock.now_ms(), name="tick"))
            await asyncio.sleep(TICK_MS / 1000)

    async def _watch_halt(self, engine: RoundEngine, outcome: RoundOutcome) -> None:
        assert self.halt_check is not None
        while engine.halted is None:
            try:
                reason = await self.halt_check()
            except (
                Exception
            ) as exc:  # a control-plane hiccup must not stop trading decisions... nor halt them
                log.warning("halt check failed: %s", exc)
                reason = None
            if reason:
                now = self.clock.now_ms()
                outcome.halt_seen_ms = now
                engine.halt(reason, now)
                self.progress(
                    f"{self.round.slug}: HALT ({reason}); resting orders cancelled, no new positions"
                )
                return
            await asyncio.sleep(HALT_POLL_S)

    def _tape(self, engine: RoundEngine) -> TapeWriter | None:
        if self.tape_dir is None:
            return None
        self.tape_dir.mkdir(parents=True, exist_ok=True)
        return TapeWriter(self._tape_path(), tape_meta_of(self.round, engine.market))

    def _tape_path(self) -> Path:
        assert self.tape_dir is not None
        return self.tape_dir / f"{self.round.slug}.parquet"


def _health(health: Any) -> dict[str, Any]:
    return {
        "connected": health.connected,
        "stale": health.stale,
        "messages": health.messages,
        "reconnects": health.reconnects,
        "malformed": health.malformed,
        "last_error": health.last_error,
    }
