"""The numbers a backtest report shows, from the runner's per-round results alone: equity per variant and
per strategy, drawdown, the rounds the risk side stopped or tripped in, and calibration with intervals.

Pure arithmetic on `RoundResult`s (money stays Decimal); the charts and pages only draw and print these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.backtest.runner import RoundResult

ZERO = Decimal(0)
WILSON_Z = 1.959963984540054
"""The normal quantile of a two-sided 95 % interval."""


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """One strategy inside one variant: the rounds it filled in, how many it won, its P&L and drawdown."""

    strategy: str
    traded: int
    wins: int
    pnl: Decimal
    max_drawdown: Decimal
    equity: tuple[Decimal, ...]
    """Its cumulative P&L after each round of the variant (flat where it did not trade)."""


@dataclass(frozen=True, slots=True)
class Marker:
    """A round the risk side shaped: `blocked` (the account refused every order: `cooldown`, or the kill
    switch's trip such as `daily_loss`) or `trip` (the round recorded a trip, e.g. the settlement that
    started a cooldown)."""

    tag: str
    slug: str
    open_ms: int
    kind: str
    reason: str
    equity: Decimal
    """The variant's equity after the round: where the marker sits on the curve."""


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant over the whole run; series are per round, in time order."""

    tag: str
    name: str
    rounds: tuple[RoundResult, ...]
    strategies: Mapping[str, StrategyResult]
    equity: tuple[Decimal, ...]
    drawdown: tuple[Decimal, ...]
    """Equity less its running peak (the start, 0, counts as a peak): 0 or negative."""

    @property
    def pnl(self) -> Decimal:
        return self.equity[-1] if self.equity else ZERO

    @property
    def fees(self) -> Decimal:
        return sum((r.fees for r in self.rounds), ZERO)

    @property
    def traded(self) -> int:
        return sum(1 for r in self.rounds if r.fills)

    @property
    def wins(self) -> int:
        return sum(1 for r in self.rounds if r.fills and r.pnl > 0)

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.traded if self.traded else None

    @property
    def max_drawdown(self) -> Decimal:
        return -min(self.drawdown, default=ZERO)

    @property
    def blocked(self) -> Counter[str]:
        """Rounds the account kept from trading, by why."""
        return Counter(r.blocked for r in self.rounds if r.blocked)

    @property
    def trips(self) -> Counter[str]:
        return Counter(trip for r in self.rounds for trip in r.trips)

    @property
    def refusals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.rounds:
            total.update(r.refusals)
        return total

    @property
    def dropped(self) -> Counter[str]:
        """Proposals the decision policy did not act on, by its reason."""
        total: Counter[str] = Counter()
        for r in self.rounds:
            total.update({reason: n for reason, n in r.policy.items() if reason != "accepted"})
        return total

    @property
    def outcomes(self) -> Counter[str]:
        """Rounds by what happened in them (`ROUND_OUTCOMES`)."""
        return Counter(round_outcome(r) for r in self.rounds)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """Rounds whose predicted P(Up) fell in [low, high): how many, the mean prediction, how often Up won,
    and the Wilson 95 % interval of that frequency."""

    low: float
    high: float
    count: int
    ups: int
    mean_predicted: float
    observed: float
    interval: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Analysis:
    variants: tuple[VariantResult, ...]
    strategies: tuple[str, ...]
    markers: tuple[Marker, ...]
    calibration: tuple[CalibrationBin, ...]
    brier: float | None
    calibrated_rounds: int

    def best(self) -> VariantResult | None:
        return max(self.variants, key=lambda v: v.pnl, default=None)


def analyse(
    results: Sequence[RoundResult],
    variants: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    *,
    bins: int = 10,
) -> Analysis:
    """Everything the report shows. `variants` gives the order, so variant i is tagged `v<i>` (the grid's
    order, as the store's run ids); by default the order in which the results first name them."""
    order = list(variants) if variants is not None else list(dict.fromkeys(r.variant for r in results))
    stray = sorted({r.variant for r in results} - set(order))
    if stray:
        raise ValueError(f"results of variants {stray} that are not among {order}")
    traded_names = {name for r in results for name in r.per_strategy}
    names = list(strategies) if strategies is not None else []
    names += sorted(traded_names - set(names))
    analysed = tuple(
        _variant(f"v{index}", name, [r for r in results if r.variant == name], names)
        for index, name in enumerate(order)
    )
    bins_ = calibration(results, bins)
    scored = _scored(results)
    return Analysis(
        variants=analysed,
        strategies=tuple(names),
        markers=tuple(marker for variant in analysed for marker in markers(variant)),
        calibration=tuple(bins_),
        brier=math.fsum((p - up) ** 2 for p, up in scored) / len(scored) if scored else None,
        calibrated_rounds=len(scored),
    )


def _variant(tag: str, name: str, rows: list[RoundResult], strategies: Sequence[str]) -> VariantResult:
    rows.sort(key=lambda r: r.open_ms)
    total = equity_of([r.pnl for r in rows])
    per_strategy: dict[str, StrategyResult] = {}
    for strategy in strategies:
        pnls = [r.per_strategy.get(strategy, ZERO) for r in rows]
        series = equity_of(pnls)
        per_strategy[strategy] = StrategyResult(
            strategy=strategy,
            traded=sum(1 for r in rows if strategy in r.per_strategy),
            wins=sum(1 for p in pnls if p > 0),
            pnl=series[-1] if series else ZERO,
            max_drawdown=-min(drawdown_of(series), default=ZERO),
            equity=series,
        )
    return VariantResult(
        tag=tag,
        name=name,
        rounds=tuple(rows),
        strategies=per_strategy,
        equity=total,
        drawdown=drawdown_of(total),
    )


ROUND_OUTCOMES = ("traded", "blocked", "unfilled", "refused by risk", "dropped by policy", "no proposal")
"""What happened in a round, first match wins: it filled; the account refused everything (cooldown, kill
switch); orders went out but none filled; the risk guard refused every order; the decision policy acted on
no proposal (conflicts, confidence, rate limit); no strategy proposed anything."""


def round_outcome(row: RoundResult) -> str:
    if row.blocked:
        return "blocked"
    if row.fills:
        return "traded"
    if row.orders:
        return "unfilled"
    if sum(row.refusals.values()):
        return "refused by risk"
    if row.decisions:
        return "dropped by policy"
    return "no proposal"


def equity_of(pnls: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """Cumulative P&L after each round."""
    out, total = [], ZERO
    for pnl in pnls:
        total += pnl
        out.append(total)
    return tuple(out)


def drawdown_of(equity: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """How far below its highest point so far (the start at 0 included) the equity is after each round."""
    out, peak = [], ZERO
    for value in equity:
        peak = max(peak, value)
        out.append(value - peak)
    return tuple(out)


def markers(variant: VariantResult) -> list[Marker]:
    """One marker per blocked round and one per trip, at the variant's equity after that round."""
    found = []
    for row, equity in zip(variant.rounds, variant.equity, strict=True):
        if row.blocked:
            found.append(Marker(variant.tag, row.slug, row.open_ms, "blocked", row.blocked, equity))
        found.extend(
            Marker(variant.tag, row.slug, row.open_ms, "trip", trip, equity)
            for trip in dict.fromkeys(row.trips)
        )
    return found


def blocked_spans(variant: VariantResult, round_ms: int) -> list[tuple[int, int, str]]:
    """Consecutive rounds blocked for the same reason, as (start ms, end ms, reason): the shaded stretches."""
    spans: list[tuple[int, int, str]] = []
    for row in variant.rounds:
        if not row.blocked:
            continue
        if spans and spans[-1][2] == row.blocked and spans[-1][1] >= row.open_ms:
            spans[-1] = (spans[-1][0], row.open_ms + round_ms, row.blocked)
        else:
            spans.append((row.open_ms, row.open_ms + round_ms, row.blocked))
    return spans


def wilson_interval(successes: int, count: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a binomial frequency: sensible at 0 %, 100 % and small counts."""
    if count <= 0:
        raise ValueError("no observations")
    p = successes / count
    denominator = 1 + z * z / count
    centre = (p + z * z / (2 * count)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count))
    return max(0.0, centre - half), min(1.0, centre + half)


def _scored(results: Sequence[RoundResult]) -> list[tuple[float, float]]:
    """(predicted P(Up), 1 if Up won) once per round: the fair value at activation does not depend on the
    variant's parameters, so counting it per variant would only repeat the same rounds."""
    seen: dict[str, tuple[float, float]] = {}
    for r in results:
        if r.p_up_at_activation is not None and r.winner and r.slug not in seen:
            seen[r.slug] = (r.p_up_at_activation, 1.0 if r.winner == "up" else 0.0)
    return list(seen.values())


def calibration(results: Sequence[RoundResult], bins: int = 10) -> list[CalibrationBin]:
    """The reliability table of the fair value at activation, one entry per non-empty bin."""
    grouped: list[list[tuple[float, float]]] = [[] for _ in range(bins)]
    for p, up in _scored(results):
        grouped[min(bins - 1, max(0, int(p * bins)))].append((p, up))
    out = []
    for index, group in enumerate(grouped):
        if not group:
            continue
        ups = int(sum(up for _, up in group))
        out.append(
            CalibrationBin(
                low=index / bins,
                high=(index + 1) / bins,
                count=len(group),
                ups=ups,
                mean_predicted=math.fsum(p for p, _ in group) / len(group),
                observed=ups / len(group),
                interval=wilson_interval(ups, len(group)),
            )
        )
    return out
