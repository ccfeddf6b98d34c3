"""Our settlement against the venue's official outcomes, on every real data day that has resolved markets.

    .venv/bin/python -m bench.settlement [--data DIR]

Each folder of DIR laid out like ../shared/data is read when it holds one of:
- `BTCUSD-prices-<date>.csv.gz` and `BTC-*-markets-<date>.jsonl.gz` (chainlink_btc_1s_2026-06-08): the
  Chainlink Data Streams reports (a same-second correction replaces the earlier report) and that day's
  markets with the venue's outcome; one day per date.
- `polymarket_btc_15m.csv` and `chainlink_updates_btc.csv` (shineo_btc_week_2026-02): fifteen-minute rounds
  with their outcome, and the on-chain Chainlink rounds as the reports. Those are sparse (and from another
  week), so our rule decides few or none of these rounds: it must say so, not guess.

Every round is settled by core.market.settlement.settle_round from the reports alone, strike included, and
compared with the official outcome: agreed, disagreed, or unsettled (our rule cannot decide it; a live round
would wait for the venue's outcome). Rounds the venue has not resolved are counted apart. The undecidable
rounds are listed with the reason, runs of consecutive rounds with the same reason on one line. The exit
status is 1 when any round disagrees.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from core.events import Outcome
from core.market.settlement import (
    MAX_REPORT_AGE_MS,
    RoundSettlement,
    SettlementSource,
    Tick,
    settle_round,
    source_for,
)
from core.money import from_e18

ROUND_15M_S = 900
OFFICIAL = {("1", "0"): Outcome.UP, ("0", "1"): Outcome.DOWN}


@dataclass(frozen=True, slots=True)
class Market:
    """One of the venue's rounds, its official winner (None while unresolved, or split) and its strike when
    the data set records one."""

    slug: str
    open_ms: int
    close_ms: int
    source: SettlementSource
    winner: Outcome | None
    strike: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Day:
    """The reports we hold and the venue's markets of one data set (a day, or a week)."""

    name: str
    ticks: list[Tick]
    markets: list[Market]


@dataclass(frozen=True, slots=True)
class Scored:
    market: Market
    ours: RoundSettlement

    @property
    def verdict(self) -> str:
        """`unresolved` (no official outcome), `unsettled` (ours undecidable), `agreed` or `disagreed`."""
        if self.market.winner is None:
            return "unresolved"
        if self.ours.winner is None:
            return "unsettled"
        return "agreed" if self.ours.winner is self.market.winner else "disagreed"


@dataclass(frozen=True, slots=True)
class DayScore:
    name: str
    rounds: list[Scored]

    def count(self, verdict: str) -> int:
        return sum(scored.verdict == verdict for scored in self.rounds)

    def having(self, verdict: str) -> list[Scored]:
        return [scored for scored in self.rounds if scored.verdict == verdict]


# Loading.


def read_chainlink_ticks(path: Path) -> list[Tick]:
    """Reports sorted by feed time; of two reports stamped the same second, the one received last wins."""
    latest: dict[int, tuple[int, str]] = {}
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            stamped, received = int(row["feed_ts_ms"]), int(row["recv_ms"])
            if stamped not in latest or received > latest[stamped][0]:
                latest[stamped] = (received, row["full_accuracy_value"])
    return [(stamped, from_e18(value)) for stamped, (_, value) in sorted(latest.items())]


def read_venue_markets(path: Path) -> list[Market]:
    """The day's markets; one straddling UTC midnight is in both days' files, so one row per slug."""
    by_slug: dict[str, Market] = {}
    with gzip.open(path, "rt") as handle:
        for line in handle:
            row = json.loads(line)
            open_s, strike = int(row["start_sec"]), row.get("strike_value")
            by_slug[row["slug"]] = Market(
                slug=row["slug"],
                open_ms=open_s * 1000,
                close_ms=int(row["end_sec"]) * 1000,
                source=source_for(
                    (row.get("raw") or {}).get("resolutionSource"), datetime.fromtimestamp(open_s, UTC)
                ),
                winner=OFFICIAL.get(tuple(row["outcome_prices"] or ())) if row["resolved"] else None,
                strike=from_e18(strike) if strike else None,
            )
    return sorted(by_slug.values(), key=lambda market: market.open_ms)


