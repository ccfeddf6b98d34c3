"""Events per second through the whole engine (features, all strategies, policy, risk guard, paper
executor, records) on the 30 days of ../shared/data/binance_btcusdt_1m_30d, bridged to 1 s and turned into
rounds by the project's generator; and the process's peak memory as the rounds go by (it must stay flat).

    .venv/bin/python -m bench.engine [--days 30] [--seed 1]

Only the engine's own time is counted: each round's events are generated before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from sqlmodel import SQLModel

from core.config import RiskLimitsSettings
from core.engine.assembly import EngineRecipe, build_engine
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round, generated_market, generated_winner
from core.sim.prices import BridgedMinutePath
from core.store.models import table_of

DATA = Path(
    os.environ.get("BTC_AGENT_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
CSV = DATA / "binance_btcusdt_1m_30d" / "binance_1m.csv"


class CountingSink:
    """Counts records per table and keeps none: the engine's cost without the database's."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def put(self, row: SQLModel, *, sync: bool = False) -> None:
        self.counts[table_of(row)] += 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=30.0, help="how many days of rounds (default: all 30)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not CSV.exists():
        sys.exit(f"{CSV} is absent: set BTC_AGENT_SHARED_DATA to the folder holding binance_btcusdt_1m_30d/")
    path = BridgedMinutePath.from_csv(CSV, seed=args.seed)
    start = path.start_ms + 3_600_000
    end = min(path.end_ms - 900_000, start + int(args.days * 86_400_000))
    rounds = list(RoundSchedule().rounds_between(start, end))
    recipe = EngineRecipe(limits=RiskLimits.from_settings(RiskLimitsSettings()))
    sink = CountingSink()
    events = engine_s = 0.0
    checkpoints = {len(rounds) * k // 4 for k in (1, 2, 3, 4)}
    print(f"{len(rounds)} rounds of 15 minutes from {CSV.name}; each run wakes at T-240 s")
    print(f"{'rounds':>8}{'events':>12}{'events/s':>12}{'peak RSS MB':>13}")
    for index, round_ in enumerate(rounds, start=1):
        stream = list(generate_round(path, round_, seed=args.seed))
        engine = build_engine(round_, generated_market(round_, path), recipe, run_id="bench", sink=sink)
        began = time.perf_counter()
        engine.run(stream)
        engine.finish(round_.close_ms)
        engine.settle(generated_winner(round_, path), path.price_at(round_.close_ms), round_.close_ms)
        engine_s += time.perf_counter() - began
        events += len(stream)
        if index in checkpoints:
            print(f"{index:>8}{int(events):>12,}{events / engine_s:>12,.0f}{peak_rss_mb():>13.1f}")
    print(f"records: {dict(sink.counts)}")
    print(f"throughput {events / engine_s:,.0f} events/s on one core (target >= 200,000)")


if __name__ == "__main__":
    main()
