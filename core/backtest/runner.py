"""Backtests: past rounds through the very same engine, on paper, as fast as it goes.

Rounds come from recorded tapes, or are built from historical BTC prices by the generator. A parameter grid
is the cartesian product of each strategy parameter's values; every combination (a variant) trades every
round. Each variant's account carries from round to round as a live deployment's does (rebuilt from the
settlements before it): a losing streak cools the next rounds down, the day's loss limit stops the rest of
the UTC day. Results per round feed the analysis (core/backtest/analysis.py) and the report (report.py).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from core.risk.state import AccountState
from core.sim.generator import generate_round, generated_market
from core.sim.prices import BridgedMinutePath, PricePath
from core.store.models import DecisionRecord, RiskEventRecord
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
    """One round traded by one variant: its P&L (net of fees, split per strategy), and what the risk side
    did: `policy` counts the strategies' proposals by what the decision policy made of them (`accepted`,
    `conflict`...), `refusals` the risk guard's refusals by reason, `blocked` says why the account kept the
    round from trading (`cooldown`, or the kill switch's trip code such as `daily_loss`), `trips` the
    reason codes of the trips the round recorded."""

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
    decisions: int = 0
    policy: Mapping[str, int] = field(default_factory=dict)
    refusals: Mapping[str, int] = field(default_factory=dict)
    blocked: str | None = None
    trips: tuple[str, ...] = ()
    account_after: AccountState | None = field(default=None, compare=False)
    """The account the next round of the variant starts from (a later batch carries on from it)."""
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
    account: AccountState | None = None,
) -> Iterator[RoundResult]:
    """Trade each round of the batch with the variant's parameters, in order, from `account` (a fresh one
    by default) on; the schedule gives each round its activation instant, which must be the live run's
    for a replay to decide the same."""
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
    standing = account if account is not None else AccountState()
    for job in jobs:
        round_ = schedule.round_starting(job.open_s)
        start = standing.rolled(round_.open_ms)
        if job.tape is not None:
            meta, events = read_tape(job.tape)
            market = market_of_tape(meta)
            result = _trade(
                round_,
                market,
                events,
                variant,
                variant_recipe,
                run_id=run_id,
                keep_records=keep_records,
                account=start,
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
            result = _trade(
                round_,
                market,
                generated,
                variant,
                variant_recipe,
                run_id=run_id,
                keep_records=keep_records,
                account=start,
                winner=winner,
            )
        # What the next round starts from, folded from settlements alone as a live round rebuilds it.
        standing = (
            start.settled(result.pnl, round_.close_ms, recipe.limits, round_ms=round_.length_s * 1000)
            if result.winner is not None
            else start
        )
        yield replace(result, account_after=standing)


def _trade(
    round_: Round,
    market: RoundMarket,
    events: Iterable[Event],
    variant: Variant,
    recipe: EngineRecipe,
    *,
    run_id: str,
    keep_records: bool,
    account: AccountState,
    winner: Outcome | None = None,
) -> RoundResult:
    sink = ListSink()
    engine = build_engine(round_, market, recipe, run_id=run_id, sink=sink, account=account)
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
        decisions=engine.stats.decisions,
        policy=dict(sorted(Counter(row.policy for row in sink.of(DecisionRecord)).items())),
        refusals=dict(sorted(engine.stats.refusals.items())),
        blocked=_blocked(account, round_),
        trips=tuple(row.reason_code for row in sink.of(RiskEventRecord) if row.kind == "trip"),
        records=tuple(sink.rows) if keep_records else (),
    )


def _blocked(account: AccountState, round_: Round) -> str | None:
    """Why the account, as the round starts, refuses every order of its active window (None: it does not)."""
    switch = account.kill_switch
    if switch.engaged:
        return switch.code.value if switch.code else "kill_switch"
    if account.in_cooldown(round_.activation_ms):
        return "cooldown"
    return None


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
