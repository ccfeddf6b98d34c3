import itertools
import json
import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine.features import RETURN_HORIZONS_S, FeatureState, FeatureView
from core.engine.probability import DEFAULT_SIGMA
from core.events import (
    BookDelta,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    Liquidity,
    MarketResolved,
    OrderStatus,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    TickSizeChange,
    Timer,
    TradePrint,
)
from core.market.rounds import Round
from core.market.settlement import SettlementSource, twap
from tests.support.feature_events import (
    CLOSE_MS,
    DOWN_TOKEN,
    OPEN_MS,
    ROUND,
    UP_TOKEN,
    book,
    feed,
    make_state,
    per_second,
    tick,
)

TWAP = SettlementSource.CHAINLINK_TWAP_60S


def test_feature_state_is_a_feature_view() -> None:
    view: FeatureView = make_state()
    assert view.round_slug == ROUND.slug
    assert (view.open_ms, view.close_ms) == (OPEN_MS, CLOSE_MS)


def test_now_is_the_latest_event_time_and_time_left_counts_down_to_the_close() -> None:
    state = feed(make_state(), [Timer(ts_ms=CLOSE_MS - 120_500, name="activation")])
    assert state.now_ms == CLOSE_MS - 120_500
    assert state.time_left_s == 120.5
    state.apply(Timer(ts_ms=CLOSE_MS + 5_000, name="late"))
    assert state.time_left_s == 0


def test_spot_prices_and_divergence_follow_the_latest_ticks() -> None:
    state = feed(
        make_state(),
        [
            tick(OPEN_MS, "100000"),
            tick(OPEN_MS + 10, "100020", source=PriceSource.BINANCE),
            tick(OPEN_MS + 20, "100010", source=PriceSource.PYTH),
        ],
    )
    assert state.chainlink == 100_000.0
    assert state.binance == 100_020.0
    assert state.pyth == 100_010.0
    assert state.divergence_bps == pytest.approx(2.0)
    assert state.settlement_estimate == 100_000.0


def test_returns_compare_the_latest_second_with_the_sample_horizon_seconds_earlier() -> None:
    prices = [100_000.0 * (1 + 0.0001 * i) for i in range(301)]
    state = feed(make_state(), per_second(OPEN_MS, prices))
    for horizon in RETURN_HORIZONS_S:
        assert state.log_return(horizon) == pytest.approx(math.log(prices[-1] / prices[-1 - horizon]))


def test_returns_are_unknown_until_the_samples_reach_back_far_enough() -> None:
    state = feed(make_state(), per_second(OPEN_MS, [100_000.0] * 30))
    assert state.log_return(10) == 0.0
    assert state.log_return(30) is None
    with pytest.raises(ValueError, match="horizon_s"):
        state.log_return(0)


def test_a_second_without_a_report_repeats_the_previous_price() -> None:
    state = feed(make_state(), [tick(OPEN_MS, "100000"), tick(OPEN_MS + 15_000, "101000")])
    assert state.log_return(10) == pytest.approx(math.log(101_000 / 100_000))
    state.apply(tick(OPEN_MS + 25_000, "101000"))
    assert state.log_return(10) == 0.0
    assert state.log_return(20) == pytest.approx(math.log(101_000 / 100_000))


def test_the_last_report_in_a_second_is_the_sample_of_that_second() -> None:
    state = feed(
        make_state(),
        [tick(OPEN_MS, "100000"), tick(OPEN_MS + 10_000, "100100"), tick(OPEN_MS + 10_900, "100200")],
    )
    assert state.chainlink == 100_200.0
    assert state.log_return(10) == pytest.approx(math.log(100_200 / 100_000))


def test_reports_stamped_before_the_newest_one_are_ignored() -> None:
    state = feed(make_state(), [tick(OPEN_MS, "100000"), tick(OPEN_MS + 10_000, "100100")])
    state.apply(tick(OPEN_MS + 11_000, "1", stamp_ms=OPEN_MS + 5_000))
    assert state.chainlink == 100_100.0
    assert state.log_return(10) == pytest.approx(math.log(100_100 / 100_000))


def test_computed_twap_is_the_mean_of_the_last_sixty_samples() -> None:
    prices = [100_000.0 + i for i in range(100)]
    state = feed(make_state(), per_second(OPEN_MS, prices[:59]))
    assert state.chainlink_twap is None
    feed(state, per_second(OPEN_MS + 59_000, prices[59:]))
    assert state.chainlink_twap == pytest.approx(sum(prices[-60:]) / 60)


