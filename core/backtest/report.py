"""The backtest report: what was run (strategies and their parameters, risk limits, data, seed, span), the
results per variant and per strategy, the figures, calibration with intervals, and every round.

Renderings of one `Report`: a self-contained HTML page (images as data URIs, an inline filter over the
per-round table, nothing fetched from anywhere) with the PNGs and `summary.json` (what the API lists) beside
it, a markdown summary with the figures inline (the Prefect UI renders data:image/png URIs in markdown
artifacts), and table rows per variant and strategy.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from core.backtest import SUMMARY_FILE, charts
from core.backtest.analysis import ROUND_OUTCOMES, Analysis, analyse, round_outcome
from core.backtest.runner import RoundResult, Variant
from core.clock import ms_to_datetime
from core.engine.assembly import EngineRecipe
from core.market.rounds import RoundSchedule
from core.strategies import build_strategies

USD_STEP = Decimal("0.01")

FIGURES: tuple[tuple[str, str, str], ...] = (
    (
        "equity.png",
        "Equity per variant",
        "Cumulative P&L of each variant, net of fees, after each round. Squares mark rounds the account "
        "kept from trading (a cooldown after a losing streak, or the kill switch tripped by the day's loss "
        "limit); triangles mark rounds that recorded a trip. Flat stretches without a mark are rounds in "
        "which nothing traded for another reason: see 'Rounds by what happened' and the per-round table.",
    ),
    (
        "equity_per_strategy.png",
        "Equity per strategy",
        "One panel per variant: the variant's total (black) and each strategy's share. Shaded: rounds the "
        "account was blocked; triangles: trips. Panels share their axes.",
    ),
    ("drawdown.png", "Drawdown", "How far each variant's equity is below its highest point so far."),
    (
        "per_strategy.png",
        "P&L per strategy",
        "Each strategy's P&L within each variant; the diamond is the variant's total.",
    ),
    (
        "pnl_histogram.png",
        "P&L per traded round",
        "The spread of round P&L over the rounds each variant traded in (rounds without a fill left out).",
    ),
    (
        "calibration.png",
        "Calibration",
        "The fair-value probability of Up at the start of the active window against how often Up won, "
        "per probability bin, with Wilson 95 % intervals and counts (each round once: the fair value does "
        "not depend on the variant).",
    ),
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a backtest ran: the settings the report states, so a result can be reproduced."""

    run_id: str
    source: str
    start: datetime
    end: datetime
    data: str
    """The price file generated rounds come from, or the folder of recorded tapes."""
    seed: int | None
    """The generator's seed (None for tapes: a tape is what it is)."""
    recipe: EngineRecipe
    variants: Sequence[Variant]
    schedule: RoundSchedule
    rounds_planned: int
    missing: Sequence[str] = ()
    batch_size: int | None = None

    @property
    def title(self) -> str:
        return (
            f"Backtest {self.source}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC "
            f"({span_text(self.start, self.end)})"
        )

    def tag_of(self, variant: str) -> str:
        """The store's run id of a variant's rows: `<run id>/v<index>`."""
        index = [v.name for v in self.variants].index(variant)
        return f"{self.run_id}/v{index}"


@dataclass(frozen=True, slots=True)
class Report:
    info: RunInfo
    analysis: Analysis
    figures: Mapping[str, bytes]


def build_report(results: Sequence[RoundResult], info: RunInfo) -> Report:
    """Analyse the runner's results and draw the figures."""
    analysis = analyse(results, [v.name for v in info.variants], list(info.recipe.strategies))
    return Report(info, analysis, charts.render(analysis, info.schedule.length_s * 1000))


