import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import datetime_to_ms
from core.market.rounds import InvalidSlugError, Round, RoundSchedule, window_label

VENUE = RoundSchedule()
FIVE_MINUTES = RoundSchedule(300, 60, 120)
TWO_MINUTES = RoundSchedule(120, 30, 60)
NINETY_SECONDS = RoundSchedule(90, 30, 45)

REAL_SLUG = "btc-updown-15m-1778437800"
REAL_OPEN = datetime(2026, 5, 10, 18, 30, tzinfo=UTC)
REAL_OPEN_MS = 1_778_437_800_000

# About ±31,000 years around the epoch: far past, far future and everything between.
instants_ms = st.integers(min_value=-(10**15), max_value=10**15)
named_schedules = st.sampled_from([VENUE, FIVE_MINUTES, TWO_MINUTES, NINETY_SECONDS])


@st.composite
def any_schedule(draw: st.DrawFn) -> RoundSchedule:
    length = draw(st.integers(min_value=1, max_value=86_400))
    activation = draw(st.integers(min_value=1, max_value=length))
    wake = draw(st.integers(min_value=activation, max_value=length))
    return RoundSchedule(length, activation, wake)


schedules = st.one_of(named_schedules, any_schedule())
utc_offsets = st.integers(min_value=-1439, max_value=1439).map(lambda m: timezone(timedelta(minutes=m)))
# A year of margin on each side keeps every round and its neighbours inside datetime's range.
aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=utc_offsets
)


@given(ts_ms=instants_ms, schedule=schedules)
def test_every_instant_falls_in_exactly_one_round(ts_ms: int, schedule: RoundSchedule) -> None:
    current = schedule.round_at_ms(ts_ms)

    assert current.open_ms <= ts_ms < current.close_ms
    assert current.contains_ms(ts_ms)
    assert not current.previous().contains_ms(ts_ms)
    assert not current.next().contains_ms(ts_ms)


@given(ts_ms=instants_ms, schedule=schedules)
def test_the_round_of_an_instant_opens_on_a_boundary_of_the_schedule(
    ts_ms: int, schedule: RoundSchedule
) -> None:
    current = schedule.round_at_ms(ts_ms)

    assert current.open_s % schedule.length_s == 0
    assert current.length_s == schedule.length_s


@given(instant=aware_datetimes, schedule=schedules)
def test_every_aware_datetime_falls_in_the_round_whose_window_holds_it(
    instant: datetime, schedule: RoundSchedule
) -> None:
    current = schedule.round_at(instant)

    assert current.open <= instant < current.close
    assert not current.previous().open <= instant < current.previous().close
    assert not current.next().open <= instant < current.next().close
    assert current == schedule.round_at_ms(datetime_to_ms(instant))


@given(instant=aware_datetimes)
def test_the_round_of_an_instant_does_not_depend_on_its_time_zone(instant: datetime) -> None:
    assert VENUE.round_at(instant) == VENUE.round_at(instant.astimezone(UTC))


def test_instant_on_the_boundary_belongs_to_the_new_round() -> None:
    boundary = datetime(2026, 5, 10, 18, 45, 0, 0, tzinfo=UTC)

    current = VENUE.round_at(boundary)

    assert current.open == boundary
    assert current.slug == "btc-updown-15m-1778438700"


def test_instant_one_ms_before_the_boundary_belongs_to_the_old_round() -> None:
    just_before = datetime(2026, 5, 10, 18, 44, 59, 999_000, tzinfo=UTC)

    current = VENUE.round_at(just_before)

    assert current.open == REAL_OPEN
    assert current.close == just_before + timedelta(milliseconds=1)


@given(schedule=schedules, ts_ms=instants_ms)
def test_boundary_millisecond_splits_two_adjacent_rounds(schedule: RoundSchedule, ts_ms: int) -> None:
    boundary_ms = schedule.round_at_ms(ts_ms).close_ms

    assert schedule.round_at_ms(boundary_ms).open_ms == boundary_ms
    assert schedule.round_at_ms(boundary_ms - 1).close_ms == boundary_ms


def test_instants_before_the_epoch_fall_in_rounds_before_the_epoch() -> None:
    assert VENUE.round_at_ms(-1) == Round(-900)
    assert VENUE.round_at_ms(-900_000) == Round(-900)
    assert VENUE.round_at_ms(-900_001) == Round(-1800)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        VENUE.round_at(datetime(2026, 5, 10, 18, 30))


def test_real_venue_slug_names_the_round_from_18_30_to_18_45_utc() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert current.open == REAL_OPEN
    assert current.close == datetime(2026, 5, 10, 18, 45, tzinfo=UTC)
    assert current.open_ms == REAL_OPEN_MS
    assert current.slug == REAL_SLUG


def test_slug_is_asset_updown_length_and_open_unix_seconds() -> None:
    assert VENUE.round_at_ms(REAL_OPEN_MS + 123_456).slug == f"btc-updown-15m-{REAL_OPEN_MS // 1000}"


