"""The round engine: events in; decisions, risk verdicts, orders and fills out, all recorded.

    feeds -> events -> FeatureState -> strategies -> DecisionPolicy -> RiskGuard -> Executor -> records

No I/O and no wall clock: time is the events' own, so the same events give the same records, bit for bit,
whether they come live, from the simulated venue or from a tape. Records go to a `RecordSink` (the durable
outbox live; a list in tests and backtests) and every order reaches the executor only inside an
`ApprovedOrder`, i.e. with its passing verdict recorded first.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlmodel import SQLModel

from core.clock import ms_to_datetime
from core.engine.features import FEED_CONNECTIONS, FeatureState
from core.engine.policy import DecisionPolicy, PolicyReason
from core.events import (
    BookDelta,
    BookReset,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    MarketResolved,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Outcome,
    PriceTick,
    Side,
    TickSizeChange,
    Timer,
    TradePrint,
)
from core.execution.base import ApprovedOrder, ExecutionError, Executor, OrderIntent
from core.ids import IdFactory
from core.market.fees import FeeSchedule
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.risk.context import RiskContext, VenueTerms
from core.risk.guard import RiskEvent, RiskGuard
from core.risk.limits import RiskLimits
from core.risk.state import KillSource, RoundExposure
from core.risk.verdict import ReasonCode, RiskVerdict
from core.store.models import (
    DecisionRecord,
    FillRecord,
    OrderEventRecord,
    OrderRecord,
    RiskEventRecord,
    SettlementRecord,
    TickSampleRecord,
)
from core.strategies.base import Strategy, StrategyDecision

log = logging.getLogger(__name__)

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class RecordSink(Protocol):
    def put(self, row: SQLModel, *, sync: bool = False) -> None: ...


class ListSink:
    """Keeps records in memory: for tests and backtests."""

    def __init__(self) -> None:
        self.rows: list[SQLModel] = []

    def put(self, row: SQLModel, *, sync: bool = False) -> None:
        self.rows.append(row)

    def of(self, kind: type[SQLModel]) -> list[Any]:
        return [row for row in self.rows if isinstance(row, kind)]


@dataclass(frozen=True, slots=True)
class RoundMarket:
    """The venue's rules of one round, as discovered: what the engine trades and settles under."""

    slug: str
    up_token_id: str
    down_token_id: str
    tick_size: Decimal
    min_order_size: Decimal
    fee_schedule: FeeSchedule
    settlement_source: SettlementSource
    strike: Decimal | None = None
    condition_id: str | None = None

    def outcome_of(self, token_id: str) -> Outcome:
        return Outcome.UP if token_id == self.up_token_id else Outcome.DOWN

    def token_of(self, outcome: Outcome) -> str:
        return self.up_token_id if outcome is Outcome.UP else self.down_token_id


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How a round is traded; `run_id` tags every record (a live run, or a backtest)."""

    run_id: str
    mode: str = "paper"
    evaluate_every_ms: int = 1_000
    cutoff_s: int = 10
    order_type: OrderType = OrderType.FAK
    sample_every_ms: int = 5_000
    late_start: bool = False


@dataclass(slots=True)
class EngineStats:
    events: int = 0
    out_of_order: int = 0
    evaluations: int = 0
    decisions: int = 0
    orders: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


class RoundEngine:
    """One round: from its first event to its settlement."""

    def __init__(
        self,
        *,
        round_: Round,
        market: RoundMarket,
        features: FeatureState,
        strategies: Sequence[Strategy],
        policy: DecisionPolicy,
        guard: RiskGuard,
        executor: Executor,
        sink: RecordSink,
        config: EngineConfig,
        ids: IdFactory,
    ) -> None:
        self.round = round_
        self.market = market
        self.features = features
        self.strategies = tuple(strategies)
        self.policy = policy
        self.guard = guard
        self.executor = executor
        self.sink = sink
        self.config = config
        self.ids = ids
        self.stats = EngineStats()
        self.exposure = RoundExposure()
        self.cutoff_ms = round_.close_ms - config.cutoff_s * 1000
        self.halted: str | None = None
        self.suspended: str | None = None
        self.disabled: frozenset[str] = frozenset()
        """Strategies an operator switched off: not evaluated until switched on again."""
        self._venue = VenueTerms(min_order_size=market.min_order_size, fees=market.fee_schedule)
        self._last_ts: dict[object, int] = {}
        self._next_evaluation_ms = round_.activation_ms
        self._next_sample_ms = 0
        self._orders: dict[str, OrderIntent] = {}
        self._fills: list[Fill] = []
        self._digest = hashlib.sha256()
        self._handlers: dict[type, Callable[[Any], None]] = {
            PriceTick: self._on_market_data,
            BookSnapshot: self._on_market_data,
            BookDelta: self._on_market_data,
            TradePrint: self._on_market_data,
            TickSizeChange: self._on_market_data,
            BookReset: self._on_market_data,
            FeedStatus: self._on_feed_status,
            OrderUpdate: self._on_execution_event,
            Fill: self._on_execution_event,
            MarketResolved: self._on_market_data,
            Timer: self._on_market_data,
        }

    # --- input -------------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Feed one event; events going back in time for their stream are counted and dropped."""
        stream = _stream_of(event)
        if event.ts_ms < self._last_ts.get(stream, event.ts_ms):
            self.stats.out_of_order += 1
            return
        self._last_ts[stream] = event.ts_ms
        self.stats.events += 1
        self._handlers[type(event)](event)
        now = self.features.now_ms
        if now >= self._next_sample_ms and self.config.sample_every_ms:
            self._sample(now)
        if now >= self._next_evaluation_ms and self.round.activation_ms <= now < self.cutoff_ms:
            self._next_evaluation_ms = (
                now - now % self.config.evaluate_every_ms + self.config.evaluate_every_ms
            )
            self._evaluate(now)

    def run(self, events: Iterable[Event]) -> None:
        for event in events:
            self.on_event(event)

    def _on_market_data(self, event: Event) -> None:
        self._handle(self.executor.observe(event))
        self.features.apply(event)
        self._handle(self.executor.poll(event.ts_ms))

    def _on_feed_status(self, event: FeedStatus) -> None:
        """A connection's status is that of every data feed it carries (`rtds` carries `chainlink`, ...):
        the guard trips on the data feeds orders depend on, whichever connection brings them."""
        self.features.apply(event)
        for feed in FEED_CONNECTIONS.get(event.feed, (event.feed,)):
            trips = (
                self.guard.record_stale(feed, event.ts_ms)
                if event.stale
                else self.guard.record_fresh(feed, event.ts_ms)
            )
            self._record_trips(trips)

    def _on_execution_event(self, event: OrderUpdate | Fill) -> None:
        self._handle([event])

    # --- deciding --------------------------------------------------------------------------------------

    def _evaluate(self, now: int) -> None:
        self.stats.evaluations += 1
        if self.halted is not None or self.suspended is not None:
            return
        proposals = [
            d
            for d in (
                strategy.evaluate(self.features)
                for strategy in self.strategies
                if strategy.name not in self.disabled
            )
            if d is not None
        ]
        if not proposals:
            return
        result = self.policy.resolve(proposals, now)
        decision_ids: dict[int, str] = {}
        for index, (decision, reason) in enumerate(result.outcomes):
            decision_ids[index] = self._record_decision(decision, reason, now)
        if result.chosen is None:
            return
        chosen_index = next(i for i, (d, _) in enumerate(result.outcomes) if d is result.chosen)
        self._act(result.chosen, decision_ids[chosen_index], now)

    def _act(self, decision: StrategyDecision, decision_id: str, now: int) -> None:
        intent = OrderIntent(
            order_id=self.ids.next("order"),
            round_slug=self.round.slug,
            token_id=self.market.token_of(decision.outcome),
            outcome=decision.outcome,
            side=decision.side,
            price=decision.limit_price,
            size=decision.size,
            order_type=self.config.order_type,
            decision_id=decision_id,
            strategy=decision.strategy,
        )
        context = RiskContext(
            features=self.features,
            exposure=self.exposure,
            account=self.guard.account,
            activation_ms=self.round.activation_ms,
            cutoff_ms=self.cutoff_ms,
            late_start=self.config.late_start,
            fair_probability=decision.fair_probability,
            now_ms=now,
            venue=self._venue,
        )
        verdict = self.guard.check(intent, context)
        self._record_verdict(intent, verdict, now)
        if not verdict.approved:
            self.stats.refusals[verdict.reason.value] += 1
            return
        self._place(ApprovedOrder(intent, verdict), now)

    def _place(self, order: ApprovedOrder, now: int) -> None:
        intent = order.intent
        self._orders[intent.order_id] = intent
        self.exposure = self.exposure.placed(intent)
        self.stats.orders += 1
        self.sink.put(
            OrderRecord(
                id=intent.order_id,
                round_slug=intent.round_slug,
                run_id=self.config.run_id,
                decision_id=intent.decision_id,
                risk_event_id=order.verdict.verdict_id,
                ts=ms_to_datetime(now),
                mode=self.executor.mode,
                token_id=intent.token_id,
                outcome=intent.outcome.value,
                side=intent.side.value,
                order_type=intent.order_type.value,
                price=intent.price,
                size=intent.size,
                post_only=intent.post_only,
            ),
            sync=True,
        )
        self._digest.update(
            f"order|{now}|{intent.token_id}|{intent.side}|{intent.price}|{intent.size}".encode()
        )
        self._handle(self.executor.submit(order, now))

    # --- what the executor reports ---------------------------------------------------------------

    def _handle(self, results: Iterable[OrderUpdate | Fill | ExecutionError]) -> None:
        for result in results:
            if isinstance(result, Fill):
                self._on_fill(result)
            elif isinstance(result, OrderUpdate):
                self._on_order_update(result)
            else:
                self._on_execution_error(result)

    def _on_fill(self, fill: Fill) -> None:
        intent = self._orders.get(fill.order_id)
        if intent is None:
            log.warning("fill %s for unknown order %s ignored", fill.trade_id, fill.order_id)
            return
        self._fills.append(fill)
        self.exposure = self.exposure.filled(fill, intent.outcome)
        self.guard.record_order_ok()
        self._digest.update(f"fill|{fill.ts_ms}|{fill.side}|{fill.price}|{fill.size}|{fill.fee}".encode())
        self.sink.put(
            FillRecord(
                id=self.ids.next("fill"),
                order_id=fill.order_id,
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(fill.ts_ms),
                trade_id=fill.trade_id,
                token_id=fill.token_id,
                outcome=intent.outcome.value,
                side=fill.side.value,
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
                liquidity=fill.liquidity.value,
                status=fill.status.value,
                mode=self.executor.mode,
            )
        )

    def _on_order_update(self, update: OrderUpdate) -> None:
        if update.order_id not in self._orders:
            log.warning("update for unknown order %s ignored", update.order_id)
            return
        if update.status in _TERMINAL:
            self.exposure = self.exposure.closed(update.order_id)
        self._digest.update(f"update|{update.ts_ms}|{update.status}|{update.filled_size}".encode())
        self.sink.put(
            OrderEventRecord(
                id=self.ids.next("order_event"),
                order_id=update.order_id,
                ts=ms_to_datetime(update.ts_ms),
                status=update.status.value,
                filled_size=update.filled_size,
                venue_order_id=update.venue_order_id,
                reason=update.reason,
            )
        )

    def _on_execution_error(self, error: ExecutionError) -> None:
        now = self.features.now_ms
        self.exposure = self.exposure.closed(error.order_id)
        trips = self.guard.record_order_error(now)
        if error.category.value == "fatal":
            trips += self.guard.engage_kill_switch(
                f"fatal venue error: {error.message}",
                KillSource.AUTOMATIC,
                now_ms=now,
                code=ReasonCode.VENUE_FATAL,
            )
        self._record_trips(trips)
        self.sink.put(
            OrderEventRecord(
                id=self.ids.next("order_event"),
                order_id=error.order_id,
                ts=ms_to_datetime(now),
                status=OrderStatus.REJECTED.value,
                filled_size=Decimal(0),
                reason=f"{error.category.value}: {error.reason}: {error.message}"[:500],
            )
        )

    # --- control ------------------------------------------------------------------------------------

    def restore(self, orders: Iterable[OrderIntent], fills: Iterable[Fill]) -> None:
        """Carry on a round an earlier attempt started: its orders count toward the limits and its fills
        toward the position and the settlement. Nothing is recorded again; none of them rests any more
        (the caller has cancelled at the venue what might)."""
        for intent in orders:
            self._orders[intent.order_id] = intent
            self.exposure = self.exposure.placed(intent)
        for fill in fills:
            owner = self._orders.get(fill.order_id)
            if owner is None:
                log.warning("restored fill %s for unknown order %s ignored", fill.trade_id, fill.order_id)
                continue
            self._fills.append(fill)
            self.exposure = self.exposure.filled(fill, owner.outcome)
        for intent in list(self._orders.values()):
            self.exposure = self.exposure.closed(intent.order_id)

    def halt(self, reason: str, now_ms: int) -> None:
        """Stop opening positions and cancel what rests (the kill switch as the engine sees it)."""
        if self.halted is None:
            self.halted = reason
            self._record_trips(self.guard.engage_kill_switch(reason, KillSource.MANUAL, now_ms=now_ms))
        self._handle(self.executor.cancel_all(now_ms))

    def suspend(self, reason: str, now_ms: int) -> None:
        """Stop opening positions and cancel what rests until `unsuspend`: the round fails closed while it
        cannot tell whether the kill switch is engaged. Unlike `halt`, it ends when that is known again."""
        if self.suspended is None:
            self.suspended = reason
            self._record_control("trip", reason, now_ms)
        self._handle(self.executor.cancel_all(now_ms))

    def unsuspend(self, reason: str, now_ms: int) -> None:
        """The kill switch can be read again and is not engaged: trading goes on (unless halted)."""
        if self.suspended is not None:
            self.suspended = None
            self._record_control("reset", reason, now_ms)

    def apply_controls(
        self, limits: RiskLimits, disabled: frozenset[str], now_ms: int, *, changes: dict[str, Any]
    ) -> None:
        """An operator's risk limits and strategy toggles, effective from the next evaluation; recorded as a
        risk event of kind `control` with what changed. Not in the digest: it comes from outside the tape."""
        self.guard.update_limits(limits)
        self.disabled = disabled
        described = "; ".join(f"{key} {value}" for key, value in changes.items())
        self.sink.put(
            RiskEventRecord(
                id=self.ids.next("risk_event"),
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(now_ms),
                kind="control",
                approved=True,
                reason_code="operator_controls",
                message=f"operator controls applied: {described}"[:500],
                details=changes,
            )
        )

    def _record_control(self, kind: str, message: str, now_ms: int) -> None:
        """A suspension or its end, as a risk event. Not in the digest: it comes from outside the tape."""
        self.sink.put(
            RiskEventRecord(
                id=self.ids.next("risk_event"),
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(now_ms),
                kind=kind,
                approved=kind == "reset",
                reason_code=ReasonCode.KILL_SWITCH_UNREADABLE.value,
                message=message[:500],
            )
        )

    def finish(self, now_ms: int) -> None:
        """The round's trading is over: nothing may rest into the close."""
        self._handle(self.executor.cancel_all(now_ms))
        self._handle(self.executor.poll(now_ms))

    def settle(self, winner: Outcome, settle_price: Decimal | None, now_ms: int) -> SettlementRecord:
        """P&L per order and per strategy, net of fees; feeds the account's daily loss and loss streak."""
        per_strategy: dict[str, Decimal] = {}
        fees = Decimal(0)
        for fill in self._fills:
            intent = self._orders[fill.order_id]
            payout = fill.size if intent.outcome is winner else Decimal(0)
            signed = (
                payout - fill.size * fill.price if fill.side is Side.BUY else fill.size * fill.price - payout
            )
            pnl = signed - fill.fee
            name = intent.strategy or "manual"
            per_strategy[name] = per_strategy.get(name, Decimal(0)) + pnl
            fees += fill.fee
        total = sum(per_strategy.values(), Decimal(0))
        row = SettlementRecord(
            id=self.ids.next("settlement"),
            round_slug=self.round.slug,
            run_id=self.config.run_id,
            ts=ms_to_datetime(now_ms),
            outcome=winner.value,
            strike=self.market.strike if self.market.strike is not None else _decimal(self.features.strike),
            settle_price=settle_price,
            source=self.market.settlement_source.value,
            pnl=total,
            fees=fees,
            mode=self.executor.mode,
            details={"per_strategy": {name: str(value) for name, value in sorted(per_strategy.items())}},
        )
        self.sink.put(row, sync=True)
        self._record_trips(self.guard.record_settlement(total, now_ms))
        self._digest.update(f"settle|{winner}|{total}".encode())
        return row

    @property
    def fill_count(self) -> int:
        return len(self._fills)

    def digest(self) -> str:
        """A hash of every decision, verdict, order and execution, in order: equal streams, equal digests.

        Ids are left out (they derive from the run), so a live run and its replay as a backtest compare equal.
        """
        return self._digest.hexdigest()

    # --- records -------------------------------------------------------------------------------------

    def _record_decision(self, decision: StrategyDecision, reason: PolicyReason, now: int) -> str:
        decision_id = self.ids.next("decision")
        self.stats.decisions += 1
        self._digest.update(
            f"decision|{now}|{decision.strategy}|{decision.outcome}|{decision.side}|{decision.limit_price}|"
            f"{decision.size}|{decision.confidence:.12g}|{reason}".encode()
        )
        self.sink.put(
            DecisionRecord(
                id=decision_id,
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(now),
                strategy=decision.strategy,
                outcome=decision.outcome.value,
                side=decision.side.value,
                limit_price=decision.limit_price,
                size=decision.size,
                confidence=Decimal(str(round(decision.confidence, 6))),
                reason=decision.reason[:500],
                policy=reason.value,
                features=self.features.snapshot(),
            )
        )
        return decision_id

    def _record_verdict(self, intent: OrderIntent, verdict: RiskVerdict, now: int) -> None:
        self._digest.update(f"verdict|{now}|{verdict.approved}|{verdict.reason}".encode())
        self.sink.put(
            RiskEventRecord(
                id=verdict.verdict_id,
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(now),
                kind="verdict",
                approved=verdict.approved,
                reason_code=verdict.reason.value,
                message=verdict.message[:500],
                decision_id=intent.decision_id,
                order_id=intent.order_id,
                details=verdict.details,
            ),
            sync=verdict.approved,
        )

    def _record_trips(self, events: Iterable[RiskEvent]) -> None:
        for event in events:
            self._digest.update(f"trip|{event.ts_ms}|{event.kind}|{event.reason}".encode())
            self.sink.put(
                RiskEventRecord(
                    id=event.event_id,
                    round_slug=self.round.slug,
                    run_id=self.config.run_id,
                    ts=ms_to_datetime(event.ts_ms),
                    kind=event.kind.value,
                    approved=event.kind.value == "reset",
                    reason_code=event.reason.value,
                    message=event.message[:500],
                    details=event.details,
                )
            )

    def _sample(self, now: int) -> None:
        every = self.config.sample_every_ms
        self._next_sample_ms = now - now % every + every
        up, down = self.features.book(Outcome.UP), self.features.book(Outcome.DOWN)
        self.sink.put(
            TickSampleRecord(
                id=self.ids.next("sample"),
                round_slug=self.round.slug,
                run_id=self.config.run_id,
                ts=ms_to_datetime(now),
                chainlink=_decimal(self.features.chainlink),
                chainlink_twap=_decimal(self.features.chainlink_twap),
                binance=_decimal(self.features.binance),
                up_bid=up.best_bid,
                up_ask=up.best_ask,
                down_bid=down.best_bid,
                down_ask=down.best_ask,
            )
        )


def _stream_of(event: Event) -> object:
    """Events are ordered per stream: per price source, per token's book and trades, per feed."""
    if isinstance(event, PriceTick):
        return event.source
    if isinstance(event, BookSnapshot | BookDelta | TradePrint | TickSizeChange | BookReset):
        return event.token_id
    if isinstance(event, FeedStatus):
        return ("feed", event.feed)
    return type(event)


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


__all__ = ["EngineConfig", "ListSink", "RecordSink", "RoundEngine", "RoundMarket"]