def test_the_feed_twap_wins_over_the_computed_one() -> None:
    state = feed(make_state(TWAP), per_second(OPEN_MS, [100_000.0] * 70))
    state.apply(tick(OPEN_MS + 70_000, "99000", source=PriceSource.CHAINLINK_TWAP_60S))
    assert state.chainlink_twap == 99_000.0
    assert state.settlement_estimate == 99_000.0


def test_settlement_window_mean_averages_the_samples_since_the_final_minute_began() -> None:
    start = CLOSE_MS - 70_000
    prices = [100_000.0 + i for i in range(40)]
    state = feed(make_state(), per_second(start, prices))
    assert state.settlement_window_mean == pytest.approx(sum(prices[10:]) / 30)
    assert feed(make_state(), per_second(start, prices[:10])).settlement_window_mean is None


def test_a_long_feed_gap_into_the_final_minute_fills_the_window_with_the_price_before_it() -> None:
    state = feed(make_state(), [tick(CLOSE_MS - 200_000, "100000"), tick(CLOSE_MS - 30_000, "100310")])
    assert state.settlement_window_mean == pytest.approx((30 * 100_000 + 100_310) / 31)


@pytest.mark.parametrize("interval", [1, 10])
def test_volatility_learns_the_per_second_volatility_of_the_prices(interval: int) -> None:
    rng = random.Random(7)
    sigma, log_price, prices = 1.5e-4, math.log(100_000), []
    for _ in range(4_000):
        log_price += rng.gauss(0, sigma)
        prices.append(math.exp(log_price))
    state = make_state(volatility_interval_s=interval, volatility_half_life_s=900)
    assert state.volatility == DEFAULT_SIGMA
    feed(state, per_second(OPEN_MS - 3_600_000, prices))
    assert state.volatility == pytest.approx(sigma, rel=0.15)


def test_volatility_counts_a_gap_of_more_than_a_minute_as_one_return() -> None:
    state = make_state(volatility_interval_s=1, volatility_half_life_s=100, volatility_prior=0.0)
    jump = 0.01
    feed(state, [tick(OPEN_MS, "100000"), tick(OPEN_MS + 100_000, f"{100_000 * math.exp(jump):.8f}")])
    assert state.volatility == pytest.approx(math.sqrt(0.5 * jump**2 / 100), rel=1e-6)
    assert state.log_return(10) == pytest.approx(jump)
    assert state.chainlink_twap == pytest.approx((59 * 100_000 + 100_000 * math.exp(jump)) / 60)


def test_strike_of_a_spot_round_is_the_chainlink_price_in_effect_at_the_open() -> None:
    state = feed(
        make_state(),
        [
            tick(OPEN_MS - 1_200, "99990", stamp_ms=OPEN_MS - 2_000),
            tick(OPEN_MS + 300, "100000", stamp_ms=OPEN_MS),
        ],
    )
    assert state.strike is None, "a later report stamped at the open could still come"
    state.apply(tick(OPEN_MS + 1_300, "100050", stamp_ms=OPEN_MS + 1_000))
    assert state.strike == 100_000.0


def test_strike_of_a_twap_round_is_the_twap_of_the_minute_before_the_open() -> None:
    rng = random.Random(3)
    prices = [100_000 + rng.uniform(-50, 50) for _ in range(90)]
    ticks = per_second(OPEN_MS - 80_000, prices)
    state = feed(make_state(TWAP), ticks)
    expected = twap([(t.source_ts_ms, t.price) for t in ticks], OPEN_MS)
    assert expected is not None
    assert state.strike == pytest.approx(float(expected), rel=1e-12)


def test_strike_of_a_twap_round_comes_from_the_feed_when_it_publishes_one() -> None:
    twap_tick = PriceSource.CHAINLINK_TWAP_60S
    state = feed(
        make_state(TWAP),
        [
            *per_second(OPEN_MS - 80_000, [100_000.0] * 81),
            tick(OPEN_MS + 200, "99950", stamp_ms=OPEN_MS, source=twap_tick),
        ],
    )
    assert state.strike is None
    state.apply(tick(OPEN_MS + 1_200, "99960", stamp_ms=OPEN_MS + 1_000, source=twap_tick))
    assert state.strike == 99_950.0


def test_strike_is_unknown_when_the_stream_starts_too_late() -> None:
    assert feed(make_state(), per_second(OPEN_MS + 1_000, [100_000.0] * 5)).strike is None
    assert feed(make_state(TWAP), per_second(OPEN_MS - 30_000, [100_000.0] * 40)).strike is None


