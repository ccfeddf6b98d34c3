import itertools
import math
from decimal import Decimal

import pytest

from core.events import PriceSource
from core.market.settlement import twap
from core.money import from_e18
from core.sim.prices import (
    BinanceFeed,
    BridgedMinutePath,
    Candle,
    ChainlinkFeed,
    ChainlinkReplayPath,
    ModelPath,
    OutOfRangeError,
    PricePath,
    ShiftedPath,
    annual_to_per_second,
    read_binance_1m_csv,
    replay_from,
)
from tests.support.shared_data import SHARED_DATA

BINANCE_1M = SHARED_DATA / "binance_btcusdt_1m_30d" / "binance_1m.csv"
CHAINLINK_DAY = SHARED_DATA / "chainlink_btc_1s_2026-06-08" / "BTCUSD-prices-2026-06-08.csv.gz"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"real data folder {SHARED_DATA} is absent (only on the team's machines; set BTC_AGENT_SHARED_DATA)",
)

T0 = 1_780_000_000_000


def model(
    seed: int, *, annual_vol: float = 0.4, jumps_per_hour: float = 0.0, jump_std: float = 0.003
) -> ModelPath:
    return ModelPath(
        start_price=Decimal(100_000),
        start_ms=T0,
        duration_s=7_200,
        seed=seed,
        annual_vol=annual_vol,
        jumps_per_hour=jumps_per_hour,
        jump_std=jump_std,
    )


def log_returns(path: PricePath, start_ms: int, seconds: int) -> list[float]:
    prices = [float(path.price_at(start_ms + i * 1000)) for i in range(seconds + 1)]
    return [math.log(b / a) for a, b in itertools.pairwise(prices)]


def rms(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values))


def synthetic_candles(minutes: int, sigma_per_s: float, seed: int) -> list[Candle]:
    """Candles whose closes follow a known 1 s random walk, to check the bridge's noise against."""
    source = ModelPath(
        start_price=Decimal(50_000),
        start_ms=T0,
        duration_s=minutes * 60 + 1,
        seed=seed,
        annual_vol=sigma_per_s * math.sqrt(365 * 24 * 3600),
    )
    return [
        Candle(T0 + m * 60_000, source.price_at(T0 + m * 60_000), source.price_at(T0 + (m + 1) * 60_000))
        for m in range(minutes)
    ]


def test_model_path_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    instants = [T0 + s * 1000 for s in (1, 59, 600, 7_199)]
    assert [model(7).price_at(t) for t in instants] == [model(7).price_at(t) for t in instants]
    assert [model(7).price_at(t) for t in instants] != [model(8).price_at(t) for t in instants]


def test_model_path_does_not_depend_on_the_order_of_queries() -> None:
    forward, backward = model(3), model(3)
    late = backward.price_at(T0 + 7_000_000)
    assert forward.price_at(T0 + 1000) == backward.price_at(T0 + 1000)
    assert forward.price_at(T0 + 7_000_000) == late


def test_model_path_starts_at_its_price_and_holds_each_value_for_a_second() -> None:
    path = model(1)
    assert path.price_at(T0) == Decimal(100_000)
    assert path.price_at(T0 + 5_000) == path.price_at(T0 + 5_999)


def test_model_path_volatility_matches_the_configured_annual_vol() -> None:
    returns = log_returns(model(11, annual_vol=0.6), T0, 7_000)
    assert rms(returns) == pytest.approx(annual_to_per_second(0.6), rel=0.05)


def test_model_path_jumps_make_fat_tails() -> None:
    sigma = annual_to_per_second(0.4)
    calm = log_returns(model(5), T0, 3_600)
    jumpy = log_returns(model(5, jumps_per_hour=20, jump_std=0.01), T0, 3_600)
    assert max(map(abs, calm)) < 6 * sigma < max(map(abs, jumpy))


def test_a_path_refuses_instants_outside_its_range() -> None:
    path = model(1)
    with pytest.raises(OutOfRangeError):
        path.price_at(T0 - 1)
    with pytest.raises(OutOfRangeError):
        path.price_at(path.end_ms)


def test_bridge_passes_exactly_through_every_close_and_the_first_open() -> None:
    candles = synthetic_candles(30, 7e-5, seed=2)
    path = BridgedMinutePath(candles, seed=9)
    assert path.price_at(T0) == candles[0].open
    for candle in candles:
        assert path.price_at(candle.open_ms + 60_000) == candle.close
    assert path.end_ms == candles[-1].open_ms + 61_000


def test_bridge_is_deterministic_for_a_seed_and_differs_for_another() -> None:
    candles = synthetic_candles(5, 7e-5, seed=2)
    instants = [T0 + s * 1000 for s in (1, 30, 61, 299)]
    first, again, other = (BridgedMinutePath(candles, seed=s) for s in (4, 4, 5))
    assert [first.price_at(t) for t in instants] == [again.price_at(t) for t in instants]
    assert [first.price_at(t) for t in instants] != [other.price_at(t) for t in instants]


def test_bridge_noise_matches_the_volatility_of_the_candles() -> None:
    sigma = 8e-5
    path = BridgedMinutePath(synthetic_candles(240, sigma, seed=3), seed=1)
    assert rms(log_returns(path, T0, 240 * 60)) == pytest.approx(sigma, rel=0.1)
    assert path.sigma_per_second(100) == pytest.approx(sigma, rel=0.3)