def chainlink_days(folder: Path) -> Iterator[Day]:
    """One day per `BTCUSD-prices-<date>.csv.gz` that has a markets file of the same date."""
    for prices in sorted(folder.glob("BTCUSD-prices-*.csv.gz")):
        date = prices.name.removeprefix("BTCUSD-prices-").removesuffix(".csv.gz")
        found = sorted(folder.glob(f"BTC-*-markets-{date}.jsonl.gz"))
        name = folder.name if date in folder.name else f"{folder.name}/{date}"
        for markets in found:
            series = markets.name.removesuffix(f"-markets-{date}.jsonl.gz")
            yield Day(
                f"{name} {series}" if len(found) > 1 else name,
                read_chainlink_ticks(prices),
                read_venue_markets(markets),
            )


def read_shineo_week(folder: Path) -> Day:
    """Fifteen-minute rounds (`yes_price` 1.0 or 0.0 once resolved) and on-chain Chainlink rounds."""
    with (folder / "chainlink_updates_btc.csv").open(newline="") as handle:
        latest = {
            int(row["updated_at_s"]) * 1000: Decimal(row["price_usd"]) for row in csv.DictReader(handle)
        }
    markets: list[Market] = []
    with (folder / "polymarket_btc_15m.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            opened = datetime.fromisoformat(row["timestamp"])
            yes = Decimal(row["yes_price"])
            open_ms = int(opened.timestamp()) * 1000
            markets.append(
                Market(
                    slug=row["slug"],
                    open_ms=open_ms,
                    close_ms=open_ms + ROUND_15M_S * 1000,
                    source=source_for(None, opened),
                    winner=Outcome.UP if yes == 1 else Outcome.DOWN if yes == 0 else None,
                )
            )
    return Day(folder.name, sorted(latest.items()), markets)


def find_days(data: Path) -> list[Day]:
    """Every data set under `data` that has the venue's markets with their outcomes."""
    days: list[Day] = []
    for folder in sorted(path for path in data.iterdir() if path.is_dir()):
        days.extend(chainlink_days(folder))
        if (folder / "polymarket_btc_15m.csv").exists() and (folder / "chainlink_updates_btc.csv").exists():
            days.append(read_shineo_week(folder))
    return days


# Scoring.


def score_day(day: Day, max_age_ms: int = MAX_REPORT_AGE_MS) -> DayScore:
    return DayScore(
        day.name,
        [
            Scored(
                market,
                settle_round(
                    day.ticks, market.open_ms, market.close_ms, market.source, max_age_ms=max_age_ms
                ),
            )
            for market in day.markets
        ],
    )


def gap_summary(ticks: Sequence[Tick], max_age_ms: int) -> str:
    """How far apart consecutive reports are: what the maximum report age is chosen from."""
    gaps = sorted(later - earlier for (earlier, _), (later, _) in pairwise(ticks))
    if not gaps:
        return f"{len(ticks)} reports"
    buckets = (
        ("<= 1 s", sum(gap <= 1000 for gap in gaps)),
        ("2-4 s", sum(1000 < gap <= 4000 for gap in gaps)),
        (f"5-{max_age_ms / 1000:g} s", sum(4000 < gap <= max_age_ms for gap in gaps)),
    )
    longer = [gap for gap in gaps if gap > max_age_ms]
    shown = ", ".join(f"{gap / 1000:g}" for gap in longer[:8]) + (", ..." if len(longer) > 8 else "")
    counted = ", ".join(f"{label}: {count:,}" for label, count in buckets)
    return (
        f"{len(ticks):,} reports, {_when(ticks[0][0])} to {_when(ticks[-1][0])} UTC; gaps {counted}, "
        f"longer: {len(longer):,}" + (f" ({shown} s)" if longer else "")
    )


def _reason_key(scored: Scored) -> tuple[str | None, str | None]:
    strike, final = scored.ours.strike.uncovered, scored.ours.final.uncovered
    return (strike.value if strike else None, final.value if final else None)


def undecidable_runs(score: DayScore) -> list[list[Scored]]:
    """Undecidable rounds (resolved by the venue or not), consecutive ones with the same reasons together."""
    runs: list[list[Scored]] = []
    for scored in score.rounds:
        if scored.ours.winner is not None:
            continue
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and last.market.close_ms == scored.market.open_ms
            and _reason_key(last) == _reason_key(scored)
        ):
            runs[-1].append(scored)
        else:
            runs.append([scored])
    return runs


