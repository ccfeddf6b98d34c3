"""Backtests: past rounds through the very same engine, on paper, as fast as it goes.

Rounds come from recorded tapes, or are built from historical BTC prices by the generator. A parameter grid
is the cartesian product of each strategy parameter's values; every combination (a variant) trades every
round. Results per round feed the summary and the report (core/backtest/report.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from sqlmodel import SQLModel

from core.clock import datetime_to_ms, ms_to_datetime
from core.engine.assembly import EngineRecipe, build_engine, market_of_tape
from core.engine.engine import ListSink, RoundMarket
from core.engine.pricing import fair_up_probability
from core.engine.tape import read_tape
from core.events import Event, MarketResolved, Outcome, PriceSource, PriceTick
from core.market.rounds import Round, RoundSchedule
from core.market.settlement import settle_round
from core.sim.generator import generate_round, generated_market
from core.sim.prices import BridgedMinutePath, PricePath
from core.strategies import STRATEGIES, build_strategies

Source = Literal["generated", "tapes"]
VENUE_SCHEDULE = RoundSchedule()


class BacktestError(ValueError):
    """A backtest that cannot start: said before any work is done."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One combination of the grid: a name and the strategy parameters it sets."""

    name: str
    params: Mapping[str, Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class RoundResult:
    variant: str
    slug: str
    open_ms: int
    winner: str | None
    pnl: Decimal
    fees: Decimal
    orders: int
    fills: int
    per_strategy: Mapping[str, Decimal]
    p_up_at_activation: float | None
    digest: str
    records: Sequence[SQLModel] = field(default_factory=tuple, compare=False)


def expand_grid(
    strategies: Sequence[str], grid: Mapping[str, Mapping[str, Sequence[object]]] | None
) -> list[Variant]:
    """`{"fair_value": {"margin": [0.02, 0.04]}}` -> two variants; unknown names fail here, with the reason."""
    unknown = [name for name in strategies if name not in STRATEGIES]
    if unknown:
        raise BacktestError(f"unknown strategies {unknown}; known: {sorted(STRATEGIES)}")
    grid = grid or {}
    axes: list[tuple[str, str, Sequence[object]]] = []
    for strategy, axis in grid.items():
        if strategy not in strategies:
            raise BacktestError(
                f"the grid names {strategy!r}, which is not among the strategies {list(strategies)}"
            )
        for param, values in axis.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise BacktestError(
                    f"grid {strategy}.{param}: give a non-empty list of values, got {values!r}"
                )
            axes.append((strategy, param, values))
    variants = []
    for combination in itertools.product(*(values for _, _, values in axes)):
        params: dict[str, dict[str, object]] = {}
        for (strategy, param, _), value in zip(axes, combination, strict=True):
            params.setdefault(strategy, {})[param] = value
        try:
            build_strategies(strategies, params)
        except ValueError as exc:
            raise BacktestError(f"bad parameter grid: {exc}") from None
        name = (
            ",".join(f"{s}.{p}={v}" for s, chosen in params.items() for p, v in chosen.items()) or "default"
        )
        variants.append(Variant(name, params))
    return variants


@dataclass(frozen=True, slots=True)
class RoundJob:
    """One round to backtest: from a tape file, or generated from a price file."""

    slug: str
    open_s: int
    tape: str | None = None


def plan_rounds(
    source: Source,
    start: datetime,
    end: datetime,
    *,
    tape_dir: Path | None = None,
    price_file: Path | None = None,
    schedule: RoundSchedule = VENUE_SCHEDULE,
) -> tuple[list[RoundJob], list[str]]:
    """The rounds opening in [start, end), and the slugs whose tapes are missing (they are skipped)."""
    wanted = list(schedule.rounds_between(datetime_to_ms(start), datetime_to_ms(end)))
    if not wanted:
        raise BacktestError(f"no round opens between {start.isoformat()} and {end.isoformat()}")
    if source == "tapes":
        if tape_dir is None or not tape_dir.is_dir():
            raise BacktestError(f"tape folder {tape_dir} does not exist")
        jobs, missing = [], []
        for round_ in wanted:
            path = tape_dir / f"{round_.slug}.parquet"
            if path.exists() or Path(f"{path}.parts").is_dir():
                jobs.append(RoundJob(round_.slug, round_.open_s, str(path)))
            else:
                missing.append(round_.slug)
        if not jobs:
            raise BacktestError(f"no tapes in {tape_dir} for rounds between {start} and {end}")
        return jobs, missing
    if price_file is None or not price_file.exists():
        raise BacktestError(f"price file {price_file} does not exist")
    prices = BridgedMinutePath.from_csv(price_file, seed=0)
    inside = [r for r in wanted if prices.start_ms + 3_600_000 <= r.open_ms and r.close_ms < prices.end_ms]
    if not inside:
        covered = (
            f"{ms_to_datetime(prices.start_ms).isoformat()} to {ms_to_datetime(prices.end_ms).isoformat()}"
        )
        raise BacktestError(f"{price_file.name} covers {covered}; no round of the range has data")
    return [RoundJob(r.slug, r.open_s) for r in inside], []


def run_jobs(
    jobs: Iterable[RoundJob],
    variant: Variant,
    recipe: EngineRecipe,
    *,
    run_id: str,
    price_file: Path | None = None,
    seed: int = 1,
    keep_records: bool = False,
    schedule: RoundSchedule = VENUE_SCHEDULE,
) -> Iterator[RoundResult]:
    """Trade each round of the batch with the variant's parameters, in order; the schedule gives each
    round its activation instant, which must be the live run's for a replay to decide the same."""
    path: PricePath | None = BridgedMinutePath.from_csv(price_file, seed=seed) if price_file else None
    variant_recipe = EngineRecipe(
        limits=recipe.limits,
        strategies=recipe.strategies,
        params=variant.params,
        policy=recipe.policy,
        latency_ms=recipe.latency_ms,
        evaluate_every_ms=recipe.evaluate_every_ms,
        cutoff_s=recipe.cutoff_s,
        sample_every_ms=0,
    )
    for job in jobs:
        round_ = schedule.round_starting(job.open_s)
        if job.tape is not None:
            meta, events = read_tape(job.tape)
            market = market_of_tape(meta)
            yield _trade(
                round_, market, events, variant, variant_recipe, run_id=run_id, keep_records=keep_records
            )
        else:
            assert path is not None
            market = generated_market(round_, path)
            winner = (
                Outcome.UP
                if path.price_at(round_.close_ms) >= path.price_at(round_.open_ms)
                else Outcome.DOWN
            )
            generated = generate_round(path, round_, seed=seed)
            yield _trade(
                round_,
                market,
                generated,
                variant,
                variant_recipe,
                run_id=run_id,
                keep_records=keep_records,
                winner=winner,
            )


def _trade(
    round_: Round,
    market: RoundMarket,
    events: Iterable[Event],
    variant: Variant,
    recipe: EngineRecipe,
    *,
    run_id: str,
    keep_records: bool,
    winner: Outcome | None = None,
) -> RoundResult:
    sink = ListSink()
    engine = build_engine(round_, market, recipe, run_id=run_id, sink=sink)
    chainlink: list[tuple[int, Decimal]] = []
    resolved: Outcome | None = None
    p_up: float | None = None
    for event in events:
        if isinstance(event, PriceTick) and event.source is PriceSource.CHAINLINK:
            chainlink.append((event.source_ts_ms, event.price))
        elif isinstance(event, MarketResolved):
            resolved = event.winning_outcome
        if p_up is None and event.ts_ms >= round_.activation_ms:
            p_up = fair_up_probability(engine.features)
        engine.on_event(event)
    engine.finish(round_.close_ms)
    ours = settle_round(
        sorted(chainlink, key=lambda tick: tick[0]),
        round_.open_ms,
        round_.close_ms,
        market.settlement_source,
        strike=market.strike,
    )
    final = ours.final.price
    winner = winner or resolved or ours.winner
    pnl = fees = Decimal(0)
    per_strategy: dict[str, Decimal] = {}
    if winner is not None:
        settlement = engine.settle(winner, final, round_.close_ms)
        pnl, fees = settlement.pnl, settlement.fees
        per_strategy = {name: Decimal(value) for name, value in settlement.details["per_strategy"].items()}
    return RoundResult(
        variant=variant.name,
        slug=round_.slug,
        open_ms=round_.open_ms,
        winner=winner.value if winner else None,
        pnl=pnl,
        fees=fees,
        orders=engine.stats.orders,
        fills=engine.fill_count,
        per_strategy=per_strategy,
        p_up_at_activation=p_up,
        digest=engine.digest(),
        records=tuple(sink.rows) if keep_records else (),
    )


@dataclass(frozen=True, slots=True)
class VariantSummary:
    variant: str
    rounds: int
    traded: int
    pnl: Decimal
    fees: Decimal
    wins: int
    brier: float | None

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.traded if self.traded else None


def summarize(results: Sequence[RoundResult]) -> list[VariantSummary]:
    by_variant: dict[str, list[RoundResult]] = {}
    for result in results:
        by_variant.setdefault(result.variant, []).append(result)
    summaries = []
    for name, rows in by_variant.items():
        traded = [r for r in rows if r.fills]
        scored = [
            (r.p_up_at_activation, 1.0 if r.winner == "up" else 0.0)
            for r in rows
            if r.p_up_at_activation is not None and r.winner
        ]
        summaries.append(
            VariantSummary(
                variant=name,
                rounds=len(rows),
                traded=len(traded),
                pnl=sum((r.pnl for r in rows), Decimal(0)),
                fees=sum((r.fees for r in rows), Decimal(0)),
                wins=sum(1 for r in traded if r.pnl > 0),
                brier=sum((p - o) ** 2 for p, o in scored) / len(scored) if scored else None,
            )
        )
    return sorted(summaries, key=lambda s: s.pnl, reverse=True)


def parse_grid(text: str | None) -> dict[str, dict[str, list[object]]]:
    """The grid from JSON text (the CLI's and the flow's form), with a clear error for anything else."""
    if not text:
        return {}
    try:
        grid = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BacktestError(f"the parameter grid is not JSON: {exc}") from None
    if not isinstance(grid, dict) or not all(isinstance(v, dict) for v in grid.values()):
        raise BacktestError('the parameter grid must look like {"fair_value": {"margin": [0.02, 0.04]}}')
    return grid
