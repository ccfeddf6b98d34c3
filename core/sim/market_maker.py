"""The simulated market: a market maker quoting Up/Down around the fair probability, and other takers.

The model only decides; the matching engine (the venue) applies its quotes and executes its takers, so our
orders share the book and the queue with it. Each step draws from random streams addressed by (seed, time),
so the market's own randomness does not depend on what we did; its quotes still react to the book.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.events import Outcome, Side
from core.money import ONE, ZERO
from core.sim.book import MARKET_MAKER, PairBook, flip, to_canonical
from core.sim.prices import hashed_normal

Ladder = dict[tuple[Side, Decimal], Decimal]
"""The market maker's target total size per canonical (side, Up price) level."""


@dataclass(frozen=True, slots=True)
class MarketMakerConfig:
    """Shape of the simulated market; sizes are shares, probabilities per step unless named per second."""

    spread_ticks: int = 2
    levels: int = 5
    min_level_size: int = 20
    max_level_size: int = 300
    fair_noise: float = 0.005
    resize_probability: float = 0.2
    takers_per_second: float = 0.3
    min_taker_size: int = 5
    max_taker_size: int = 150
    taker_sweep_ticks: int = 0
    pickoff_edge_ticks: int = 3
    pickoff_probability: float = 0.5

    def __post_init__(self) -> None:
        if self.spread_ticks < 1 or self.levels < 1:
            raise ValueError("spread_ticks and levels must be at least 1")
        if not 0 < self.min_level_size <= self.max_level_size:
            raise ValueError("level sizes must satisfy 0 < min <= max")
        if not 0 < self.min_taker_size <= self.max_taker_size:
            raise ValueError("taker sizes must satisfy 0 < min <= max")


@dataclass(frozen=True, slots=True)
class TakerIntent:
    """Another participant's marketable order, in the prices of the token it trades (fill and kill)."""

    outcome: Outcome
    side: Side
    size: Decimal
    limit_price: Decimal


def _shares(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


class MarketMaker:
    """Quotes the canonical (Up) book; the Down book is its mirror, so both are always complementary."""

    def __init__(self, config: MarketMakerConfig | None = None, *, seed: int) -> None:
        self.config = config or MarketMakerConfig()
        self._seed = seed

    def noisy_fair(self, now_ms: int, fair_up: float) -> float:
        """The fair value the market maker believes at this instant: the model's plus seeded noise."""
        noise = self.config.fair_noise * hashed_normal(self._seed, "fair", now_ms)
        return min(0.99, max(0.01, fair_up + noise))

    def quote(self, now_ms: int, fair_up: float, book: PairBook) -> Ladder:
        """Target levels around the noisy fair; standing levels keep their size unless redrawn."""
        cfg, tick = self.config, book.tick_size
        rng = random.Random(f"{self._seed}:quote:{now_ms}")
        top = int(ONE / tick)
        best_bid = round(self.noisy_fair(now_ms, fair_up) / float(tick)) - cfg.spread_ticks // 2
        ladder: Ladder = {}
        for side, first, step in ((Side.BUY, best_bid, -1), (Side.SELL, best_bid + cfg.spread_ticks, 1)):
            for i in range(cfg.levels):
                keep = rng.random() >= cfg.resize_probability
                fresh = _shares(rng, cfg.min_level_size, cfg.max_level_size)
                ticks = first + step * i
                if not 1 <= ticks < top:
                    continue
                price = tick * ticks
                standing = book.owner_total(MARKET_MAKER, side, price)
                ladder[(side, price)] = standing if keep and standing else fresh
        return ladder

    def takers(self, now_ms: int, fair_up: float, book: PairBook, elapsed_ms: int) -> list[TakerIntent]:
        """Random takers arriving over the last `elapsed_ms`, then any picking off mispriced levels."""
        cfg = self.config
        rng = random.Random(f"{self._seed}:takers:{now_ms}")
        intents: list[TakerIntent] = []
        for _ in range(_poisson(rng, cfg.takers_per_second * max(elapsed_ms, 0) / 1000)):
            outcome = rng.choice((Outcome.UP, Outcome.DOWN))
            side = rng.choice((Side.BUY, Side.SELL))
            size = _shares(rng, cfg.min_taker_size, cfg.max_taker_size)
            intent = self._noise_taker(book, outcome, side, size)
            if intent is not None:
                intents.append(intent)
        pick_off = rng.random() < cfg.pickoff_probability
        if pick_off:
            intents.extend(self._pick_offs(book, self.noisy_fair(now_ms, fair_up)))
        return intents

    def _noise_taker(self, book: PairBook, outcome: Outcome, side: Side, size: Decimal) -> TakerIntent | None:
        canonical_side, _ = to_canonical(outcome, side, ZERO)
        best = book.best(flip(canonical_side))
        if best is None:
            return None
        sweep = book.tick_size * self.config.taker_sweep_ticks
        limit = best + sweep if canonical_side is Side.BUY else best - sweep
        limit = min(max(limit, book.tick_size), ONE - book.tick_size)
        _, token_limit = to_canonical(outcome, canonical_side, limit)
        return TakerIntent(outcome, side, size, token_limit)

    def _pick_offs(self, book: PairBook, fair: float) -> list[TakerIntent]:
        """Informed takers: any bid above fair + edge or ask below fair - edge is hit in full."""
        tick = book.tick_size
        edge = float(tick) * self.config.pickoff_edge_ticks
        intents = []
        above = (Decimal(fair + edge) / tick).to_integral_value(ROUND_FLOOR) * tick + tick
        rich_bids = sum((book.total(Side.BUY, p) for p in book.prices(Side.BUY) if p >= above), ZERO)
        if rich_bids and above < ONE:
            intents.append(TakerIntent(Outcome.UP, Side.SELL, rich_bids, above))
        below = (Decimal(fair - edge) / tick).to_integral_value(ROUND_CEILING) * tick - tick
        cheap_asks = sum((book.total(Side.SELL, p) for p in book.prices(Side.SELL) if p <= below), ZERO)
        if cheap_asks and below > ZERO:
            intents.append(TakerIntent(Outcome.UP, Side.BUY, cheap_asks, below))
        return intents
