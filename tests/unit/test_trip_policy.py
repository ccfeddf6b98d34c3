"""The trip policy: how far each automatic trip reaches, and how a round answers one (in words and deeds)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from core.engine.assembly import build_engine
from core.engine.engine import ListSink
from core.errors import ErrorCategory
from core.execution.base import ExecutionError
from core.ids import IdFactory
from core.risk.guard import RiskGuard
from core.risk.limits import RiskLimits
from core.risk.state import KillSource
from core.risk.trip_policy import TRIP_POLICY, TripScope, is_operator_halt, trip_scope
from core.risk.verdict import ReasonCode
from core.sim.generator import generate_round
from core.store.models import OrderRecord, RiskEventRecord
from tasks.control import TripResponse
from tests.support.engine_runs import market_of, model_path, recipe, rounds
from tests.support.risk import NOW_MS


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        (ReasonCode.STALE_FEED, TripScope.ROUND),
        (ReasonCode.KILL_SWITCH_UNREADABLE, TripScope.ROUND),
        (ReasonCode.COOLDOWN, TripScope.COOLDOWN),
        (ReasonCode.DAILY_LOSS, TripScope.DEPLOYMENT),
        (ReasonCode.ERROR_BURST, TripScope.DEPLOYMENT),
        (ReasonCode.VENUE_FATAL, TripScope.DEPLOYMENT),
        (ReasonCode.SETTLEMENT_MISMATCH, TripScope.DEPLOYMENT),
    ],
)
def test_each_automatic_trip_has_its_reach(code: ReasonCode, scope: TripScope) -> None:
    assert trip_scope(code) is scope
    assert trip_scope(code.value) is scope


def test_an_unclassified_trip_waits_for_a_human_and_an_operator_halt_is_no_trip() -> None:
    assert trip_scope("something_new") is TripScope.DEPLOYMENT
    assert trip_scope(ReasonCode.MAX_POSITION) is TripScope.DEPLOYMENT
    assert ReasonCode.KILL_SWITCH not in TRIP_POLICY
    assert is_operator_halt("kill_switch")
    assert not is_operator_halt("stale_feed")


def test_every_trip_the_guard_can_raise_is_classified() -> None:
    guard = RiskGuard(RiskLimits(), id_factory=IdFactory("policy"))
    raised = [
        *guard.record_stale("market", NOW_MS),
        *guard.engage_kill_switch("boom", KillSource.AUTOMATIC, now_ms=NOW_MS, code=ReasonCode.VENUE_FATAL),
    ]
    guard = RiskGuard(RiskLimits(), id_factory=IdFactory("policy"))
    for _ in range(RiskLimits().order_error_burst):
        raised += guard.record_order_error(NOW_MS)
    guard = RiskGuard(RiskLimits(), id_factory=IdFactory("policy"))
    for i in range(3):
        raised += guard.record_settlement(Decimal(-20), NOW_MS + i)
    codes = {event.reason for event in raised if event.kind.value == "trip"}
    assert codes == {
        ReasonCode.STALE_FEED,
        ReasonCode.VENUE_FATAL,
        ReasonCode.ERROR_BURST,
        ReasonCode.COOLDOWN,
        ReasonCode.DAILY_LOSS,
    }
    assert codes <= set(TRIP_POLICY)


def test_a_fatal_venue_error_trips_as_venue_fatal_not_as_an_operator_halt() -> None:
    path = model_path()
    round_ = rounds(1)[0]
    sink = ListSink()
    engine = build_engine(round_, market_of(round_, path), recipe(), run_id="fatal", sink=sink)
    engine.run(e for e in generate_round(path, round_, seed=3) if e.ts_ms < round_.activation_ms)
    engine._on_execution_error(
        ExecutionError("o-1", ErrorCategory.FATAL, "not_enough_balance", "balance is 0")
    )
    trips = [r for r in sink.of(RiskEventRecord) if r.kind == "trip"]
    assert [r.reason_code for r in trips] == ["venue_fatal"]
    assert engine.guard.account.kill_switch.code is ReasonCode.VENUE_FATAL


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def respond(*lines: str, pause_error: Exception | None = None) -> tuple[list[str], list[bool]]:
    logger = logging.getLogger(f"test.trip_policy.{id(lines)}")
    logger.propagate = False
    recorder = Recorder()
    logger.addHandler(recorder)
    paused: list[bool] = []

    async def pause(flag: bool) -> str | None:
        paused.append(flag)
        if pause_error is not None:
            raise pause_error
        return "deployment-id"

    async def scenario() -> None:
        response = TripResponse(logger, pause=pause)
        for line in lines:
            response(line)
        await response.wait()

    asyncio.run(scenario())
    return recorder.lines, paused


def test_a_manual_kill_is_told_as_a_manual_kill_and_pauses_nothing_more() -> None:
    lines, paused = respond("kill_switch: halted by operator alice: venue acting up")
    assert paused == []
    assert lines == [
        "halted by operator alice: venue acting up - this round opens no positions, cancels what rests "
        "and still settles"
    ]
    assert "automatic" not in lines[0]
    assert "refused" not in lines[0]


def test_a_stale_feed_stops_the_round_and_leaves_the_deployment_running() -> None:
    lines, paused = respond("stale_feed: feed market went stale")
    assert paused == []
    assert lines == [
        "automatic trip stale_feed (feed market went stale): this round stops opening positions; trading "
        "resumes when every stale feed delivers again, or with the next round. The deployment keeps running"
    ]


def test_a_cooldown_pauses_nothing() -> None:
    lines, paused = respond("cooldown: 3 losing rounds in a row: cooling down for 4 rounds")
    assert paused == []
    assert "resumes by itself" in lines[0]


@pytest.mark.parametrize("code", ["daily_loss", "order_error_burst", "venue_fatal", "settlement_mismatch"])
def test_a_trip_that_needs_a_human_pauses_the_deployment(code: str) -> None:
    lines, paused = respond(f"{code}: something is wrong")
    assert paused == [True]
    assert lines[0].startswith(f"automatic trip {code} (something is wrong): pausing the round deployment")
    assert lines[1] == f"round deployment paused after {code}; `btc-agent resume` once understood"


def test_a_pause_that_fails_is_said_out_loud() -> None:
    lines, paused = respond("daily_loss: lost 50", pause_error=ConnectionError("no server"))
    assert paused == [True]
    assert lines[-1] == "could not pause the round deployment after daily_loss: ConnectionError: no server"


def test_a_suspended_engine_opens_nothing_says_so_and_trades_on_when_released() -> None:
    path = model_path()
    round_ = rounds(1)[0]
    sink = ListSink()
    engine = build_engine(round_, market_of(round_, path), recipe(), run_id="suspend", sink=sink)
    events = list(generate_round(path, round_, seed=3))
    start = round_.activation_ms
    suspended_at = next(i for i, e in enumerate(events) if e.ts_ms >= start)
    released_at = next(i for i, e in enumerate(events) if e.ts_ms >= round_.close_ms - 60_000)
    engine.run(events[:suspended_at])
    engine.suspend("kill switch state unknown", events[suspended_at].ts_ms)
    engine.run(events[suspended_at:released_at])
    assert sink.of(OrderRecord) == []
    assert engine.stats.decisions == 0
    engine.unsuspend("readable again", events[released_at].ts_ms)
    engine.run(events[released_at:])

    control = [(r.kind, r.reason_code, r.approved) for r in sink.of(RiskEventRecord) if r.kind != "verdict"]
    assert control[:2] == [
        ("trip", "kill_switch_unreadable", False),
        ("reset", "kill_switch_unreadable", True),
    ]
    assert engine.stats.decisions > 0, "the engine decides again once released"
    assert engine.halted is None