def write_report(report: Report, folder: Path) -> Path:
    """The PNGs, `summary.json` and `index.html` in `folder`; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in report.figures.items():
        (folder / name).write_bytes(image)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary(report), indent=2) + "\n", encoding="utf-8")
    page = folder / "index.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page


def summary(report: Report) -> dict[str, Any]:
    """What was run and the results per variant as plain JSON, money as exact decimal strings: what the API
    reads to list backtests."""
    info, analysis = report.info, report.analysis
    best = analysis.best()
    return {
        "run_id": info.run_id,
        "title": info.title,
        "source": info.source,
        "start": info.start.isoformat(),
        "end": info.end.isoformat(),
        "data": info.data,
        "seed": info.seed,
        "rounds_planned": info.rounds_planned,
        "rounds_missing": len(info.missing),
        "strategies": list(analysis.strategies),
        "best": best.tag if best is not None else None,
        "brier": analysis.brier,
        "variants": [
            {
                "run_id": info.tag_of(v.name),
                "tag": v.tag,
                "name": v.name,
                "rounds": len(v.rounds),
                "traded": v.traded,
                "wins": v.wins,
                "win_rate": v.win_rate,
                "pnl": str(v.pnl),
                "fees": str(v.fees),
                "max_drawdown": str(v.max_drawdown),
                "per_strategy": {name: str(s.pnl) for name, s in v.strategies.items()},
            }
            for v in analysis.variants
        ],
        "settings": {
            title: dict(entries) for title, entries in settings_sections(info, _rounds_run(analysis))
        },
    }


# --- numbers as text -------------------------------------------------------------------------------


def usd(value: Decimal) -> str:
    """Signed, to the cent: `+12.30`, `-4.00`, and `0.00` for nothing."""
    rounded = value.quantize(USD_STEP, ROUND_HALF_EVEN)
    return f"{rounded:+,}" if rounded else "0.00"


def plain_usd(value: Decimal) -> str:
    return str(value.quantize(USD_STEP, ROUND_HALF_EVEN))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def span_text(start: datetime, end: datetime) -> str:
    hours = (end - start).total_seconds() / 3600
    days, rest = divmod(round(hours), 24)
    if not days:
        return f"{hours:g} h"
    return f"{days} d" + (f" {rest} h" if rest else "")


def counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} x{n}" for reason, n in sorted(counter.items())) or "none"


# --- what was run ------------------------------------------------------------------------------------


def strategy_parameters(info: RunInfo) -> dict[str, dict[str, list[str]]]:
    """Each strategy's parameters and the values the variants give them (one value unless the grid varies
    it), defaults included."""
    found: dict[str, dict[str, list[str]]] = {}
    for variant in info.variants:
        for strategy in build_strategies(info.recipe.strategies, variant.params or None):
            params = getattr(strategy, "params", None)
            if params is None or not dataclasses.is_dataclass(params) or isinstance(params, type):
                found.setdefault(strategy.name, {})
                continue
            for key, value in dataclasses.asdict(params).items():
                values = found.setdefault(strategy.name, {}).setdefault(key, [])
                if str(value) not in values:
                    values.append(str(value))
    return found


def settings_sections(info: RunInfo, rounds_run: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """The run's settings as titled lists of (name, value)."""
    recipe = info.recipe
    run = [
        ("run id", info.run_id),
        ("source", info.source),
        ("data", info.data),
        ("seed", "n/a (recorded tapes)" if info.seed is None else str(info.seed)),
        ("from", f"{info.start:%Y-%m-%d %H:%M} UTC"),
        ("to", f"{info.end:%Y-%m-%d %H:%M} UTC ({span_text(info.start, info.end)})"),
        ("rounds", f"{info.rounds_planned} planned, {rounds_run} run per variant"),
        (
            "rounds without a tape",
            f"{len(info.missing)}" + (f": {', '.join(info.missing[:10])}" if info.missing else ""),
        ),
        ("variants", str(len(info.variants))),
        ("batch size", "-" if info.batch_size is None else f"{info.batch_size} rounds"),
        ("account", "carried from round to round per variant, as a live deployment rebuilds it"),
    ]
    engine = [
        ("round length", f"{info.schedule.length_s} s"),
        (
            "active window",
            f"last {info.schedule.activation_lead_s} s, cutoff {recipe.cutoff_s} s before close",
        ),
        ("evaluate every", f"{recipe.evaluate_every_ms} ms"),
        ("paper latency", f"{recipe.latency_ms} ms"),
        ("policy priority", ", ".join(recipe.policy.priority)),
        ("policy min confidence", f"{recipe.policy.min_confidence:g}"),
        ("policy min interval", f"{recipe.policy.min_interval_ms} ms"),
        ("conflicts stand aside", "yes" if recipe.policy.conflicts_stand_aside else "no"),
    ]
    limits = [(name, str(value)) for name, value in recipe.limits.model_dump().items()]
    strategies = [
        (f"{strategy}.{key}", ", ".join(values) + (" (grid)" if len(values) > 1 else ""))
        for strategy, params in strategy_parameters(info).items()
        for key, values in params.items()
    ]
    variants = [(f"v{index}", variant.name) for index, variant in enumerate(info.variants)]
    return [
        ("Run", run),
        ("Strategies and parameters", strategies),
        ("Variants", variants),
        ("Risk limits", limits),
        ("Engine and decision policy", engine),
    ]