def test_a_given_strike_wins_over_the_ticks() -> None:
    state = feed(make_state(strike=Decimal("99000.5")), per_second(OPEN_MS - 5_000, [100_000.0] * 10))
    assert state.strike == 99_000.5
    state.set_strike(98_000)
    assert state.strike == 98_000.0
    with pytest.raises(ValueError, match="strike"):
        state.set_strike(0)


def test_books_follow_snapshots_and_deltas_of_the_rounds_own_tokens() -> None:
    state = feed(
        make_state(),
        [
            book(UP_TOKEN, OPEN_MS, bids=[("0.48", "10")], asks=[("0.52", "10"), ("0.53", "5")]),
            book("other-token", OPEN_MS, asks=[("0.10", "10")]),
            BookDelta(
                ts_ms=OPEN_MS + 1, token_id=UP_TOKEN, side=Side.SELL, price=Decimal("0.52"), size=Decimal(0)
            ),
            BookDelta(
                ts_ms=OPEN_MS + 2, token_id=DOWN_TOKEN, side=Side.BUY, price=Decimal("0.45"), size=Decimal(3)
            ),
        ],
    )
    assert state.book(Outcome.UP).best_ask == Decimal("0.53")
    assert state.book(Outcome.DOWN).best_bid == Decimal("0.45")
    assert state.book(Outcome.DOWN).best_ask is None
    assert state.token_id(Outcome.DOWN) == DOWN_TOKEN


def test_imbalance_weighs_bid_against_ask_depth_near_the_top() -> None:
    state = feed(
        make_state(),
        [
            book(
                UP_TOKEN,
                OPEN_MS,
                bids=[("0.50", "30"), ("0.40", "1000")],
                asks=[("0.51", "10"), ("0.52", "10")],
            )
        ],
    )
    assert state.imbalance(Outcome.UP, within_ticks=3) == pytest.approx((30 - 20) / 50)
    assert state.imbalance(Outcome.DOWN) is None


def test_tick_size_changes_reach_the_book() -> None:
    state = feed(make_state(), [TickSizeChange(ts_ms=OPEN_MS, token_id=UP_TOKEN, tick_size=Decimal("0.001"))])
    assert state.book(Outcome.UP).tick == Decimal("0.001")
    assert state.book(Outcome.DOWN).tick == Decimal("0.01")


def test_last_trade_is_kept_per_outcome() -> None:
    state = feed(
        make_state(),
        [
            TradePrint(
                ts_ms=OPEN_MS, token_id=DOWN_TOKEN, price=Decimal("0.37"), size=Decimal(5), side=Side.BUY
            )
        ],
    )
    assert state.last_trade(Outcome.DOWN) == 0.37
    assert state.last_trade(Outcome.UP) is None


def test_feed_age_runs_from_the_last_event_of_that_feed() -> None:
    state = feed(
        make_state(),
        [tick(OPEN_MS, "100000"), book(UP_TOKEN, OPEN_MS + 500), Timer(ts_ms=OPEN_MS + 2_000, name="t")],
    )
    assert state.feed_age_s("chainlink") == 2.0
    assert state.feed_age_s("market") == 1.5
    assert state.feed_age_s("binance") is None


def test_a_feed_is_stale_when_its_age_exceeds_the_threshold() -> None:
    state = feed(make_state(stale_after_s={"chainlink": 3.0}), [tick(OPEN_MS, "100000")])
    state.apply(Timer(ts_ms=OPEN_MS + 3_000, name="t"))
    assert not state.feed_stale("chainlink")
    state.apply(Timer(ts_ms=OPEN_MS + 3_001, name="t"))
    assert state.feed_stale("chainlink")


def test_a_feed_is_stale_while_its_status_says_so() -> None:
    state = feed(
        make_state(), [tick(OPEN_MS, "100000"), FeedStatus(ts_ms=OPEN_MS, feed="chainlink", stale=True)]
    )
    assert state.feed_stale("chainlink")
    state.apply(FeedStatus(ts_ms=OPEN_MS + 1, feed="chainlink", stale=False))
    assert not state.feed_stale("chainlink")


def test_a_stale_price_connection_makes_the_feeds_it_carries_stale() -> None:
    state = feed(
        make_state(),
        [
            tick(OPEN_MS, "100000"),
            tick(OPEN_MS, "100000", source=PriceSource.BINANCE),
            book(UP_TOKEN, OPEN_MS),
            FeedStatus(ts_ms=OPEN_MS, feed="rtds", stale=True),
        ],
    )
    assert state.feed_stale("chainlink")
    assert state.feed_stale("binance")
    assert not state.feed_stale("market")