def test_bridge_refuses_candles_with_a_gap() -> None:
    candles = synthetic_candles(3, 7e-5, seed=2)
    with pytest.raises(ValueError, match="consecutive"):
        BridgedMinutePath([candles[0], candles[2]], seed=1)


@needs_shared_data
def test_bridge_of_the_real_binance_month_passes_through_its_closes() -> None:
    candles = read_binance_1m_csv(BINANCE_1M)[:600]
    path = BridgedMinutePath(candles, seed=1)
    assert all(path.price_at(c.open_ms + 60_000) == c.close for c in candles)
    assert 1e-5 < rms(log_returns(path, path.start_ms, 3_600)) < 3e-4


def test_shifted_path_replays_history_at_a_new_time() -> None:
    history = model(1)
    now = 1_900_000_000_000
    replay = replay_from(history, now)
    assert replay.start_ms == now
    assert replay.end_ms - replay.start_ms == history.end_ms - history.start_ms
    assert replay.price_at(now + 1_234_500) == history.price_at(T0 + 1_234_500)
    with pytest.raises(ValueError, match="whole seconds"):
        ShiftedPath(history, 1_500)


def test_chainlink_replay_holds_the_last_report_through_gaps() -> None:
    path = ChainlinkReplayPath([(T0, Decimal(100)), (T0 + 5_000, Decimal(101))])
    assert [path.price_at(T0 + s * 1000) for s in (0, 4, 5)] == [Decimal(100), Decimal(100), Decimal(101)]
    assert path.end_ms == T0 + 6_000


@needs_shared_data
def test_chainlink_replay_reads_the_full_accuracy_values_of_the_real_day() -> None:
    path = ChainlinkReplayPath.from_csv(CHAINLINK_DAY)
    assert path.start_ms == 1_780_876_800_000
    assert path.price_at(path.start_ms) == from_e18("63304200301195075000000")
    assert path.price_at(path.start_ms + 1_000) == from_e18("63304461207965530000000")


def test_chainlink_feed_reports_the_path_at_each_whole_second() -> None:
    path = model(1)
    feed = ChainlinkFeed(path)
    tick = feed.tick_at(T0 + 10_700)
    assert (tick.source, tick.source_ts_ms, tick.price) == (
        PriceSource.CHAINLINK,
        T0 + 10_000,
        path.price_at(T0 + 10_000),
    )
    assert feed.ticks(T0 + 500, T0 + 3_000) == [(T0 + s * 1000, path.price_at(T0 + s * 1000)) for s in (1, 2)]


def test_chainlink_lag_delays_reports_without_changing_them() -> None:
    path = model(1)
    lagged = ChainlinkFeed(path, lag_ms=1_500)
    assert lagged.spot_at(T0 + 11_400) == path.price_at(T0 + 9_000)
    assert lagged.ticks(T0, T0 + 5_000) == ChainlinkFeed(path).ticks(T0, T0 + 5_000)


def test_chainlink_noise_is_off_by_default_and_tiny_and_seeded_when_on() -> None:
    path = model(1)
    at = T0 + 42_000
    noisy = ChainlinkFeed(path, noise_bps=0.5, seed=3)
    assert ChainlinkFeed(path).report(at) == path.price_at(at)
    assert noisy.report(at) == ChainlinkFeed(path, noise_bps=0.5, seed=3).report(at)
    assert noisy.report(at) != path.price_at(at)
    assert abs(noisy.report(at) / path.price_at(at) - 1) < Decimal("0.0003")


def test_chainlink_twap_is_the_mean_of_the_last_60_reports() -> None:
    feed = ChainlinkFeed(model(1))
    end = T0 + 600_000
    reports = [feed.report(end - s * 1000) for s in range(1, 61)]
    assert feed.twap_at(end) == (sum(reports, Decimal(0)) / 60).quantize(Decimal("1e-18"))
    assert feed.twap_at(end) == twap(feed.ticks(end - 60_000, end), end)
    assert feed.twap_at(T0 + 59_000) is None


def test_twap_tick_stamped_at_a_second_averages_the_minute_before_it() -> None:
    feed = ChainlinkFeed(model(1))
    tick = feed.twap_tick_at(T0 + 120_400)
    assert tick is not None
    assert (tick.source, tick.source_ts_ms, tick.price) == (
        PriceSource.CHAINLINK_TWAP_60S,
        T0 + 120_000,
        feed.twap_at(T0 + 120_000),
    )


def test_binance_diverges_from_chainlink_a_little_but_not_zero() -> None:
    path = model(1)
    binance, chainlink = BinanceFeed(path, seed=4), ChainlinkFeed(path)
    gaps_bps = [
        float(binance.price_at(t) / chainlink.spot_at(t) - 1) * 1e4 for t in range(T0, T0 + 3_600_000, 7_000)
    ]
    assert max(map(abs, gaps_bps)) < 15
    assert rms(gaps_bps) > 0.5
    assert binance.tick_at(T0 + 1_000).price == BinanceFeed(path, seed=4).tick_at(T0 + 1_000).price
    assert binance.price_at(T0 + 1_000) == binance.price_at(T0 + 1_000).quantize(Decimal("0.01"))