@pytest.mark.parametrize(
    ("length_s", "label"), [(900, "15m"), (300, "5m"), (120, "2m"), (3600, "60m"), (90, "90s"), (61, "61s")]
)
def test_window_label_reads_whole_minutes_as_minutes_and_the_rest_as_seconds(
    length_s: int, label: str
) -> None:
    assert window_label(length_s) == label


@given(schedule=schedules, ts_ms=instants_ms)
def test_slug_round_trips_for_any_round(schedule: RoundSchedule, ts_ms: int) -> None:
    current = schedule.round_at_ms(ts_ms)

    assert schedule.from_slug(current.slug) == current


@pytest.mark.parametrize("schedule", [VENUE, FIVE_MINUTES, TWO_MINUTES, NINETY_SECONDS])
def test_slug_of_each_schedule_carries_its_length_label(schedule: RoundSchedule) -> None:
    current = schedule.round_at_ms(REAL_OPEN_MS)

    assert current.slug == f"btc-updown-{window_label(schedule.length_s)}-{current.open_s}"


def test_activation_is_three_minutes_before_close() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert current.activation == datetime(2026, 5, 10, 18, 42, tzinfo=UTC)
    assert current.activation_ms == current.close_ms - 180_000


def test_wake_is_four_minutes_before_close() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert current.wake == datetime(2026, 5, 10, 18, 41, tzinfo=UTC)
    assert current.wake_ms == current.close_ms - 240_000


@given(schedule=schedules, ts_ms=instants_ms)
def test_a_round_opens_then_wakes_then_activates_then_closes(schedule: RoundSchedule, ts_ms: int) -> None:
    current = schedule.round_at_ms(ts_ms)

    assert current.open_ms <= current.wake_ms <= current.activation_ms < current.close_ms


@given(schedule=schedules, ts_ms=instants_ms)
def test_next_and_previous_rounds_are_adjacent(schedule: RoundSchedule, ts_ms: int) -> None:
    current = schedule.round_at_ms(ts_ms)

    assert current.next().open_ms == current.close_ms
    assert current.previous().close_ms == current.open_ms
    assert current.next().previous() == current


def test_rounds_sort_by_open_time() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert sorted([current.next(), current, current.previous()]) == [
        current.previous(),
        current,
        current.next(),
    ]


def test_cron_for_the_venue_schedule_fires_four_minutes_before_each_quarter_hour() -> None:
    assert VENUE.cron() == "11,26,41,56 * * * *"


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        (VENUE, "11,26,41,56 * * * *"),
        (FIVE_MINUTES, "3,8,13,18,23,28,33,38,43,48,53,58 * * * *"),
        (TWO_MINUTES, ",".join(str(minute) for minute in range(1, 60, 2)) + " * * * *"),
        (RoundSchedule(3600, 180, 240), "56 * * * *"),
    ],
)
def test_each_cron_minute_is_the_minute_of_a_wake_time(schedule: RoundSchedule, cron: str) -> None:
    hour_start_ms = datetime_to_ms(datetime(2026, 5, 10, 18, 0, tzinfo=UTC))
    wakes = {r.wake.minute for r in schedule.rounds_between(hour_start_ms, hour_start_ms + 3_600_000)}

    assert schedule.cron() == cron
    assert {int(minute) for minute in cron.split(maxsplit=1)[0].split(",")} == wakes


@pytest.mark.parametrize(
    "schedule",
    [
        NINETY_SECONDS,
        RoundSchedule(420, 180, 240),
        RoundSchedule(7200, 180, 240),
        RoundSchedule(900, 180, 250),
    ],
    ids=["not-whole-minutes", "not-dividing-an-hour", "longer-than-an-hour", "wake-off-the-minute"],
)
def test_schedules_cron_cannot_express_are_refused_with_the_reason(schedule: RoundSchedule) -> None:
    with pytest.raises(ValueError, match="not expressible as cron"):
        schedule.cron()


def test_next_to_wake_is_the_current_round_before_its_wake_time() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert VENUE.next_to_wake(current.open_ms) == current
    assert VENUE.next_to_wake(current.wake_ms - 1) == current


def test_next_to_wake_is_the_current_round_exactly_at_its_wake_time() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert VENUE.next_to_wake(current.wake_ms) == current


def test_next_to_wake_is_the_following_round_once_the_wake_time_has_passed() -> None:
    current = VENUE.from_slug(REAL_SLUG)

    assert VENUE.next_to_wake(current.wake_ms + 1) == current.next()
    assert VENUE.next_to_wake(current.close_ms - 1) == current.next()


@given(schedule=schedules, ts_ms=instants_ms)
def test_next_to_wake_is_the_first_round_waking_at_or_after_the_instant(
    schedule: RoundSchedule, ts_ms: int
) -> None:
    chosen = schedule.next_to_wake(ts_ms)

    assert chosen.wake_ms >= ts_ms
    assert chosen.previous().wake_ms < ts_ms


def test_rounds_between_lists_the_rounds_opening_in_a_half_open_hour() -> None:
    start_ms = REAL_OPEN_MS

    rounds = list(VENUE.rounds_between(start_ms, start_ms + 3_600_000))

    assert [r.open for r in rounds] == [REAL_OPEN + timedelta(minutes=15 * k) for k in range(4)]


