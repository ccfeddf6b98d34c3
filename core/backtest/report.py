"""The backtest report: an equity curve, P&L per strategy and a calibration diagram as PNG, and one
self-contained HTML page (images inlined) that can be mailed or archived as it is."""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from core.backtest.runner import RoundResult, VariantSummary
from core.clock import ms_to_datetime


def write_report(
    results: Sequence[RoundResult], summaries: Sequence[VariantSummary], folder: Path, *, title: str
) -> Path:
    """PNG plots and `index.html` in `folder`; returns the HTML page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    images = {
        "equity.png": _equity(results),
        "per_strategy.png": _per_strategy(results),
        "calibration.png": _calibration(results),
    }
    for name, figure in images.items():
        figure.savefig(folder / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
    page = folder / "index.html"
    page.write_text(_html(summaries, folder, list(images), title))
    return page


def _equity(results: Sequence[RoundResult]) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 4))
    by_variant: dict[str, list[RoundResult]] = defaultdict(list)
    for result in results:
        by_variant[result.variant].append(result)
    for variant, rows in sorted(by_variant.items()):
        rows.sort(key=lambda r: r.open_ms)
        equity, total = [], Decimal(0)
        for row in rows:
            total += row.pnl
            equity.append(float(total))
        times = [ms_to_datetime(r.open_ms) for r in rows]
        axes.plot(times, equity, label=variant[:60])  # type: ignore[arg-type]
    axes.set_title("Equity curve (cumulative P&L net of fees, pUSD)")
    axes.axhline(0, color="grey", linewidth=0.5)
    if len(by_variant) <= 8:
        axes.legend(fontsize=7)
    figure.autofmt_xdate()
    return figure


def _per_strategy(results: Sequence[RoundResult]) -> Figure:
    totals: dict[str, float] = defaultdict(float)
    for result in results:
        for strategy, pnl in result.per_strategy.items():
            totals[f"{strategy}\n{result.variant[:30]}"] += float(pnl)
    figure, axes = plt.subplots(figsize=(9, 4))
    names = sorted(totals)
    axes.bar(
        range(len(names)),
        [totals[n] for n in names],
        color=["tab:green" if totals[n] >= 0 else "tab:red" for n in names],
    )
    axes.set_xticks(range(len(names)), names, fontsize=7)
    axes.set_title("P&L per strategy (pUSD)")
    axes.axhline(0, color="grey", linewidth=0.5)
    return figure


def _calibration(results: Sequence[RoundResult]) -> Figure:
    scored = [
        (r.p_up_at_activation, 1.0 if r.winner == "up" else 0.0)
        for r in results
        if r.p_up_at_activation is not None and r.winner
    ]
    bins: list[list[tuple[float, float]]] = [[] for _ in range(10)]
    for p, outcome in scored:
        bins[min(9, int(p * 10))].append((p, outcome))
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect")
    points = [(sum(p for p, _ in b) / len(b), sum(o for _, o in b) / len(b), len(b)) for b in bins if b]
    if points:
        axes.scatter(
            [x for x, _, _ in points],
            [y for _, y, _ in points],
            s=[20 + n for _, _, n in points],
            label="fair value at activation",
        )
    axes.set_xlabel("predicted P(Up)")
    axes.set_ylabel("observed frequency of Up")
    axes.set_title("Calibration")
    axes.legend(fontsize=7)
    return figure


def _html(summaries: Sequence[VariantSummary], folder: Path, images: list[str], title: str) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(s.variant)}</td><td>{s.rounds}</td><td>{s.traded}</td><td>{s.pnl}</td><td>{s.fees}</td>"
        f"<td>{'' if s.win_rate is None else f'{s.win_rate:.1%}'}</td><td>{'' if s.brier is None else f'{s.brier:.4f}'}</td></tr>"
        for s in summaries
    )
    figures = "\n".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode((folder / name).read_bytes()).decode()}"></figure>'
        for name in images
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<table><tr><th>variant</th><th>rounds</th><th>traded</th><th>P&amp;L</th><th>fees</th><th>win rate</th><th>Brier at activation</th></tr>
{rows}
</table>
{figures}
</body></html>
"""
