"""Putting a round engine together from its parts, the same way live, on paper and in backtests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.engine.engine import EngineConfig, RecordSink, RoundEngine, RoundMarket
from core.engine.features import FeatureState
from core.engine.policy import DecisionPolicy, PolicyConfig
from core.engine.probability import DEFAULT_SIGMA
from core.engine.tape import TapeMeta
from core.events import Outcome
from core.execution.base import Executor
from core.execution.paper import PaperExecutor
from core.ids import IdFactory
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.market.venue_rules import VenueMinimums
from core.risk.guard import RiskGuard
from core.risk.limits import RiskLimits
from core.risk.rules.stale_feed import FEEDS as STALE_TRIP_FEEDS
from core.risk.state import AccountState
from core.strategies import build_strategies

DEFAULT_STRATEGIES = ("fair_value", "momentum", "mean_reversion")


@dataclass(frozen=True, slots=True)
class EngineRecipe:
    """Everything but the round: strategies and their parameters, policy, risk limits, execution."""

    limits: RiskLimits
    strategies: Sequence[str] = DEFAULT_STRATEGIES
    params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    latency_ms: int = 0
    evaluate_every_ms: int = 1_000
    cutoff_s: int = 10
    sample_every_ms: int = 5_000


def build_engine(
    round_: Round,
    market: RoundMarket,
    recipe: EngineRecipe,
    *,
    run_id: str,
    sink: RecordSink,
    account: AccountState | None = None,
    executor: Executor | None = None,
    late_start: bool = False,
    volatility_prior: float | None = None,
    attempt: int = 1,
    trip_feeds: tuple[str, ...] = STALE_TRIP_FEEDS,
) -> RoundEngine:
    """A paper engine unless an executor is given; ids derive from (run, round) so replays match, and
    from the attempt after the first, so a resumed round never reuses an id of the attempt before it.
    `trip_feeds`: the feeds whose staleness trips the kill switch (live adds the user channel, which
    alone reports our fills)."""
    ids = IdFactory(
        f"{run_id}:{round_.slug}" if attempt == 1 else f"{run_id}:{round_.slug}:attempt-{attempt}"
    )
    features = FeatureState(
        round_,
        market.up_token_id,
        market.down_token_id,
        market.settlement_source,
        tick_size=market.tick_size,
        strike=market.strike,
        volatility_prior=volatility_prior if volatility_prior is not None else DEFAULT_SIGMA,
    )
    if executor is None:
        books = {
            market.up_token_id: features.book(Outcome.UP),
            market.down_token_id: features.book(Outcome.DOWN),
        }
        executor = PaperExecutor(
            books,
            market.fee_schedule,
            minimums=VenueMinimums(min_order_size=market.min_order_size),
            latency_ms=recipe.latency_ms,
            id_prefix=f"paper-{round_.open_s}" if attempt == 1 else f"paper-{round_.open_s}-{attempt}",
        )
    return RoundEngine(
        round_=round_,
        market=market,
        features=features,
        strategies=build_strategies(recipe.strategies, recipe.params or None),
        policy=DecisionPolicy(recipe.policy),
        guard=RiskGuard(
            recipe.limits,
            id_factory=ids,
            account=account,
            round_ms=round_.length_s * 1000,
            trip_feeds=trip_feeds,
        ),
        executor=executor,
        sink=sink,
        config=EngineConfig(
            run_id=run_id,
            mode=executor.mode,
            evaluate_every_ms=recipe.evaluate_every_ms,
            cutoff_s=recipe.cutoff_s,
            sample_every_ms=recipe.sample_every_ms,
            late_start=late_start,
        ),
        ids=ids,
    )


def market_of_tape(meta: TapeMeta) -> RoundMarket:
    return RoundMarket(
        slug=meta.slug,
        up_token_id=meta.up_token_id,
        down_token_id=meta.down_token_id,
        tick_size=meta.tick_size,
        min_order_size=meta.min_order_size if meta.min_order_size is not None else Decimal(5),
        fee_schedule=meta.fee_schedule,
        settlement_source=SettlementSource(meta.settlement_source),
        strike=meta.strike,
        condition_id=meta.condition_id,
    )


def tape_meta_of(round_: Round, market: RoundMarket) -> TapeMeta:
    return TapeMeta(
        slug=round_.slug,
        open_ms=round_.open_ms,
        close_ms=round_.close_ms,
        up_token_id=market.up_token_id,
        down_token_id=market.down_token_id,
        tick_size=market.tick_size,
        fee_schedule=market.fee_schedule,
        settlement_source=market.settlement_source.value,
        min_order_size=market.min_order_size,
        strike=market.strike,
        condition_id=market.condition_id,
    )
