"""Calibration of the fair-value probability on real BTC data: Brier scores and reliability tables.

    .venv/bin/python -m bench.calibration [--data DIR] [--bins 10] [--intervals 1,10,30] [--half-life-s 300]

Forecasts P(Up) with core.engine.probability at T-180 s, T-120 s and T-60 s, on:
- binance_btcusdt_1m_30d: every complete round aligned to :00/:15/:30/:45 (the data starts at 20:07, so
  2,879); the strike is the round's first 1m open, the outcome close >= open, the price at T-h a minute
  close, sigma the trailing hour of 1m returns (core.sim.fair_value.VolatilityEstimator): DATA.md's baseline.
- shineo_btc_week_2026-02: the recorded 15-minute rounds and their official outcomes, priced from that
  week's Binance 1m candles (so the strike is Binance's open, not Chainlink's).
- chainlink_btc_1s_2026-06-08: the day's 96 fifteen-minute windows replayed report by report (observed at
  recv_ms) through FeatureState, priced by the fair_value strategy's probability. Spot rounds use the
  official strike; TWAP rounds settle on core.market.settlement.twap and FeatureState finds the strike itself.
  Each window starts 300 s before its open with the previous window's volatility as its prior.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.engine.features import FeatureState
from core.engine.pricing import fair_up_probability
from core.engine.probability import DEFAULT_SIGMA, spot_up_probability
from core.events import PriceSource, PriceTick, Timer
from core.market.rounds import Round
from core.market.settlement import SettlementSource, Tick, price_in_effect, twap
from core.money import from_e18
from core.sim.fair_value import VolatilityEstimator

HORIZONS_S = (180, 120, 60)
BASELINE_BRIER = {180: 0.085, 60: 0.045}
ROUND_S = 900
MINUTE_MS = 60_000
WARM_UP_S = 300


@dataclass
class Forecasts:
    """(probability of Up, whether Up won) per horizon."""

    title: str
    pairs: dict[int, list[tuple[float, bool]]] = field(default_factory=lambda: {h: [] for h in HORIZONS_S})
    rounds: int = 0

    def add(self, horizon_s: int, probability: float, up_won: bool) -> None:
        self.pairs[horizon_s].append((probability, up_won))


def brier(pairs: Sequence[tuple[float, bool]]) -> float:
    return math.fsum((p - won) ** 2 for p, won in pairs) / len(pairs)


def accuracy(pairs: Sequence[tuple[float, bool]]) -> float:
    return sum((p >= 0.5) == won for p, won in pairs) / len(pairs)


def reliability(
    pairs: Sequence[tuple[float, bool]], bins: int
) -> list[tuple[float, float, int, float, float]]:
    """(low, high, count, mean predicted, observed frequency) per probability bin."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, won in pairs:
        grouped[min(int(p * bins), bins - 1)].append((p, won))
    return [
        (i / bins, (i + 1) / bins, len(g), math.fsum(p for p, _ in g) / len(g), sum(w for _, w in g) / len(g))
        for i, g in enumerate(grouped)
        if g
    ]


def report(forecasts: Forecasts, bins: int, *, tables: bool = True) -> None:
    print(f"\n{forecasts.title}: {forecasts.rounds} rounds")
    print(f"  {'horizon':<10}{'Brier':>8}{'baseline':>10}{'accuracy':>10}{'n':>7}")
    for horizon in HORIZONS_S:
        pairs = forecasts.pairs[horizon]
        if not pairs:
            continue
        baseline = f"{BASELINE_BRIER[horizon]:.3f}" if horizon in BASELINE_BRIER else "-"
        print(
            f"  T-{horizon:<3} s   {brier(pairs):>8.4f}{baseline:>10}{accuracy(pairs):>9.1%}{len(pairs):>7}"
        )
    if not tables:
        return
    for horizon in HORIZONS_S:
        print(f"  reliability at T-{horizon} s: {'bin':<11}{'n':>6}{'mean p':>9}{'observed':>10}")
        for low, high, count, mean_p, observed in reliability(forecasts.pairs[horizon], bins):
            print(f"  {'':<24}{low:.1f}-{high:.1f}    {count:>6}{mean_p:>9.3f}{observed:>10.3f}")


# 1-minute candles.


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    open: float
    close: float