# --- tables --------------------------------------------------------------------------------------------


def results_table(report: Report) -> list[dict[str, Any]]:
    """One row per variant (`strategy` = "all") followed by one per strategy in it: the table artifact."""
    rows: list[dict[str, Any]] = []
    for variant in report.analysis.variants:
        rows.append(
            {
                "run_id": report.info.tag_of(variant.name),
                "variant": f"{variant.tag} {variant.name}",
                "strategy": "all",
                "rounds": len(variant.rounds),
                "traded": variant.traded,
                "wins": variant.wins,
                "win_rate": percent(variant.win_rate),
                "pnl_pusd": plain_usd(variant.pnl),
                "fees_pusd": plain_usd(variant.fees),
                "max_drawdown_pusd": plain_usd(variant.max_drawdown),
                "blocked_rounds": counts(variant.blocked),
                "trips": counts(variant.trips),
                "rounds_by_outcome": counts(variant.outcomes),
            }
        )
        for name, result in variant.strategies.items():
            rows.append(
                {
                    "run_id": report.info.tag_of(variant.name),
                    "variant": f"{variant.tag} {variant.name}",
                    "strategy": name,
                    "rounds": len(variant.rounds),
                    "traded": result.traded,
                    "wins": result.wins,
                    "win_rate": percent(result.wins / result.traded if result.traded else None),
                    "pnl_pusd": plain_usd(result.pnl),
                    "fees_pusd": None,
                    "max_drawdown_pusd": plain_usd(result.max_drawdown),
                    "blocked_rounds": None,
                    "trips": None,
                    "rounds_by_outcome": None,
                }
            )
    return rows


def headline(report: Report) -> str:
    analysis = report.analysis
    best = analysis.best()
    if best is None:
        return "No variant ran."
    blocked = Counter[str]()
    trips = Counter[str]()
    for variant in analysis.variants:
        blocked.update(variant.blocked)
        trips.update(variant.trips)
    return (
        f"Best: {best.tag} {best.name}, {usd(best.pnl)} pUSD over {len(best.rounds)} rounds "
        f"({best.traded} traded, win rate {percent(best.win_rate)}, max drawdown {plain_usd(best.max_drawdown)} "
        f"pUSD). Across variants, rounds blocked: {counts(blocked)}; trips: {counts(trips)}."
    )


def short_summary(report: Report) -> str:
    """The key numbers first, for the one line an artifact card shows."""
    info, best = report.info, report.analysis.best()
    run = (
        f"{len(info.variants)} variant(s) x {info.rounds_planned} rounds, {info.source}, "
        f"{info.start:%Y-%m-%d %H:%M} UTC + {span_text(info.start, info.end)}"
    )
    if best is None:
        return f"no results; {run}"
    return f"best {best.tag} {best.name}: {usd(best.pnl)} pUSD, max drawdown {plain_usd(best.max_drawdown)}; {run}"


def variants_line(report: Report) -> str:
    """P&L per variant in one line: `v0 +131.67, v1 +21.22`."""
    return ", ".join(f"{v.tag} {usd(v.pnl)}" for v in report.analysis.variants)


@dataclass(frozen=True, slots=True)
class Table:
    """Columns as (header, kind): `text` (left), `num` (right), `money` (right, signed, coloured) or
    `wrap` (left, wrapping); rows of cell texts."""

    columns: Sequence[tuple[str, str]]
    rows: Sequence[Sequence[str]]


def variants_table(analysis: Analysis) -> Table:
    columns = [("", "text"), ("variant", "text"), ("rounds", "num"), ("traded", "num"), ("won", "num")]
    columns += [("win rate", "num"), ("P&L", "money"), ("fees", "num"), ("max drawdown", "num")]
    columns += [(f"{s} P&L", "money") for s in analysis.strategies]
    columns += [("blocked rounds", "wrap"), ("trips", "wrap")]
    rows = [
        [
            v.tag,
            v.name,
            str(len(v.rounds)),
            str(v.traded),
            str(v.wins),
            percent(v.win_rate),
            usd(v.pnl),
            plain_usd(v.fees),
            plain_usd(v.max_drawdown),
            *(usd(v.strategies[s].pnl) for s in analysis.strategies),
            counts(v.blocked),
            counts(v.trips),
        ]
        for v in analysis.variants
    ]
    return Table(columns, rows)


