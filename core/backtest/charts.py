"""The backtest report's figures, drawn from an `Analysis` (matplotlib, Agg backend) and returned as PNG.

Every figure keeps its labels apart: long variant names go into legends outside the plot or are wrapped,
each variant keeps its colour from figure to figure, and each strategy its own.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from core.backtest.analysis import Analysis, VariantResult, blocked_spans, markers
from core.clock import ms_to_datetime

DPI = 100
HEADER_IN = 0.9
"""Height of the per-strategy figure's title and legend above its panels, in inches."""
MAX_PANELS = 12
"""Variants drawn one panel each in the per-strategy figure; beyond it, the best and the worst."""
STRATEGY_COLOURS = {"fair_value": "tab:blue", "momentum": "tab:orange", "mean_reversion": "tab:green"}
OTHER_STRATEGY_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
BLOCKED_COLOURS = {"cooldown": "#f4a261", "daily_loss": "#e63946"}
BLOCKED_OTHER = "#9d4edd"
TRIP_COLOUR = "#b00020"

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8, "axes.grid": True})
plt.rcParams.update({"grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})


def render(analysis: Analysis, round_ms: int) -> dict[str, bytes]:
    """Every figure of the report as PNG bytes, by file name."""
    return {
        "equity.png": png(equity_by_variant(analysis, round_ms)),
        "equity_per_strategy.png": png(equity_by_strategy(analysis, round_ms)),
        "drawdown.png": png(drawdown(analysis, round_ms)),
        "per_strategy.png": png(strategy_totals(analysis)),
        "pnl_histogram.png": png(pnl_histogram(analysis)),
        "calibration.png": png(calibration(analysis)),
    }


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def variant_label(variant: VariantResult, width: int = 40) -> str:
    """`v0 fair_value.margin=0.02, momentum.min_move_z=1.5`, wrapped between parameters, never inside one."""
    text = f"{variant.tag} {variant.name.replace(',', ', ')}"
    return textwrap.fill(
        text, width, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )


def variant_colour(index: int, count: int) -> str:
    palette = "tab10" if count <= 10 else "tab20"
    colour = plt.get_cmap(palette)(index % (10 if count <= 10 else 20))
    return str(matplotlib.colors.to_hex(colour))


def strategy_colour(strategy: str, strategies: Sequence[str]) -> str:
    if strategy in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[strategy]
    others = [s for s in strategies if s not in STRATEGY_COLOURS]
    return OTHER_STRATEGY_COLOURS[others.index(strategy) % len(OTHER_STRATEGY_COLOURS)]


def blocked_colour(reason: str) -> str:
    return BLOCKED_COLOURS.get(reason, BLOCKED_OTHER)


def equity_by_variant(analysis: Analysis, round_ms: int) -> Figure:
    """Cumulative P&L per variant; squares on the curve mark rounds the account kept from trading
    (cooldown, a tripped kill switch), triangles the rounds that recorded a trip."""
    figure, axes = plt.subplots(figsize=(11, 4.8))
    count = len(analysis.variants)
    for index, variant in enumerate(analysis.variants):
        if not variant.rounds:
            continue
        colour = variant_colour(index, count)
        axes.plot(
            *_curve(variant, variant.equity, round_ms),
            color=colour,
            linewidth=1.4,
            label=f"{variant_label(variant)}  ({_usd(variant.pnl)})",
        )
        _mark(axes, variant, round_ms)
    axes.axhline(0, color="grey", linewidth=0.6)
    axes.set_title("Equity per variant: cumulative P&L net of fees")
    axes.set_ylabel("pUSD")
    _time_axis(axes)
    handles, _ = axes.get_legend_handles_labels()
    axes.legend(
        handles=handles + _marker_handles(analysis),
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
    )
    return figure


def equity_by_strategy(analysis: Analysis, round_ms: int) -> Figure:
    """One panel per variant: its total and each strategy's cumulative P&L, blocked stretches shaded and
    trips marked; panels share both axes so variants compare at a glance."""
    shown = _panels(analysis.variants)
    columns = 1 if len(shown) <= 2 else 2
    rows = math.ceil(len(shown) / columns) or 1
    figure, grid = plt.subplots(
        rows, columns, figsize=(12, HEADER_IN + 3.0 * rows), sharex=True, sharey=True, squeeze=False
    )
    for axes, variant in zip(grid.flat, shown, strict=False):
        for start, end, reason in blocked_spans(variant, round_ms):
            axes.axvspan(_num(start), _num(end), color=blocked_colour(reason), alpha=0.25, linewidth=0)
        for name, result in variant.strategies.items():
            axes.plot(
                *_curve(variant, result.equity, round_ms),
                color=strategy_colour(name, analysis.strategies),
                linewidth=1.2,
            )
        axes.plot(*_curve(variant, variant.equity, round_ms), color="black", linewidth=1.8)
        _mark(axes, variant, round_ms, blocked=False)
        axes.axhline(0, color="grey", linewidth=0.6)
        parts = [f"total {_usd(variant.pnl)}"] + [
            f"{name} {_usd(result.pnl)}" for name, result in variant.strategies.items()
        ]
        axes.set_title(
            f"{variant_label(variant, 90)}\n{',  '.join(parts)}",
            fontsize=8.5,
            loc="left",
        )
        _time_axis(axes)
    for axes in list(grid.flat)[len(shown) :]:
        axes.set_visible(False)
    for axes in grid[:, 0]:
        axes.set_ylabel("pUSD")
    handles: list[Line2D | Patch] = [Line2D([], [], color="black", linewidth=1.8, label="total")]
    handles += [
        Line2D([], [], color=strategy_colour(name, analysis.strategies), label=name)
        for name in analysis.strategies
    ]
    reasons = sorted({m.reason for m in analysis.markers if m.kind == "blocked"})
    handles += [Patch(color=blocked_colour(r), alpha=0.35, label=f"blocked: {r}") for r in reasons]
    if any(m.kind == "trip" for m in analysis.markers):
        handles.append(_trip_handle(analysis))
    title = "Equity per strategy, per variant (cumulative P&L net of fees)"
    if len(shown) < len(analysis.variants):
        title += f": the {len(shown)} best and worst of {len(analysis.variants)} variants"
    height = HEADER_IN + 3.0 * rows
    figure.suptitle(title, x=0.01, y=1 - 0.08 / height, ha="left", va="top", fontsize=11)
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.005, 1 - 0.38 / height),
        ncols=min(len(handles), 7),
        frameon=False,
        fontsize=8,
    )
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.75 / height))
    return figure