def _official(scored: Scored) -> str:
    return f"venue {scored.market.winner.value}" if scored.market.winner else "venue unresolved"


def _when(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"


def report(days: Sequence[Day], scores: Sequence[DayScore], max_age_ms: int) -> None:
    print(
        f"Our settlement (core.market.settlement, reports at most {max_age_ms / 1000:g} s old, "
        "a report past each boundary) against the venue's official outcomes\n"
    )
    for day in days:
        print(f"{day.name}: {gap_summary(day.ticks, max_age_ms)}")
    print()
    width = max((len(score.name) for score in scores), default=10)
    header = ("markets", "resolved", "agreed", "disagreed", "unsettled", "agreement")
    print(f"{'day':<{width}}" + "".join(f"{name:>11}" for name in header))
    for score in scores:
        agreed, disagreed = score.count("agreed"), score.count("disagreed")
        decided = agreed + disagreed
        share = f"{agreed / decided:.1%}" if decided else "-"
        resolved = len(score.rounds) - score.count("unresolved")
        cells = (len(score.rounds), resolved, agreed, disagreed, score.count("unsettled"))
        print(f"{score.name:<{width}}" + "".join(f"{cell:>11}" for cell in cells) + f"{share:>11}")
    print(
        "\nunsettled: resolved by the venue, undecidable by our rule (a live round waits for the venue's "
        "outcome); agreement over the rounds our rule decides"
    )
    for score in scores:
        for scored in score.having("disagreed"):
            assert scored.ours.winner is not None
            assert scored.market.winner is not None
            print(
                f"DISAGREED {score.name} {scored.market.slug}: ours {scored.ours.winner.value}, "
                f"venue {scored.market.winner.value}"
            )
    for score in scores:
        runs = undecidable_runs(score)
        print(f"\nundecidable rounds of {score.name}: {sum(len(run) for run in runs)}")
        for run in runs:
            first, last = run[0], run[-1]
            why = first.ours.undecidable
            if len(run) == 1:
                print(f"  {first.market.slug} ({_when(first.market.open_ms)} UTC, {_official(first)}): {why}")
                continue
            resolved = sum(scored.market.winner is not None for scored in run)
            print(
                f"  {first.market.slug} .. {last.market.slug} ({len(run)} consecutive rounds, "
                f"{_when(first.market.open_ms)} to {_when(last.market.close_ms)} UTC, {resolved} resolved "
                f"by the venue): {why} (first round; the others alike)"
            )


def shared_data() -> Path:
    """../shared/data beside the checkout, or BTC_AGENT_SHARED_DATA (as tests/support/shared_data.py)."""
    return Path(
        os.environ.get("BTC_AGENT_SHARED_DATA")
        or Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.settlement",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=shared_data(),
        help="a folder laid out like the shared data (%(default)s)",
    )
    parser.add_argument(
        "--max-age-s",
        type=float,
        default=MAX_REPORT_AGE_MS / 1000,
        help="the oldest report in effect that decides a boundary (%(default)g s, the project's rule)",
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found; point --data or BTC_AGENT_SHARED_DATA at the shared data")
    days = find_days(args.data)
    if not days:
        parser.error(f"{args.data} holds no data set with the venue's resolved markets")
    max_age_ms = round(args.max_age_s * 1000)
    scores = [score_day(day, max_age_ms) for day in days]
    report(days, scores, max_age_ms)
    return 1 if any(score.count("disagreed") for score in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