def minute_forecasts(
    title: str,
    candles: list[Candle],
    outcomes: dict[int, bool] | None = None,
    *,
    volatility_scale: float = 1.0,
) -> Forecasts:
    """Rounds aligned to the quarter hour; with `outcomes` (by open ms) only those, with those results."""
    forecasts = Forecasts(title)
    needed: dict[int, list[tuple[int, int]]] = {}
    for i, candle in enumerate(candles):
        if candle.open_ms % (ROUND_S * 1000) or i + 14 >= len(candles):
            continue
        if candles[i + 14].open_ms - candle.open_ms != 14 * MINUTE_MS:
            continue
        if outcomes is not None and candle.open_ms not in outcomes:
            continue
        forecasts.rounds += 1
        for horizon in HORIZONS_S:
            needed.setdefault(i + 14 - horizon // 60, []).append((i, horizon))
    estimator = VolatilityEstimator(window_s=3600)
    for j, candle in enumerate(candles):
        estimator.update(candle.open_ms + MINUTE_MS, candle.close)
        for i, horizon in needed.get(j, ()):
            strike = candles[i].open
            won = candles[i + 14].close >= strike if outcomes is None else outcomes[candles[i].open_ms]
            sigma = estimator.sigma * volatility_scale
            forecasts.add(horizon, spot_up_probability(candle.close, strike, sigma, horizon), won)
    return forecasts


def read_binance_30d(folder: Path) -> list[Candle]:
    with (folder / "binance_1m.csv").open(newline="") as handle:
        return [
            Candle(int(row["timestamp"]), float(row["open"]), float(row["close"]))
            for row in csv.DictReader(handle)
        ]


def _utc_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def read_shineo(folder: Path) -> tuple[list[Candle], dict[int, bool]]:
    with (folder / "binance_btc.csv").open(newline="") as handle:
        candles = [
            Candle(_utc_ms(row["open_time"]), float(row["open"]), float(row["close"]))
            for row in csv.DictReader(handle)
        ]
    with (folder / "polymarket_btc_15m.csv").open(newline="") as handle:
        outcomes = {
            _utc_ms(row["timestamp"]): float(row["yes_price"]) >= 0.5
            for row in csv.DictReader(handle)
            if row["yes_price"] in {"0.0", "1.0", "0", "1"}
        }
    return candles, outcomes


# Chainlink reports, replayed through FeatureState.


@dataclass(frozen=True, slots=True)
class Report:
    recv_ms: int
    feed_ts_ms: int
    price: Decimal


def read_chainlink_day(folder: Path) -> tuple[list[Report], list[Tick], dict[int, Decimal]]:
    """Reports in arrival order, the settlement ticks (a same-second correction replaces the earlier one),
    and the official strikes by window open (s)."""
    prices = next(folder.glob("BTCUSD-prices-*.csv.gz"))
    with gzip.open(prices, "rt", newline="") as handle:
        reports = [
            Report(int(row["recv_ms"]), int(row["feed_ts_ms"]), from_e18(row["full_accuracy_value"]))
            for row in csv.DictReader(handle)
        ]
    reports.sort(key=lambda r: (r.recv_ms, r.feed_ts_ms))
    latest: dict[int, Decimal] = {}
    for r in reports:
        latest[r.feed_ts_ms] = r.price
    ticks = sorted(latest.items())
    strikes: dict[int, Decimal] = {}
    with gzip.open(next(folder.glob("BTC-5m-markets-*.jsonl.gz")), "rt") as handle:
        for line in handle:
            market = json.loads(line)
            if market.get("strike_value"):
                strikes[int(market["start_sec"])] = from_e18(market["strike_value"])
    return reports, ticks, strikes


def chainlink_forecasts(
    title: str,
    day: tuple[list[Report], list[Tick], dict[int, Decimal]],
    source: SettlementSource,
    *,
    interval_s: int,
    half_life_s: float,
) -> Forecasts:
    reports, ticks, strikes = day
    forecasts = Forecasts(title)
    arrivals = [r.recv_ms for r in reports]
    first_s = -(-(ticks[0][0] // 1000 + WARM_UP_S) // ROUND_S) * ROUND_S
    prior = DEFAULT_SIGMA
    for open_s in range(first_s, ticks[-1][0] // 1000 - ROUND_S + 1, ROUND_S):
        round_ = Round(open_s)
        if source is SettlementSource.CHAINLINK_TWAP_60S:
            strike, settled = twap(ticks, round_.open_ms), twap(ticks, round_.close_ms)
        else:
            strike = strikes.get(open_s) or price_in_effect(ticks, round_.open_ms)
            settled = price_in_effect(ticks, round_.close_ms)
        if strike is None or settled is None:
            continue
        given = strike if source is SettlementSource.CHAINLINK_SPOT else None
        state = FeatureState(
            round_,
            "up",
            "down",
            source,
            strike=given,
            volatility_prior=prior,
            volatility_interval_s=interval_s,
            volatility_half_life_s=half_life_s,
        )
        pending = [round_.close_ms - h * 1000 for h in HORIZONS_S]
        start = bisect_left(arrivals, round_.open_ms - WARM_UP_S * 1000)
        stop = bisect_left(arrivals, round_.close_ms)
        for r in (*reports[start:stop], None):
            while pending and (r is None or r.recv_ms >= pending[0]):
                at_ms = pending.pop(0)
                state.apply(Timer(ts_ms=at_ms, name="evaluate"))
                probability = fair_up_probability(state)
                if probability is not None:
                    forecasts.add(round_.close_s - at_ms // 1000, probability, settled >= strike)
            if r is not None:
                state.apply(
                    PriceTick(
                        ts_ms=r.recv_ms,
                        source=PriceSource.CHAINLINK,
                        price=r.price,
                        source_ts_ms=r.feed_ts_ms,
                    )
                )
        forecasts.rounds += 1
        prior = state.volatility
    return forecasts


def scale_table(
    title: str, candles: list[Candle], outcomes: dict[int, bool] | None, scales: list[float]
) -> None:
    """Brier by a multiplier on sigma: below 1 means the plain model is underconfident."""
    print(f"  Brier with sigma x scale ({title}):")
    print(f"  {'scale':<10}" + "".join(f"{f'T-{h} s':>10}" for h in HORIZONS_S))
    for scale in scales:
        forecasts = minute_forecasts(title, candles, outcomes, volatility_scale=scale)
        print(f"  {scale:<10g}" + "".join(f"{brier(forecasts.pairs[h]):>10.4f}" for h in HORIZONS_S))


def shared_data() -> Path:
    return Path(
        os.environ.get("BTC_AGENT_SHARED_DATA")
        or Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=shared_data(), help="the shared data folder (%(default)s)"
    )
    parser.add_argument("--bins", type=int, default=10, help="reliability bins (%(default)s)")
    parser.add_argument(
        "--intervals",
        default="1,10,30",
        help="FeatureState volatility return intervals to compare on the Chainlink day (%(default)s)",
    )
    parser.add_argument("--half-life-s", type=float, default=300.0, help="FeatureState volatility half-life")
    parser.add_argument(
        "--scales", default="1,0.9,0.8,0.7", help="sigma multipliers to compare on the 1m data (%(default)s)"
    )
    args = parser.parse_args()
    intervals = [int(part) for part in args.intervals.split(",")]
    scales = [float(part) for part in args.scales.split(",")]
    started = time.perf_counter()

    folder = args.data / "binance_btcusdt_1m_30d"
    if not folder.exists():
        parser.error(f"{folder} not found; point --data or BTC_AGENT_SHARED_DATA at the shared data")
    print(f"reading {folder} ...", flush=True)
    candles = read_binance_30d(folder)
    report(
        minute_forecasts("binance_btcusdt_1m_30d, sigma = trailing hour of 1m returns", candles), args.bins
    )
    scale_table("binance_btcusdt_1m_30d", candles, None, scales)

    folder = args.data / "shineo_btc_week_2026-02"
    if (folder / "polymarket_btc_15m.csv").exists():
        print(f"\nreading {folder} ...", flush=True)
        candles, outcomes = read_shineo(folder)
        title = "shineo_btc_week_2026-02, official outcomes, Binance 1m prices and strike"
        report(minute_forecasts(title, candles, outcomes), args.bins)
        scale_table("shineo", candles, outcomes, scales)

    folder = args.data / "chainlink_btc_1s_2026-06-08"
    if folder.exists():
        print(f"\nreading {folder} ...", flush=True)
        day = read_chainlink_day(folder)
        for source in SettlementSource:
            for interval in intervals:
                title = (
                    f"chainlink_btc_1s_2026-06-08 through FeatureState, {source}, "
                    f"volatility from {interval} s returns, half-life {args.half_life_s:.0f} s"
                )
                print(f"\nreplaying {len(day[0]):,} reports, {source}, {interval} s returns ...", flush=True)
                forecasts = chainlink_forecasts(
                    title, day, source, interval_s=interval, half_life_s=args.half_life_s
                )
                tables = interval == intervals[-1] and source is SettlementSource.CHAINLINK_SPOT
                report(forecasts, args.bins, tables=tables)
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