def drawdown(analysis: Analysis, round_ms: int) -> Figure:
    """How far each variant's equity is below its best so far, round by round."""
    figure, axes = plt.subplots(figsize=(11, 3.8))
    count = len(analysis.variants)
    for index, variant in enumerate(analysis.variants):
        if not variant.rounds:
            continue
        axes.plot(
            *_curve(variant, variant.drawdown, round_ms),
            color=variant_colour(index, count),
            linewidth=1.2,
            label=f"{variant_label(variant)}  (max {_usd(-variant.max_drawdown)})",
        )
    axes.axhline(0, color="grey", linewidth=0.6)
    axes.set_title("Drawdown: equity below its running peak")
    axes.set_ylabel("pUSD")
    _time_axis(axes)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure


def strategy_totals(analysis: Analysis) -> Figure:
    """P&L per strategy within each variant, as horizontal bars with their values; a diamond is the total."""
    variants = analysis.variants
    strategies = analysis.strategies or ("(none)",)
    height = 0.8 / len(strategies)
    figure, axes = plt.subplots(
        figsize=(11, 1.2 + 0.32 * len(variants) * len(strategies) + 0.3 * len(variants))
    )
    for s_index, name in enumerate(strategies):
        ys = [v_index + s_index * height - 0.4 + height / 2 for v_index in range(len(variants))]
        values = [float(v.strategies[name].pnl) if name in v.strategies else 0.0 for v in variants]
        bars = axes.barh(ys, values, height=height * 0.9, color=strategy_colour(name, strategies), label=name)
        axes.bar_label(bars, labels=[f"{x:+.2f}" for x in values], padding=3, fontsize=7.5)
    axes.scatter(
        [float(v.pnl) for v in variants],
        range(len(variants)),
        marker="D",
        color="black",
        zorder=3,
        label="variant total",
    )
    axes.set_yticks(range(len(variants)), [variant_label(v, 34) for v in variants], fontsize=8)
    axes.invert_yaxis()
    axes.axvline(0, color="grey", linewidth=0.6)
    axes.margins(x=0.15)
    axes.set_xlabel("P&L net of fees (pUSD)")
    axes.set_title("P&L per strategy within each variant")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure


def pnl_histogram(analysis: Analysis) -> Figure:
    """How the P&L of the rounds each variant traded in is spread."""
    figure, axes = plt.subplots(figsize=(11, 4))
    traded = {v.tag: [float(r.pnl) for r in v.rounds if r.fills] for v in analysis.variants}
    values = [x for xs in traded.values() for x in xs]
    if not values:
        axes.text(0.5, 0.5, "no round was traded", ha="center", va="center", transform=axes.transAxes)
        axes.set_title("P&L per traded round")
        return figure
    edges = [
        float(x) for x in np.histogram_bin_edges(values, bins=min(40, max(5, int(math.sqrt(len(values))))))
    ]
    count = len(analysis.variants)
    for index, variant in enumerate(analysis.variants):
        if traded[variant.tag]:
            axes.hist(
                traded[variant.tag],
                bins=edges,
                histtype="step",
                linewidth=1.6,
                color=variant_colour(index, count),
                label=f"{variant_label(variant)}  ({len(traded[variant.tag])} rounds)",
            )
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_title("P&L per traded round (net of fees)")
    axes.set_xlabel("pUSD")
    axes.set_ylabel("rounds")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure


def calibration(analysis: Analysis) -> Figure:
    """Reliability of the fair value at activation: observed frequency of Up per bin with its Wilson 95 %
    interval and count, over a bar chart of how many rounds each bin holds."""
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.5, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    bins = analysis.calibration
    if bins:
        xs = [b.mean_predicted for b in bins]
        ys = [b.observed for b in bins]
        errors = [
            [y - b.interval[0] for y, b in zip(ys, bins, strict=True)],
            [b.interval[1] - y for y, b in zip(ys, bins, strict=True)],
        ]
        top.errorbar(xs, ys, yerr=errors, fmt="o", color="tab:blue", capsize=3, label="observed, Wilson 95 %")
        for x, y, b in zip(xs, ys, bins, strict=True):
            top.annotate(f"n={b.count}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize=7.5)
        width = (bins[0].high - bins[0].low) * 0.9
        bottom.bar(
            [(b.low + b.high) / 2 for b in bins], [b.count for b in bins], width=width, color="tab:blue"
        )
        for b in bins:
            bottom.annotate(
                str(b.count), ((b.low + b.high) / 2, b.count), ha="center", va="bottom", fontsize=7.5
            )
    brier = "-" if analysis.brier is None else f"{analysis.brier:.4f}"
    top.set_title(
        f"Calibration of the fair value at activation\n{analysis.calibrated_rounds} rounds, Brier {brier}"
    )
    top.set_ylabel("observed frequency of Up")
    top.set(xlim=(0, 1), ylim=(-0.02, 1.02))
    top.legend(loc="upper left")
    bottom.set_xlabel("predicted P(Up) at activation")
    bottom.set_ylabel("rounds")
    bottom.margins(y=0.25)
    figure.tight_layout()
    return figure


def _panels(variants: Sequence[VariantResult]) -> list[VariantResult]:
    variants = [v for v in variants if v.rounds]
    if len(variants) <= MAX_PANELS:
        return variants
    ranked = sorted(variants, key=lambda v: v.pnl, reverse=True)
    keep = {v.tag for v in ranked[: MAX_PANELS // 2] + ranked[-MAX_PANELS // 2 :]}
    return [v for v in variants if v.tag in keep]


def _curve(
    variant: VariantResult, series: Sequence[Decimal], round_ms: int
) -> tuple[list[float], list[float]]:
    """(x, y) from the first round's open at 0 to each round's close: a value is known once a round settles."""
    first = variant.rounds[0].open_ms
    xs = [_num(first)] + [_num(r.open_ms + round_ms) for r in variant.rounds]
    return xs, [0.0] + [float(v) for v in series]


def _mark(axes: Axes, variant: VariantResult, round_ms: int, *, blocked: bool = True) -> None:
    by_slug = {r.slug: r for r in variant.rounds}
    chosen = [m for m in markers(variant) if blocked or m.kind == "trip"]
    for kind, reason in sorted({(m.kind, m.reason) for m in chosen}):
        points = [m for m in chosen if (m.kind, m.reason) == (kind, reason)]
        xs = [_num(by_slug[m.slug].open_ms + round_ms) for m in points]
        ys = [float(m.equity) for m in points]
        if kind == "trip":
            axes.scatter(xs, ys, marker="v", s=70, color=TRIP_COLOUR, edgecolors="black", zorder=4)
        else:
            axes.scatter(xs, ys, marker="s", s=14, color=blocked_colour(reason), zorder=3)


def _marker_handles(analysis: Analysis) -> list[Line2D]:
    handles = [
        Line2D(
            [], [], marker="s", linestyle="", color=blocked_colour(reason), label=f"round blocked: {reason}"
        )
        for reason in sorted({m.reason for m in analysis.markers if m.kind == "blocked"})
    ]
    if any(m.kind == "trip" for m in analysis.markers):
        handles.append(_trip_handle(analysis))
    return handles


def _trip_handle(analysis: Analysis) -> Line2D:
    reasons = sorted({m.reason for m in analysis.markers if m.kind == "trip"})
    return Line2D(
        [],
        [],
        marker="v",
        linestyle="",
        markersize=8,
        color=TRIP_COLOUR,
        markeredgecolor="black",
        label=f"trip: {', '.join(reasons)}",
    )


def _time_axis(axes: Axes) -> None:
    locator = mdates.AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _num(ts_ms: int) -> float:
    return float(mdates.date2num(ms_to_datetime(ts_ms)))  # type: ignore[no-untyped-call]


def _usd(value: Decimal) -> str:
    return f"{value:+,.2f}"