def strategies_table(analysis: Analysis) -> Table:
    columns = [("", "text"), ("variant", "text"), ("strategy", "text"), ("rounds traded", "num")]
    columns += [("won", "num"), ("win rate", "num"), ("P&L", "money"), ("max drawdown", "num")]
    rows = [
        [
            v.tag,
            v.name,
            name,
            str(r.traded),
            str(r.wins),
            percent(r.wins / r.traded if r.traded else None),
            usd(r.pnl),
            plain_usd(r.max_drawdown),
        ]
        for v in analysis.variants
        for name, r in v.strategies.items()
    ]
    return Table(columns, rows)


OUTCOMES_NOTE = (
    "Each round counted once, first match wins: traded (a fill); blocked (the account refused every order: "
    "cooldown or a tripped kill switch); unfilled (orders went out, none filled); refused by risk (every "
    "order refused by the guard); dropped by policy (proposals, none acted on: conflicting strategies, low "
    "confidence, rate limit); no proposal."
)


def outcomes_table(analysis: Analysis) -> Table:
    columns = [("", "text"), ("variant", "text"), *((name, "num") for name in ROUND_OUTCOMES)]
    columns += [("proposals dropped by the policy", "wrap"), ("orders refused by risk", "wrap")]
    rows = [
        [
            v.tag,
            v.name,
            *(str(v.outcomes.get(name, 0)) for name in ROUND_OUTCOMES),
            counts(v.dropped),
            counts(v.refusals),
        ]
        for v in analysis.variants
    ]
    return Table(columns, rows)


def calibration_table(analysis: Analysis) -> Table:
    columns = [("P(Up) bin", "text"), ("rounds", "num"), ("Up won", "num"), ("mean predicted", "num")]
    columns += [("observed", "num"), ("Wilson 95 %", "num")]
    rows = [
        [
            f"{b.low:.1f}-{b.high:.1f}",
            str(b.count),
            str(b.ups),
            f"{b.mean_predicted:.3f}",
            f"{b.observed:.3f}",
            f"{b.interval[0]:.3f}-{b.interval[1]:.3f}",
        ]
        for b in analysis.calibration
    ]
    return Table(columns, rows)


def rounds_table(analysis: Analysis) -> tuple[Table, list[dict[str, str]]]:
    """Every round of every variant, in variant then time order, and each row's data attributes (the
    filter reads them; `pnl` is exact)."""
    columns = [("", "text"), ("round (UTC)", "text"), ("what happened", "text"), ("trips", "text")]
    columns += [("winner", "text"), ("P&L", "money"), ("fees", "num")]
    columns += [(s, "money") for s in analysis.strategies]
    columns += [("equity", "num"), ("drawdown", "num"), ("P(Up) at activation", "num")]
    columns += [("decisions", "num"), ("orders", "num"), ("fills", "num")]
    columns += [("policy drops", "wrap"), ("risk refusals", "wrap"), ("slug", "text")]
    rows, attributes = [], []
    for v in analysis.variants:
        for row, equity, drawdown in zip(v.rounds, v.equity, v.drawdown, strict=True):
            outcome = round_outcome(row)
            rows.append(
                [
                    v.tag,
                    f"{ms_to_datetime(row.open_ms):%Y-%m-%d %H:%M}",
                    f"{outcome}: {row.blocked}" if row.blocked else outcome,
                    ", ".join(row.trips),
                    row.winner or "-",
                    usd(row.pnl),
                    plain_usd(row.fees),
                    *(usd(row.per_strategy[s]) if s in row.per_strategy else "" for s in analysis.strategies),
                    plain_usd(equity),
                    plain_usd(drawdown),
                    "-" if row.p_up_at_activation is None else f"{row.p_up_at_activation:.3f}",
                    str(row.decisions),
                    str(row.orders),
                    str(row.fills),
                    _if_any({reason: n for reason, n in row.policy.items() if reason != "accepted"}),
                    _if_any(row.refusals),
                    row.slug,
                ]
            )
            attributes.append(
                {
                    "class": "trip" if row.trips else "blocked" if row.blocked else "",
                    "data-variant": v.tag,
                    "data-slug": row.slug,
                    "data-pnl": str(row.pnl),
                    "data-fills": str(row.fills),
                    "data-events": "1" if row.blocked or row.trips else "0",
                }
            )
    return Table(columns, rows), attributes


