"""Running the engine on generated rounds: the shared harness of engine tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from core.config import RiskLimitsSettings
from core.engine.assembly import EngineRecipe, build_engine
from core.engine.engine import RecordSink, RoundEngine
from core.events import Event
from core.execution.base import Executor
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round, generated_market, generated_winner
from core.sim.prices import ModelPath, PricePath

START_MS = 1_790_000_100_000 - 1_790_000_100_000 % 900_000


def model_path(seed: int = 3, hours: int = 30) -> PricePath:
    return ModelPath(
        start_price=Decimal(95_000), start_ms=START_MS, duration_s=hours * 3600, seed=seed, annual_vol=0.6
    )


def rounds(count: int, *, skip: int = 1) -> list[Round]:
    schedule = RoundSchedule()
    first = schedule.round_at_ms(START_MS).next()
    for _ in range(skip - 1):
        first = first.next()
    out = [first]
    while len(out) < count:
        out.append(out[-1].next())
    return out


market_of = generated_market
winner = generated_winner


def recipe(**overrides: object) -> EngineRecipe:
    limits = RiskLimits.from_settings(RiskLimitsSettings())
    return EngineRecipe(limits=limits, **overrides)  # type: ignore[arg-type]


def run_round(
    round_: Round,
    path: PricePath,
    sink: RecordSink,
    *,
    seed: int = 1,
    run_id: str = "test",
    recipe_: EngineRecipe | None = None,
    executor: Executor | None = None,
    events: Iterator[Event] | None = None,
    late_start: bool = False,
) -> RoundEngine:
    """Trade one generated round through to its settlement."""
    market = market_of(round_, path)
    engine = build_engine(
        round_,
        market,
        recipe_ or recipe(),
        run_id=run_id,
        sink=sink,
        executor=executor,
        late_start=late_start,
    )
    engine.run(events if events is not None else generate_round(path, round_, seed=seed))
    engine.finish(round_.close_ms)
    engine.settle(winner(round_, path), path.price_at(round_.close_ms), round_.close_ms)
    return engine