def test_a_feed_never_seen_is_stale_from_the_end_of_the_warm_up() -> None:
    state = feed(make_state(), [Timer(ts_ms=ROUND.activation_ms - 1, name="t")])
    assert not state.feed_stale("chainlink")
    state.apply(Timer(ts_ms=ROUND.activation_ms, name="activation"))
    assert state.feed_stale("chainlink")
    assert not state.feed_stale("user"), "the user channel is quiet whenever we have no orders"


def test_orders_and_fills_only_refresh_the_user_feed() -> None:
    state = feed(
        make_state(),
        [
            OrderUpdate(ts_ms=OPEN_MS, order_id="o1", status=OrderStatus.LIVE),
            Fill(
                ts_ms=OPEN_MS + 1_000,
                order_id="o1",
                trade_id="t1",
                token_id=UP_TOKEN,
                side=Side.BUY,
                price=Decimal("0.5"),
                size=Decimal(1),
                fee=Decimal(0),
                liquidity=Liquidity.TAKER,
            ),
        ],
    )
    assert state.feed_age_s("user") == 0.0
    assert state.last_trade(Outcome.UP) is None
    assert state.book(Outcome.UP).best_ask is None


def test_market_resolution_names_the_winner() -> None:
    state = make_state()
    assert state.resolved is None
    state.apply(MarketResolved(ts_ms=CLOSE_MS, winning_token_id=DOWN_TOKEN, winning_outcome=Outcome.DOWN))
    assert state.resolved is Outcome.DOWN


def test_an_event_older_than_the_latest_of_its_own_stream_is_ignored() -> None:
    state = feed(
        make_state(),
        [
            *per_second(OPEN_MS - 70_000, [100_000.0] * 81),
            book(UP_TOKEN, OPEN_MS + 10_000, asks=[("0.5", "1")]),
            FeedStatus(ts_ms=OPEN_MS + 10_000, feed="chainlink", stale=False),
            tick(OPEN_MS + 10_000, "100005", source=PriceSource.BINANCE),
        ],
    )
    before = state.snapshot()
    feed(
        state,
        [
            tick(OPEN_MS, "1"),
            tick(OPEN_MS, "1", source=PriceSource.BINANCE),
            book(UP_TOKEN, OPEN_MS, asks=[("0.9", "1")]),
            TradePrint(
                ts_ms=OPEN_MS, token_id=UP_TOKEN, price=Decimal("0.9"), size=Decimal(1), side=Side.BUY
            ),
            FeedStatus(ts_ms=OPEN_MS, feed="chainlink", stale=True),
        ],
    )
    assert state.snapshot() == before
    assert not state.feed_stale("chainlink")


def test_an_event_older_than_another_streams_latest_still_counts() -> None:
    state = feed(make_state(), [book(UP_TOKEN, OPEN_MS + 5_000, asks=[("0.5", "1")])])
    feed(state, [tick(OPEN_MS + 4_000, "100000"), book(DOWN_TOKEN, OPEN_MS + 1_000, asks=[("0.4", "1")])])
    assert state.now_ms == OPEN_MS + 5_000
    assert state.chainlink == 100_000.0
    assert state.feed_age_s("chainlink") == 1.0
    assert state.book(Outcome.DOWN).best_ask == Decimal("0.4")


def test_snapshot_is_json_safe() -> None:
    state = feed(make_state(), [*per_second(OPEN_MS - 400_000, [100_000.0] * 402), book(UP_TOKEN, OPEN_MS)])
    snapshot = state.snapshot()
    assert json.loads(json.dumps(snapshot, allow_nan=False)) == snapshot
    assert snapshot["strike"] == 100_000.0
    assert snapshot["return_300s"] == 0.0


# The ring buffer against a naive recomputation from every report.

SHORT_ROUND = Round(open_s=1_780_000_200, length_s=300, activation_lead_s=120, wake_lead_s=240)
VOL_INTERVAL = 5
steps = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 2_500), st.integers(0, 90_000)),
        st.floats(-0.003, 0.003, allow_nan=False),
    ),
    min_size=1,
    max_size=700,
)