def _if_any(counter: Mapping[str, int]) -> str:
    return counts(counter) if counter else ""


# --- markdown (the Prefect artifact) -------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """The summary with every figure inline as a data URI; money in pUSD, net of fees."""
    info, analysis = report.info, report.analysis
    lines = [
        f"# {info.title}",
        "",
        f"{len(info.variants)} variant(s) x {info.rounds_planned} rounds, run `{info.run_id}`; "
        "P&L in pUSD, net of fees.",
        "",
        f"**{headline(report)}**",
    ]
    # The Prefect UI does not scroll wide tables sideways: wide ones go in two narrower halves.
    variants, outcomes = variants_table(analysis), outcomes_table(analysis)
    lines += ["", *_md_table(_columns(variants, range(9)))]
    lines += ["", *_md_table(_columns(variants, [0, 1, *range(9, len(variants.columns))]))]
    lines += ["", "## Rounds by what happened", "", OUTCOMES_NOTE]
    lines += ["", *_md_table(_columns(outcomes, range(2 + len(ROUND_OUTCOMES))))]
    lines += [
        "",
        *_md_table(_columns(outcomes, [0, 1, *range(2 + len(ROUND_OUTCOMES), len(outcomes.columns))])),
    ]
    for name, title, caption in FIGURES:
        alt = title.replace("&", "and")
        lines += ["", f"## {title}", "", caption, "", f"![{alt}]({_data_uri(report.figures[name])})"]
    if analysis.calibration:
        lines += ["", *_md_table(calibration_table(analysis))]
    lines += ["", "## Settings", ""]
    lines += [
        f"- **{title}**: " + "; ".join(f"{_md(name)}: {_md(value)}" for name, value in entries)
        for title, entries in settings_sections(info, _rounds_run(analysis))
    ]
    return "\n".join(lines) + "\n"


def _columns(table: Table, indices: Iterable[int]) -> Table:
    chosen = list(indices)
    return Table([table.columns[i] for i in chosen], [[row[i] for i in chosen] for row in table.rows])


def _md_table(table: Table) -> list[str]:
    return [
        "| " + " | ".join(_md(header) or " " for header, _ in table.columns) + " |",
        "|" + "|".join("---:" if kind in ("num", "money") else "---" for _, kind in table.columns) + "|",
        *("| " + " | ".join(_md(cell) for cell in row) + " |" for row in table.rows),
    ]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _data_uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _rounds_run(analysis: Analysis) -> int:
    return max((len(v.rounds) for v in analysis.variants), default=0)


