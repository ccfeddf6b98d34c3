import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import Clock, SimulatedClock, WallClock, datetime_to_ms, ms_to_datetime

START_MS = 1_778_437_800_000
START = datetime(2026, 5, 10, 18, 30, tzinfo=UTC)

# Every millisecond an aware datetime can represent, from year 1 to year 9999.
representable_ms = st.integers(
    min_value=datetime_to_ms(datetime.min.replace(tzinfo=UTC)),
    max_value=datetime_to_ms(datetime.max.replace(tzinfo=UTC)),
)
utc_offsets = st.integers(min_value=-1439, max_value=1439).map(lambda m: timezone(timedelta(minutes=m)))
whole_ms_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=utc_offsets
).map(lambda instant: instant.replace(microsecond=instant.microsecond // 1000 * 1000))


def test_simulated_clock_starts_at_the_instant_it_is_given() -> None:
    clock = SimulatedClock(START_MS)

    assert clock.now_ms() == START_MS
    assert clock.now() == START


def test_simulated_clock_moves_only_when_told() -> None:
    clock = SimulatedClock(START_MS)

    time.sleep(0.002)

    assert clock.now_ms() == START_MS


def test_simulated_clock_can_be_set_forward() -> None:
    clock = SimulatedClock(START_MS)

    clock.set(START_MS + 60_000)

    assert clock.now() == START + timedelta(minutes=1)


def test_simulated_clock_can_be_set_to_the_instant_it_already_shows() -> None:
    clock = SimulatedClock(START_MS)

    clock.set(START_MS)

    assert clock.now_ms() == START_MS


def test_simulated_clock_refuses_to_be_set_into_the_past() -> None:
    clock = SimulatedClock(START_MS)

    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(START_MS - 1)

    assert clock.now_ms() == START_MS


def test_simulated_clock_advances_by_the_given_milliseconds() -> None:
    clock = SimulatedClock(START_MS)

    clock.advance(1_500)
    clock.advance(0)

    assert clock.now_ms() == START_MS + 1_500


def test_simulated_clock_refuses_a_negative_advance() -> None:
    clock = SimulatedClock(START_MS)

    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)

    assert clock.now_ms() == START_MS


def test_sleep_until_on_the_simulated_clock_jumps_forward_immediately() -> None:
    clock = SimulatedClock(START_MS)
    an_hour_later = START_MS + 3_600_000

    started = time.monotonic()
    asyncio.run(clock.sleep_until(an_hour_later))

    assert clock.now_ms() == an_hour_later
    assert time.monotonic() - started < 1


def test_sleep_until_a_past_instant_leaves_the_simulated_clock_where_it_is() -> None:
    clock = SimulatedClock(START_MS)

    asyncio.run(clock.sleep_until(START_MS - 60_000))

    assert clock.now_ms() == START_MS


def test_sleep_until_on_the_simulated_clock_yields_to_other_tasks() -> None:
    clock = SimulatedClock(START_MS)
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    async def scenario() -> None:
        task = asyncio.create_task(other())
        await clock.sleep_until(START_MS + 1)
        order.append("sleeper")
        await task

    asyncio.run(scenario())

    assert order == ["other", "sleeper"]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(-(10**12), 10**12)),
        st.tuples(st.just("advance"), st.integers(-(10**9), 10**9)),
        st.tuples(st.just("sleep_until"), st.integers(-(10**12), 10**12)),
    ),
    max_size=20,
)


@given(operations=operations)
def test_simulated_clock_never_goes_back_whatever_it_is_told(operations: list[tuple[str, int]]) -> None:
    clock = SimulatedClock(0)
    shown = [clock.now_ms()]

    async def scenario() -> None:
        for name, value in operations:
            if name == "sleep_until":
                await clock.sleep_until(value)
            else:
                with contextlib.suppress(ValueError):
                    getattr(clock, name)(value)
            shown.append(clock.now_ms())

    asyncio.run(scenario())

    assert shown == sorted(shown)


def test_wall_clock_now_is_an_aware_utc_datetime() -> None:
    now = WallClock().now()

    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)


def test_wall_clock_now_and_now_ms_agree_within_a_second() -> None:
    clock = WallClock()

    assert abs(datetime_to_ms(clock.now()) - clock.now_ms()) < 1_000


def test_wall_clock_now_ms_is_the_real_time() -> None:
    assert abs(WallClock().now_ms() - time.time() * 1000) < 1_000


def test_wall_clock_sleep_until_waits_for_the_instant() -> None:
    clock = WallClock()
    target = clock.now_ms() + 20

    asyncio.run(clock.sleep_until(target))

    assert clock.now_ms() >= target


def test_wall_clock_sleep_until_a_past_instant_returns_at_once() -> None:
    clock = WallClock()

    started = time.monotonic()
    asyncio.run(clock.sleep_until(clock.now_ms() - 3_600_000))

    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("clock", [WallClock(), SimulatedClock(START_MS)], ids=["wall", "simulated"])
def test_both_clocks_satisfy_the_clock_protocol(clock: object) -> None:
    assert isinstance(clock, Clock)


def test_an_object_without_the_clock_methods_is_not_a_clock() -> None:
    assert not isinstance(object(), Clock)


def test_epoch_is_millisecond_zero() -> None:
    assert ms_to_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert datetime_to_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_ms_to_datetime_gives_an_aware_utc_datetime() -> None:
    instant = ms_to_datetime(START_MS + 123)

    assert instant.tzinfo is UTC
    assert instant == START + timedelta(milliseconds=123)


@given(ts_ms=representable_ms)
def test_milliseconds_round_trip_through_datetime(ts_ms: int) -> None:
    assert datetime_to_ms(ms_to_datetime(ts_ms)) == ts_ms


@given(instant=whole_ms_datetimes)
def test_whole_millisecond_datetimes_round_trip_through_milliseconds(instant: datetime) -> None:
    assert ms_to_datetime(datetime_to_ms(instant)) == instant


@given(instant=whole_ms_datetimes)
def test_milliseconds_do_not_depend_on_the_time_zone(instant: datetime) -> None:
    assert datetime_to_ms(instant) == datetime_to_ms(instant.astimezone(UTC))


def test_datetime_to_ms_floors_sub_millisecond_parts_also_before_the_epoch() -> None:
    assert datetime_to_ms(datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 0
    assert datetime_to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1


def test_datetime_to_ms_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        datetime_to_ms(datetime(2026, 5, 10, 18, 30))