def _naive(reports: list[tuple[int, float]]) -> tuple[dict[int, float], int, int, float, bool]:
    """Per-second samples with gaps filled, and the EWMA volatility, recomputed from scratch."""
    last: dict[int, float] = {}
    for stamp, price in reports:
        last[stamp // 1000] = price
    first, head = min(last), max(last)
    samples, value = {}, last[first]
    for second in range(first, head + 1):
        value = last.get(second, value)
        samples[second] = value
    decay = 0.5 ** (1 / 60)
    var, long_gap = 7e-5**2, False
    seconds = sorted(last)
    for before, after in itertools.pairwise(seconds):
        long_gap = long_gap or after - before > 60
    if not long_gap:
        for t in range(first, head):
            if t - VOL_INTERVAL >= first:
                r = math.log(samples[t] / samples[t - VOL_INTERVAL])
                var = decay * var + (1 - decay) * r * r / VOL_INTERVAL
    return samples, first, head, math.sqrt(var), long_gap


@settings(max_examples=60, deadline=None)
@given(steps=steps, long_gaps=st.booleans())
def test_ring_buffer_features_match_a_naive_recomputation(
    steps: list[tuple[int, float]], long_gaps: bool
) -> None:
    state = FeatureState(
        SHORT_ROUND,
        UP_TOKEN,
        DOWN_TOKEN,
        SettlementSource.CHAINLINK_SPOT,
        volatility_half_life_s=60,
        volatility_interval_s=VOL_INTERVAL,
    )
    stamp, log_price, reports = SHORT_ROUND.open_ms - 120_000, math.log(100_000), []
    for step_ms, log_return in steps:
        stamp += step_ms if long_gaps else step_ms % 2_500
        log_price += log_return
        price = float(Decimal(f"{math.exp(log_price):.8f}"))
        reports.append((stamp, price))
        state.apply(tick(stamp, f"{price:.8f}"))

    samples, first, head, volatility, long_gap = _naive(reports)
    for horizon in (*RETURN_HORIZONS_S, 1, 137):
        expected = math.log(samples[head] / samples[head - horizon]) if head - horizon >= first else None
        assert state.log_return(horizon) == (
            pytest.approx(expected, abs=1e-12) if expected is not None else None
        )
    expected_twap = sum(samples[t] for t in range(head - 59, head + 1)) / 60 if head - first >= 59 else None
    assert state.chainlink_twap == (pytest.approx(expected_twap, rel=1e-12) if expected_twap else None)
    window = [samples[t] for t in range(SHORT_ROUND.close_s - 60, SHORT_ROUND.close_s) if t in samples]
    expected_mean = sum(window) / len(window) if window else None
    assert state.settlement_window_mean == (pytest.approx(expected_mean, rel=1e-12) if window else None)
    if not long_gap:
        assert state.volatility == pytest.approx(volatility, rel=1e-9)


def _stream(event: Event) -> object:
    """The engine's ordering key (core/engine/engine.py): per price source, per token, per feed."""
    if isinstance(event, PriceTick):
        return event.source
    if isinstance(event, BookSnapshot | TradePrint):
        return event.token_id
    if isinstance(event, FeedStatus):
        return ("feed", event.feed)
    return type(event)


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(list(range(40))), seed=st.integers(0, 1000))
def test_out_of_order_streams_never_crash_and_equal_what_the_engine_would_pass(
    order: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    events: list[Event] = []
    for i in order:
        ts = OPEN_MS - 65_000 + i * 2_000
        kind = rng.randrange(5)
        if kind == 0:
            events.append(tick(ts, f"{100_000 + rng.uniform(-100, 100):.2f}"))
        elif kind == 1:
            token = rng.choice((UP_TOKEN, DOWN_TOKEN))
            events.append(book(token, ts, bids=[("0.40", "5")], asks=[(f"0.{rng.randrange(41, 99)}", "5")]))
        elif kind == 2:
            events.append(
                FeedStatus(ts_ms=ts, feed=rng.choice(("binance", "rtds")), stale=rng.random() < 0.5)
            )
        elif kind == 3:
            price = Decimal(f"0.{rng.randrange(10, 99)}")
            events.append(
                TradePrint(ts_ms=ts, token_id=UP_TOKEN, price=price, size=Decimal(1), side=Side.SELL)
            )
        else:
            events.append(tick(ts, f"{100_000 + rng.uniform(-100, 100):.2f}", source=PriceSource.BINANCE))
    shuffled, in_order, latest = make_state(), make_state(), dict[object, int]()
    for event in events:
        shuffled.apply(event)
        stream = _stream(event)
        if event.ts_ms >= latest.get(stream, event.ts_ms):
            latest[stream] = event.ts_ms
            in_order.apply(event)
    end = Timer(ts_ms=OPEN_MS + 60_000, name="end")
    feed(shuffled, [end])
    feed(in_order, [end])
    assert shuffled.snapshot() == in_order.snapshot()
    for name in ("binance", "chainlink", "rtds", "market"):
        assert shuffled.feed_stale(name) == in_order.feed_stale(name)