# --- HTML -------------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:1280px;
padding:0 1rem;color:#1d2329}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
h3{margin:.8rem 0 .3rem}
.sub{color:#556}.headline{font-size:1.05rem;background:#f3f6fa;border-left:4px solid #3a6ea5;padding:.6rem .9rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #d5d9de;padding:3px 7px;white-space:nowrap;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0;text-align:left;white-space:normal;min-width:2.5rem}
.num,.money{text-align:right;font-variant-numeric:tabular-nums}.text{text-align:left}
.wrap{white-space:normal;text-align:left;min-width:7rem;max-width:24rem}
.neg{color:#b00020}.pos{color:#1b7f3b}
.settings{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:0 1.5rem}
.settings table{width:100%}.settings td{white-space:normal;overflow-wrap:anywhere}
.settings td:first-child{color:#445;white-space:nowrap;overflow-wrap:normal}
figure{margin:1rem 0}img{max-width:100%;border:1px solid #e3e6ea}figcaption{color:#445;font-size:.9rem}
.filters{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.filters input[type=search]{width:22rem;padding:3px 6px}
#rounds-wrap{max-height:80vh;overflow:auto}
tr.blocked td{background:#fff4e8}tr.trip td{background:#fde8ea}
"""

_SCRIPT = """
(function(){
  var q=document.getElementById('f-text'),v=document.getElementById('f-variant'),
      t=document.getElementById('f-traded'),e=document.getElementById('f-events'),
      n=document.getElementById('f-count'),rows=[].slice.call(document.querySelectorAll('#rounds tbody tr')),
      text=rows.map(function(r){return r.textContent.toLowerCase();});
  function apply(){
    var s=q.value.trim().toLowerCase(),k=0;
    rows.forEach(function(r,i){
      var ok=(!v.value||r.dataset.variant===v.value)&&(!t.checked||r.dataset.fills!=='0')&&
             (!e.checked||r.dataset.events==='1')&&(!s||text[i].indexOf(s)>=0);
      r.hidden=!ok;if(ok)k++;
    });
    n.textContent=k+' of '+rows.length+' rounds shown';
  }
  [q,v,t,e].forEach(function(x){x.addEventListener('input',apply);x.addEventListener('change',apply);});
  apply();
})();
"""


def render_html(report: Report) -> str:
    """The whole report as one page that needs nothing else: styles, script and images inline."""
    info, analysis = report.info, report.analysis
    e = html.escape
    figures = "\n".join(
        f'<h2 id="{e(name.removesuffix(".png"))}">{e(title)}</h2><figure>'
        f'<img alt="{e(title)}" src="{_data_uri(report.figures[name])}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
        for name, title, caption in FIGURES
    )
    settings = "\n".join(
        f"<div><h3>{e(title)}</h3><table>"
        + "".join(f"<tr><td>{e(name)}</td><td>{e(value)}</td></tr>" for name, value in entries)
        + "</table></div>"
        for title, entries in settings_sections(info, _rounds_run(analysis))
    )
    options = "".join(
        f'<option value="{e(v.tag)}">{e(v.tag)} {e(v.name)}</option>' for v in analysis.variants
    )
    rounds, attributes = rounds_table(analysis)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{e(info.title)}</title><style>{_STYLE}</style></head><body>
<h1>{e(info.title)}</h1>
<p class="sub">Run <code>{e(info.run_id)}</code>: {len(info.variants)} variant(s) x {info.rounds_planned} rounds,
{e(info.source)} from <code>{e(info.data)}</code>. Money in pUSD, net of fees.</p>
<p class="headline">{e(headline(report))}</p>
<h2 id="results">Results per variant</h2>
{_html_table(variants_table(analysis))}
<details><summary>Per strategy: rounds traded, won, P&amp;L and drawdown</summary>
{_html_table(strategies_table(analysis))}</details>
<h2 id="outcomes">Rounds by what happened</h2>
<p class="sub">{e(OUTCOMES_NOTE)}</p>
{_html_table(outcomes_table(analysis))}
<h2 id="settings">Settings</h2>
<div class="settings">{settings}</div>
{figures}
<h3>Calibration bins</h3>
{_html_table(calibration_table(analysis))}
<h2 id="rounds-table">Every round</h2>
<div class="filters"><input id="f-text" type="search" placeholder="filter: slug, date, winner, reason...">
<label>variant <select id="f-variant"><option value="">all</option>{options}</select></label>
<label><input id="f-traded" type="checkbox"> traded only</label>
<label><input id="f-events" type="checkbox"> blocked or tripped only</label>
<span id="f-count"></span></div>
<div id="rounds-wrap">{_html_table(rounds, table_id="rounds", attributes=attributes)}</div>
<script>{_SCRIPT}</script>
</body></html>
"""


def _html_table(
    table: Table, *, table_id: str | None = None, attributes: Sequence[Mapping[str, str]] | None = None
) -> str:
    e = html.escape
    head = "".join(f'<th class="{kind}">{e(header)}</th>' for header, kind in table.columns)
    body = []
    for index, row in enumerate(table.rows):
        attrs = "".join(
            f' {name}="{e(value)}"'
            for name, value in (attributes[index] if attributes else {}).items()
            if value
        )
        cells = "".join(_html_cell(cell, kind) for cell, (_, kind) in zip(row, table.columns, strict=True))
        body.append(f"<tr{attrs}>{cells}</tr>")
    identity = f' id="{e(table_id)}"' if table_id else ""
    page = (
        f"<table{identity}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    )
    # The rounds table scrolls in its own box, where its header sticks; the others scroll sideways.
    return page if table_id else f'<div class="scroll">{page}</div>'


def _html_cell(text: str, kind: str) -> str:
    css = kind
    if kind == "money" and text[:1] in ("+", "-") and text.strip("+-0.,"):
        css += " neg" if text[0] == "-" else " pos"
    return f'<td class="{css}">{html.escape(text)}</td>'