def test_rounds_between_skips_the_round_already_open_at_the_start() -> None:
    rounds = list(VENUE.rounds_between(REAL_OPEN_MS + 1, REAL_OPEN_MS + 900_001))

    assert rounds == [VENUE.from_slug(REAL_SLUG).next()]


def test_rounds_between_is_empty_for_an_empty_or_reversed_span() -> None:
    assert list(VENUE.rounds_between(REAL_OPEN_MS, REAL_OPEN_MS)) == []
    assert list(VENUE.rounds_between(REAL_OPEN_MS + 900_000, REAL_OPEN_MS)) == []


@given(
    schedule=named_schedules,
    start_ms=instants_ms,
    span_ms=st.integers(min_value=0, max_value=6 * 3_600_000),
)
def test_rounds_between_yields_every_round_opening_in_the_span_in_order(
    schedule: RoundSchedule, start_ms: int, span_ms: int
) -> None:
    end_ms = start_ms + span_ms
    length_ms = schedule.length_s * 1000

    rounds = list(schedule.rounds_between(start_ms, end_ms))

    assert all(start_ms <= r.open_ms < end_ms for r in rounds)
    assert all(a.next() == b for a, b in itertools.pairwise(rounds))
    assert len(rounds) == -(-end_ms // length_ms) - -(-start_ms // length_ms)


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("btc-up-or-down-15m-1778437800", "is not a round slug"),
        ("garbage", "is not a round slug"),
        ("", "is not a round slug"),
        ("btc-updown-15m-", "is not a round slug"),
        ("btc-updown-15m-17784378OO", "is not a round slug"),
        ("BTC-updown-15m-1778437800", "is not a round slug"),
        ("eth-updown-15m-1778437800", "names a eth 15m round, but this schedule has btc 15m rounds"),
        ("btc-updown-5m-1778437800", "names a btc 5m round, but this schedule has btc 15m rounds"),
        ("btc-updown-900s-1778437800", "names a btc 900s round"),
        ("btc-updown-15m-1778437801", "1778437801 is not a multiple of 900 s"),
        ("btc-updown-15m-1778438100", "1778438100 is not a multiple of 900 s"),
        ("btc-updown-15m-01778437800", "not the canonical slug 'btc-updown-15m-1778437800'"),
        ("btc-updown-15m-1778437800\n", "not the canonical slug"),
        ("btc-updown-15m-١٧٧٨٤٣٧٨٠٠", "not the canonical slug"),
    ],
    ids=[
        "wrong-prefix",
        "garbage",
        "empty",
        "no-open-time",
        "letters-in-open-time",
        "uppercase-asset",
        "other-asset",
        "5m-slug-on-15m-schedule",
        "length-in-seconds",
        "open-off-by-a-second",
        "open-on-a-5m-boundary",
        "leading-zero",
        "trailing-newline",
        "non-ascii-digits",
    ],
)
def test_bad_slugs_are_refused_with_the_reason(slug: str, reason: str) -> None:
    with pytest.raises(InvalidSlugError) as refused:
        VENUE.from_slug(slug)

    assert reason in str(refused.value)
    assert repr(slug) in str(refused.value)


@pytest.mark.parametrize("value", [None, 1778437800, b"btc-updown-15m-1778437800"])
def test_a_slug_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidSlugError, match="is not a round slug: expected 'btc-updown-15m-<open unix"):
        VENUE.from_slug(value)  # type: ignore[arg-type]


def test_invalid_slug_error_is_a_value_error() -> None:
    assert issubclass(InvalidSlugError, ValueError)


def test_round_starting_refuses_an_open_time_off_the_schedule() -> None:
    with pytest.raises(ValueError, match="not a round boundary of a 900 s schedule"):
        VENUE.round_starting(1_778_437_801)


@pytest.mark.parametrize(
    ("length_s", "activation_lead_s", "wake_lead_s", "reason"),
    [
        (0, 180, 240, "round length must be positive"),
        (-900, 180, 240, "round length must be positive"),
        (120, 180, 240, "activation lead 180 s must lie within the round length 120 s"),
        (900, 0, 240, "activation lead 0 s must lie within"),
        (900, 180, 120, "wake lead 120 s must be between the activation lead 180 s"),
        (900, 180, 901, "wake lead 901 s must be between"),
    ],
    ids=[
        "zero-length",
        "negative-length",
        "activation-lead-longer-than-round",
        "no-activation-lead",
        "wake-after-activation",
        "wake-before-open",
    ],
)
def test_invalid_schedules_are_refused_with_the_reason(
    length_s: int, activation_lead_s: int, wake_lead_s: int, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        RoundSchedule(length_s, activation_lead_s, wake_lead_s)


@pytest.mark.parametrize("asset", ["BTC", "btc-usd", ""])
def test_an_asset_that_cannot_appear_in_a_slug_is_refused(asset: str) -> None:
    with pytest.raises(ValueError, match="must be lowercase letters and digits"):
        RoundSchedule(asset=asset)
