"""The round engine end to end on generated rounds: determinism, safety and bookkeeping."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from core.engine.assembly import build_engine, market_of_tape, tape_meta_of
from core.engine.engine import ListSink
from core.engine.tape import TapeWriter, read_tape
from core.events import Event, FeedStatus, OrderType, Outcome, PriceSource, PriceTick, Side
from core.execution.base import ApprovedOrder, ExecutionError, ExecutionEvent, OrderIntent
from core.execution.paper import PaperExecutor
from core.market.fees import CRYPTO_FEES_V2, taker_fee
from core.risk.verdict import ReasonCode, RiskVerdict
from core.sim.generator import generate_round
from core.store.models import (
    TABLES,
    DecisionRecord,
    FillRecord,
    OrderRecord,
    RiskEventRecord,
    SettlementRecord,
    table_of,
)
from tests.support.engine_runs import market_of, model_path, recipe, rounds, run_round


@dataclass
class SpyExecutor:
    """A paper executor that remembers every order it was handed."""

    inner: PaperExecutor
    submitted: list[ApprovedOrder] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return self.inner.mode

    def submit(self, order: ApprovedOrder, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        self.submitted.append(order)
        return self.inner.submit(order, now_ms)

    def cancel(self, order_id: str, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return self.inner.cancel(order_id, now_ms)

    def cancel_all(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return self.inner.cancel_all(now_ms)

    def observe(self, event: Event) -> list[ExecutionEvent | ExecutionError]:
        return self.inner.observe(event)

    def poll(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return self.inner.poll(now_ms)


def recorded(events: Iterator[Event], writer: TapeWriter) -> Iterator[Event]:
    """The events as they pass, written to the tape on their way to the engine."""
    for event in events:
        writer.append(event)
        yield event


def test_replaying_a_recorded_tape_gives_identical_decisions_verdicts_and_orders(tmp_path: Path) -> None:
    path = model_path()
    for round_ in rounds(4):
        tape = tmp_path / f"{round_.slug}.parquet"
        market = market_of(round_, path)
        live_sink = ListSink()
        with TapeWriter(tape, tape_meta_of(round_, market)) as writer:
            live = run_round(
                round_, path, live_sink, events=recorded(generate_round(path, round_, seed=7), writer)
            )
        meta, events = read_tape(tape)
        assert market_of_tape(meta) == market
        replay_sink = ListSink()
        replayed = run_round(round_, path, replay_sink, events=events)
        assert replayed.digest() == live.digest()
        assert [row.model_dump() for row in replay_sink.rows] == [row.model_dump() for row in live_sink.rows]


def test_a_different_stream_gives_a_different_digest() -> None:
    path = model_path()
    round_ = rounds(1)[0]
    assert (
        run_round(round_, path, ListSink(), seed=1).digest()
        != run_round(round_, path, ListSink(), seed=2).digest()
    )


def test_every_order_that_reaches_the_executor_has_a_passing_verdict_on_record() -> None:
    rng = random.Random(42)
    path = model_path(seed=rng.randint(0, 10**6), hours=40)
    handed_over = 0
    for round_ in rounds(120):
        sink = ListSink()
        engine = build_engine(round_, market_of(round_, path), recipe(), run_id="random", sink=sink)
        spy = SpyExecutor(engine.executor)  # type: ignore[arg-type]
        engine.executor = spy
        engine.run(generate_round(path, round_, seed=rng.randint(0, 10**6)))
        verdicts = {
            row.id: (index, row) for index, row in enumerate(sink.rows) if isinstance(row, RiskEventRecord)
        }
        for order in spy.submitted:
            position, verdict = verdicts[order.verdict.verdict_id]
            assert verdict.approved, f"order {order.intent.order_id} handed over on a refusal"
            assert verdict.order_id == order.intent.order_id
            recorded = next(
                i
                for i, row in enumerate(sink.rows)
                if isinstance(row, OrderRecord) and row.id == order.intent.order_id
            )
            assert position < recorded, "the verdict is on record before the order"
        assert len(spy.submitted) == len(sink.of(OrderRecord))
        handed_over += len(spy.submitted)
    assert handed_over > 20, "the run must actually trade to prove anything"


def test_an_approval_cannot_be_made_from_a_refusal_or_for_another_order() -> None:
    intent = OrderIntent(
        order_id="mine",
        round_slug="btc-updown-15m-0",
        token_id="up",
        outcome=Outcome.UP,
        side=Side.BUY,
        price=Decimal("0.5"),
        size=Decimal(10),
        order_type=OrderType.FAK,
        decision_id=None,
        strategy=None,
    )
    with pytest.raises(ValueError, match="no passing verdict"):
        ApprovedOrder(intent, RiskVerdict("v1", "someone-else", True, ReasonCode.OK, "ok"))
    with pytest.raises(ValueError, match="no passing verdict"):
        ApprovedOrder(intent, RiskVerdict("v2", "mine", False, ReasonCode.STALE_FEED, "stale"))


def test_nothing_is_decided_before_activation_or_after_the_cutoff() -> None:
    path = model_path()
    for round_ in rounds(10):
        sink = ListSink()
        engine = run_round(round_, path, sink)
        for decision in sink.of(DecisionRecord):
            instant = int(decision.ts.timestamp() * 1000)
            assert round_.activation_ms <= instant < engine.cutoff_ms


def test_events_that_go_back_in_time_are_counted_and_dropped() -> None:
    path = model_path()
    round_ = rounds(1)[0]
    events = list(generate_round(path, round_, seed=1))
    late = PriceTick(
        ts_ms=events[10].ts_ms - 5_000, source=PriceSource.CHAINLINK, price=Decimal(1), source_ts_ms=0
    )
    sink = ListSink()
    engine = run_round(round_, path, sink, events=iter([*events[:20], late, *events[20:]]))
    assert engine.stats.out_of_order == 1
    assert engine.features.chainlink != 1.0


def test_a_late_start_trades_nothing() -> None:
    path = model_path()
    for round_ in rounds(6):
        sink = ListSink()
        run_round(round_, path, sink, late_start=True)
        assert sink.of(OrderRecord) == []
        assert all(v.reason_code == "late_start" for v in sink.of(RiskEventRecord) if v.kind == "verdict")


def test_a_halted_engine_opens_nothing_and_cancels_what_rests() -> None:
    path = model_path()
    round_ = rounds(1)[0]
    market = market_of(round_, path)
    sink = ListSink()
    engine = build_engine(round_, market, recipe(), run_id="halt", sink=sink)
    events = list(generate_round(path, round_, seed=3))
    halfway = next(i for i, e in enumerate(events) if e.ts_ms >= round_.activation_ms + 30_000)
    engine.run(events[:halfway])
    engine.halt("operator pressed halt", events[halfway].ts_ms)
    before = len(sink.of(OrderRecord))
    engine.run(events[halfway:])
    assert len(sink.of(OrderRecord)) == before
    trips = [r for r in sink.of(RiskEventRecord) if r.kind == "trip"]
    assert trips
    assert trips[0].reason_code == "kill_switch"


def test_settlement_pnl_is_payout_minus_cost_minus_fees_per_strategy() -> None:
    path = model_path(seed=5)
    for round_ in rounds(30):
        sink = ListSink()
        run_round(round_, path, sink)
        fills = sink.of(FillRecord)
        settlement = sink.of(SettlementRecord)[0]
        won = settlement.outcome
        expected = sum(
            ((f.size if f.outcome == won else Decimal(0)) - f.size * f.price - f.fee for f in fills),
            Decimal(0),
        )
        assert settlement.pnl == expected
        assert settlement.fees == sum((f.fee for f in fills), Decimal(0))
        assert sum(Decimal(v) for v in settlement.details["per_strategy"].values()) == expected
        for fill in fills:
            if fill.liquidity == "taker":
                assert fill.fee == taker_fee(fill.size, fill.price, CRYPTO_FEES_V2)


def test_every_record_the_engine_emits_fits_its_table() -> None:
    path = model_path()
    for round_ in rounds(8):
        sink = ListSink()
        run_round(round_, path, sink)
        for row in sink.rows:
            TABLES[table_of(row)].model_validate(row.model_dump())


@pytest.mark.parametrize("trips", [False, True])
def test_a_stale_user_channel_trips_the_kill_switch_only_where_the_engine_says_it_matters(
    trips: bool,
) -> None:
    round_ = rounds(1)[0]
    sink = ListSink()
    market = market_of(round_, model_path())
    engine = (
        build_engine(
            round_, market, recipe(), run_id="t", sink=sink, trip_feeds=("market", "chainlink", "user")
        )
        if trips
        else build_engine(round_, market, recipe(), run_id="t", sink=sink)
    )

    engine.on_event(FeedStatus(ts_ms=round_.activation_ms, feed="user", stale=True))

    assert engine.guard.account.kill_switch.engaged is trips
    trips_recorded = [r.reason_code for r in sink.of(RiskEventRecord) if r.kind == "trip"]
    assert trips_recorded == (["stale_feed"] if trips else [])


def test_a_stale_price_connection_trips_the_kill_switch_for_the_feed_it_carries() -> None:
    """The price feed's connection reports as `rtds`; the kill switch trips on `chainlink`, which it carries,
    and releases when the connection delivers again."""
    round_ = rounds(1)[0]
    sink = ListSink()
    engine = build_engine(round_, market_of(round_, model_path()), recipe(), run_id="t", sink=sink)

    engine.on_event(FeedStatus(ts_ms=round_.activation_ms, feed="rtds", stale=True))
    tripped = engine.guard.account.kill_switch.engaged
    engine.on_event(FeedStatus(ts_ms=round_.activation_ms + 3_000, feed="rtds", stale=False))

    assert tripped
    assert not engine.guard.account.kill_switch.engaged
    control = [(r.kind, r.reason_code, r.message) for r in sink.of(RiskEventRecord) if r.kind != "verdict"]
    assert control[0] == ("trip", "stale_feed", "feed chainlink went stale")
    assert control[1][:2] == ("reset", "stale_feed")
