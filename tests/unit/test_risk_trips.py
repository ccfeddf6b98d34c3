"""Automatic trips and the kill switch: what engages it, what releases it, and the events they leave."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from core.clock import datetime_to_ms
from core.ids import IdFactory
from core.risk.guard import RiskEventKind, RiskGuard
from core.risk.limits import RiskLimits
from core.risk.state import KillSource
from core.risk.verdict import ReasonCode
from tests.support.risk import NOW_MS, TODAY, Scenario

ROUND_MS = 900_000
MIDNIGHT_MS = datetime_to_ms(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC))


def new_guard(
    limits: RiskLimits | None = None,
    *,
    round_ms: int = ROUND_MS,
    trip_feeds: Iterable[str] = ("market", "chainlink"),
) -> RiskGuard:
    return RiskGuard(
        limits or RiskLimits(), id_factory=IdFactory("trips"), round_ms=round_ms, trip_feeds=trip_feeds
    )


def check(guard: RiskGuard) -> ReasonCode:
    scenario = Scenario()
    scenario.account = guard.account
    scenario.limits = guard.limits
    return guard.check(scenario.intent, scenario.context()).reason


def test_daily_loss_trip_engages_the_kill_switch() -> None:
    guard = new_guard()

    assert guard.record_settlement(Decimal(-30), NOW_MS - 2 * ROUND_MS) == []
    events = guard.record_settlement(Decimal(-20), NOW_MS - ROUND_MS)

    assert [(e.kind, e.reason) for e in events] == [(RiskEventKind.TRIP, ReasonCode.DAILY_LOSS)]
    switch = guard.account.kill_switch
    assert switch.engaged
    assert switch.source is KillSource.AUTOMATIC
    assert switch.code is ReasonCode.DAILY_LOSS
    assert check(guard) is ReasonCode.KILL_SWITCH


def test_a_new_utc_day_releases_the_daily_loss_trip() -> None:
    guard = new_guard()
    guard.record_settlement(Decimal(-60), MIDNIGHT_MS - 1)

    events = guard.record_settlement(Decimal(5), MIDNIGHT_MS + ROUND_MS)

    assert [(e.kind, e.reason) for e in events] == [(RiskEventKind.RESET, ReasonCode.DAILY_LOSS)]
    assert not guard.account.kill_switch.engaged
    assert guard.account.daily_pnl == Decimal(5)


def test_loss_streak_starts_a_cooldown() -> None:
    guard = new_guard()
    guard.record_settlement(Decimal(-1), NOW_MS - 3 * ROUND_MS)
    guard.record_settlement(Decimal(-1), NOW_MS - 2 * ROUND_MS)

    settled_ms = NOW_MS - ROUND_MS
    events = guard.record_settlement(Decimal(-1), settled_ms)

    assert [(e.kind, e.reason) for e in events] == [(RiskEventKind.TRIP, ReasonCode.COOLDOWN)]
    assert guard.account.cooldown_until_ms == settled_ms + 4 * ROUND_MS
    assert check(guard) is ReasonCode.COOLDOWN


def test_the_cooldown_lasts_the_configured_number_of_rounds_of_the_configured_length() -> None:
    limits = RiskLimits().with_overrides({"loss_streak_for_cooldown": 1, "cooldown_rounds": 2})
    guard = new_guard(limits, round_ms=60_000)

    guard.record_settlement(Decimal(-1), NOW_MS)

    assert guard.account.cooldown_until_ms == NOW_MS + 120_000


def test_a_winning_round_ends_the_loss_streak_and_a_flat_one_leaves_it() -> None:
    guard = new_guard()
    guard.record_settlement(Decimal(-1), NOW_MS - 4 * ROUND_MS)
    guard.record_settlement(Decimal(-1), NOW_MS - 3 * ROUND_MS)
    guard.record_settlement(Decimal(0), NOW_MS - 2 * ROUND_MS)
    assert guard.account.loss_streak == 2

    guard.record_settlement(Decimal(1), NOW_MS - ROUND_MS)

    assert guard.account.loss_streak == 0
    assert guard.account.cooldown_until_ms is None


def test_another_full_streak_is_needed_for_the_next_cooldown() -> None:
    guard = new_guard()
    trips = [guard.record_settlement(Decimal(-1), NOW_MS + i * ROUND_MS) for i in range(6)]
    assert [len(events) for events in trips] == [0, 0, 1, 0, 0, 1]


def test_order_error_burst_engages_the_kill_switch() -> None:
    guard = new_guard()
    for _ in range(4):
        assert guard.record_order_error(NOW_MS) == []

    events = guard.record_order_error(NOW_MS)

    assert [(e.kind, e.reason) for e in events] == [(RiskEventKind.TRIP, ReasonCode.ERROR_BURST)]
    assert guard.account.kill_switch.code is ReasonCode.ERROR_BURST
    assert check(guard) is ReasonCode.KILL_SWITCH


def test_a_successful_order_ends_the_error_run() -> None:
    guard = new_guard()
    for _ in range(4):
        guard.record_order_error(NOW_MS)

    guard.record_order_ok()

    assert guard.record_order_error(NOW_MS) == []
    assert guard.account.order_errors_in_row == 1


def test_stale_feed_trips_the_kill_switch_until_every_stale_feed_recovers() -> None:
    guard = new_guard()

    tripped = guard.record_stale("market", NOW_MS)
    assert guard.record_stale("chainlink", NOW_MS + 1) == []
    assert guard.record_fresh("market", NOW_MS + 2) == []
    assert guard.account.kill_switch.engaged
    released = guard.record_fresh("chainlink", NOW_MS + 3)

    assert [(e.kind, e.reason) for e in tripped] == [(RiskEventKind.TRIP, ReasonCode.STALE_FEED)]
    assert [(e.kind, e.reason) for e in released] == [(RiskEventKind.RESET, ReasonCode.STALE_FEED)]
    assert not guard.account.kill_switch.engaged
    assert check(guard) is ReasonCode.OK


def test_feeds_orders_do_not_depend_on_do_not_trip_the_switch() -> None:
    guard = new_guard()
    assert guard.record_stale("binance", NOW_MS) == []
    assert not guard.account.kill_switch.engaged


def test_the_engine_chooses_which_feeds_trip_the_switch() -> None:
    guard = new_guard(trip_feeds=("market", "chainlink", "user"))
    assert guard.record_stale("user", NOW_MS)
    assert guard.account.kill_switch.engaged


def test_feed_recovery_does_not_release_a_manual_halt() -> None:
    guard = new_guard()
    guard.record_stale("market", NOW_MS)
    guard.engage_kill_switch("investigating", now_ms=NOW_MS + 1)

    assert guard.record_fresh("market", NOW_MS + 2) == []
    assert guard.account.kill_switch.source is KillSource.MANUAL


def test_feed_recovery_does_not_release_another_trip() -> None:
    guard = new_guard()
    for _ in range(5):
        guard.record_order_error(NOW_MS)
    guard.record_stale("market", NOW_MS)

    assert guard.record_fresh("market", NOW_MS + 1) == []
    assert guard.account.kill_switch.code is ReasonCode.ERROR_BURST


def test_manual_kill_switch_refuses_orders_until_released() -> None:
    guard = new_guard()

    engaged = guard.engage_kill_switch("operator halt", now_ms=NOW_MS)
    assert check(guard) is ReasonCode.KILL_SWITCH
    released = guard.release_kill_switch("resumed", now_ms=NOW_MS + 1)

    assert [(e.kind, e.reason, e.details["source"]) for e in engaged] == [
        (RiskEventKind.TRIP, ReasonCode.KILL_SWITCH, "manual")
    ]
    assert [(e.kind, e.details["released_source"]) for e in released] == [(RiskEventKind.RESET, "manual")]
    assert check(guard) is ReasonCode.OK


def test_engaging_an_engaged_switch_or_releasing_a_released_one_records_nothing() -> None:
    guard = new_guard()
    assert guard.release_kill_switch("nothing to release", now_ms=NOW_MS) == []
    guard.engage_kill_switch("halt", now_ms=NOW_MS)
    assert guard.engage_kill_switch("halt again", now_ms=NOW_MS + 1) == []


def test_releasing_the_switch_starts_the_error_count_again() -> None:
    guard = new_guard()
    for _ in range(5):
        guard.record_order_error(NOW_MS)

    guard.release_kill_switch("venue is back", now_ms=NOW_MS + 1)

    assert guard.account.order_errors_in_row == 0
    assert check(guard) is ReasonCode.OK


def test_trip_events_take_their_ids_from_the_factory_in_order() -> None:
    guard = new_guard()
    ids = IdFactory("trips")
    guard.check(Scenario().intent, Scenario().context())

    events = guard.engage_kill_switch("halt", now_ms=NOW_MS) + guard.release_kill_switch("go", now_ms=NOW_MS)

    assert [e.event_id for e in events] == [ids("risk_event") for _ in range(3)][1:]
