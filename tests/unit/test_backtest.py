"""Backtests: bad requests fail before any work, missing tapes are named and skipped, a variant's account
carries from round to round, and the report shows exactly what the runner returned."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import pytest

from core.backtest.analysis import analyse, drawdown_of, equity_of, round_outcome, wilson_interval
from core.backtest.report import (
    FIGURES,
    Report,
    RunInfo,
    build_report,
    plain_usd,
    render_html,
    render_markdown,
    results_table,
    usd,
    write_report,
)
from core.backtest.runner import (
    BacktestError,
    RoundJob,
    RoundResult,
    Variant,
    expand_grid,
    parse_grid,
    plan_rounds,
    run_jobs,
)
from core.clock import datetime_to_ms, ms_to_datetime
from core.config import RiskLimitsSettings
from core.engine.assembly import EngineRecipe, tape_meta_of
from core.engine.tape import TapeWriter
from core.events import PriceSource, PriceTick
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round, generated_market
from core.store.models import RiskEventRecord
from tests.support.engine_runs import START_MS, model_path, rounds

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_grid_expands_to_every_combination() -> None:
    variants = expand_grid(
        ["fair_value", "momentum"],
        {"fair_value": {"margin": [0.02, 0.04]}, "momentum": {"lookback_s": [10, 30, 60]}},
    )
    assert len(variants) == 6
    assert len({v.name for v in variants}) == 6


def test_no_grid_is_one_default_variant() -> None:
    assert [v.name for v in expand_grid(["fair_value"], None)] == ["default"]


@pytest.mark.parametrize(
    ("strategies", "grid", "message"),
    [
        (["martingale"], None, "unknown strategies"),
        (["fair_value"], {"momentum": {"lookback_s": [30]}}, "not among the strategies"),
        (["fair_value"], {"fair_value": {"margin": []}}, "non-empty list"),
        (["fair_value"], {"fair_value": {"margin": "0.02"}}, "non-empty list"),
        (["fair_value"], {"fair_value": {"no_such_parameter": [1]}}, "bad parameter grid"),
    ],
)
def test_bad_grids_fail_before_any_work(strategies: list[str], grid: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BacktestError, match=message):
        expand_grid(strategies, grid)


def test_grid_text_must_be_json_of_the_right_shape() -> None:
    assert parse_grid('{"fair_value": {"margin": [0.02]}}') == {"fair_value": {"margin": [0.02]}}
    with pytest.raises(BacktestError, match="not JSON"):
        parse_grid("{margin: 0.02}")
    with pytest.raises(BacktestError, match="must look like"):
        parse_grid("[1, 2]")


def test_a_range_without_rounds_or_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match="no round opens"):
        plan_rounds("generated", START, START, price_file=tmp_path / "x.csv")
    with pytest.raises(BacktestError, match="does not exist"):
        plan_rounds("generated", START, datetime(2026, 1, 2, tzinfo=UTC), price_file=tmp_path / "x.csv")
    with pytest.raises(BacktestError, match="does not exist"):
        plan_rounds("tapes", START, datetime(2026, 1, 2, tzinfo=UTC), tape_dir=tmp_path / "none")


def test_missing_tapes_are_named_and_the_rest_are_replayed(tmp_path: Path) -> None:
    path = model_path()
    recorded = rounds(3)
    for round_ in recorded[::2]:
        market = generated_market(round_, path)
        with TapeWriter(tmp_path / f"{round_.slug}.parquet", tape_meta_of(round_, market)) as tape:
            for event in generate_round(path, round_, seed=1):
                tape.append(event)
            # a live run records on to the report stamped at the close: the one that settles the round
            tape.append(
                PriceTick(
                    ts_ms=round_.close_ms + 150,
                    source=PriceSource.CHAINLINK,
                    price=path.price_at(round_.close_ms),
                    source_ts_ms=round_.close_ms,
                )
            )
    jobs, missing = plan_rounds("tapes", recorded[0].open, recorded[-1].close, tape_dir=tmp_path)
    assert [job.slug for job in jobs] == [recorded[0].slug, recorded[2].slug]
    assert missing == [recorded[1].slug]
    recipe = EngineRecipe(limits=RiskLimits.from_settings(RiskLimitsSettings()))
    results = list(run_jobs(jobs, expand_grid(["fair_value"], None)[0], recipe, run_id="t"))
    assert [r.slug for r in results] == [job.slug for job in jobs]
    assert all(r.winner in ("up", "down") for r in results)
    assert [len(v.rounds) for v in analyse(results).variants] == [2]


def test_generated_rounds_come_from_the_price_file_range() -> None:
    data = (
        Path(__file__).resolve().parents[2].parent
        / "shared"
        / "data"
        / "binance_btcusdt_1m_30d"
        / "binance_1m.csv"
    )
    if not data.exists():
        pytest.skip(f"{data} is absent (only on the team's machines)")
    jobs, missing = plan_rounds(
        "generated",
        datetime(2025, 12, 10, tzinfo=UTC),
        datetime(2025, 12, 10, 2, tzinfo=UTC),
        price_file=data,
    )
    assert len(jobs) == 8
    assert missing == []
    assert RoundSchedule().from_slug(jobs[0].slug).open == datetime(2025, 12, 10, tzinfo=UTC)
    assert isinstance(jobs[0], RoundJob)


# --- a small backtest over generated rounds, and its report ---------------------------------------------

LIMITS = RiskLimits(loss_streak_for_cooldown=1, cooldown_rounds=2)
"""Every losing round cools the next two down: cooldowns show up within a few hours of rounds."""
NAMES = ("fair_value", "momentum", "mean_reversion")
GRID = {"fair_value": {"margin": [0.02, 0.05]}}
HOURS = 7


class Backtest(NamedTuple):
    jobs: list[RoundJob]
    variants: list[Variant]
    results: list[RoundResult]
    report: Report
    price_file: Path


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """Rounds generated from a model price path written as a Binance 1m file, every variant of GRID."""
    path = model_path(seed=3, hours=HOURS)
    price_file = tmp_path_factory.mktemp("prices") / "model_1m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    for minute in range(HOURS * 60):
        price = path.price_at(START_MS + minute * 60_000)
        lines.append(f"{START_MS + minute * 60_000},{price},{price},{price},{price},1")
    price_file.write_text("\n".join(lines) + "\n")
    start, end = ms_to_datetime(START_MS), ms_to_datetime(START_MS + HOURS * 3_600_000)
    jobs, missing = plan_rounds("generated", start, end, price_file=price_file)
    assert missing == []
    variants = expand_grid(list(NAMES), GRID)
    recipe = EngineRecipe(limits=LIMITS, strategies=NAMES)
    results = [
        result
        for variant in variants
        for result in run_jobs(
            jobs, variant, recipe, run_id="t", price_file=price_file, seed=1, keep_records=True
        )
    ]
    info = RunInfo(
        run_id="backtest-test",
        source="generated",
        start=start,
        end=end,
        data=str(price_file),
        seed=1,
        recipe=recipe,
        variants=variants,
        schedule=RoundSchedule(),
        rounds_planned=len(jobs),
        batch_size=8,
    )
    return Backtest(jobs, variants, results, build_report(results, info), price_file)


def of_variant(backtest: Backtest, name: str) -> list[RoundResult]:
    return sorted((r for r in backtest.results if r.variant == name), key=lambda r: r.open_ms)


def trip_events(result: RoundResult) -> list[RiskEventRecord]:
    return [r for r in result.records if isinstance(r, RiskEventRecord) and r.kind == "trip"]


def test_a_losing_round_cools_the_next_rounds_of_its_variant_down(backtest: Backtest) -> None:
    """The account carries from round to round as live: the cooldown a settlement trips blocks the rounds
    that open before it ends, and only those."""
    cooled = 0
    for variant in backtest.variants:
        rows = of_variant(backtest, variant.name)
        cooldowns = [
            (datetime_to_ms(event.ts), int(event.details["cooldown_until_ms"]))
            for row in rows
            for event in trip_events(row)
            if event.reason_code == "cooldown"
        ]
        for row in rows:
            activation = RoundSchedule().from_slug(row.slug).activation_ms
            cooling = any(since <= row.open_ms and activation < until for since, until in cooldowns)
            expected = "cooldown" if cooling else None
            assert row.blocked == expected, row.slug
            if row.blocked:
                cooled += 1
                assert row.fills == 0
                verdicts = [r for r in row.records if isinstance(r, RiskEventRecord) and r.kind == "verdict"]
                # The guard's account rules run first: the day's loss budget may be what it names.
                assert all(not v.approved and v.reason_code in ("daily_loss", "cooldown") for v in verdicts)
    assert cooled >= 2, "the model path has losing rounds: some rounds must have been cooled down"


def test_batches_chained_by_the_account_decide_as_one_run(backtest: Backtest) -> None:
    variant = backtest.variants[0]
    whole = of_variant(backtest, variant.name)
    split = next(i for i, r in enumerate(whole) if "cooldown" in r.trips) + 1
    recipe = EngineRecipe(limits=LIMITS, strategies=NAMES)
    run = partial(run_jobs, variant=variant, recipe=recipe, run_id="t", price_file=backtest.price_file)
    first = list(run(backtest.jobs[:split]))
    second = list(run(backtest.jobs[split:], account=first[-1].account_after))
    assert [(r.digest, r.pnl, r.blocked) for r in first + second] == [
        (r.digest, r.pnl, r.blocked) for r in whole
    ]
    fresh = next(run(backtest.jobs[split : split + 1]))
    assert (fresh.blocked, whole[split].blocked) == (None, "cooldown"), "without the account it would trade"


def test_the_per_round_table_lists_every_round_of_every_variant_as_the_runner_returned_it(
    backtest: Backtest,
) -> None:
    page = Page.parse(render_html(backtest.report))
    tag = {variant.name: f"v{index}" for index, variant in enumerate(backtest.variants)}
    expected = sorted(backtest.results, key=lambda r: (tag[r.variant], r.open_ms))
    assert [(row.attrs["data-variant"], row.attrs["data-slug"]) for row in page.rounds] == [
        (tag[r.variant], r.slug) for r in expected
    ]
    for row, result in zip(page.rounds, expected, strict=True):
        assert Decimal(row.attrs["data-pnl"]) == result.pnl
        cells = dict(zip(page.round_columns, row.cells, strict=True))
        assert cells["P&L"] == usd(result.pnl)
        assert cells["fills"] == str(result.fills)
        assert cells["winner"] == result.winner
        assert cells["slug"] == result.slug
        assert cells["trips"] == ", ".join(result.trips)
        assert cells["what happened"] == (
            f"blocked: {result.blocked}" if result.blocked else round_outcome(result)
        )
        for strategy in NAMES:
            assert cells[strategy] == (
                usd(result.per_strategy[strategy]) if strategy in result.per_strategy else ""
            )


def test_per_strategy_totals_add_up_to_the_variant_total(backtest: Backtest) -> None:
    table = results_table(backtest.report)
    for variant in backtest.report.analysis.variants:
        rows = of_variant(backtest, variant.name)
        total = sum((r.pnl for r in rows), Decimal(0))
        assert variant.pnl == total
        assert sum((s.pnl for s in variant.strategies.values()), Decimal(0)) == total
        for name, result in variant.strategies.items():
            assert result.pnl == sum((r.per_strategy.get(name, Decimal(0)) for r in rows), Decimal(0))
            assert result.traded == sum(1 for r in rows if name in r.per_strategy)
        mine = [row for row in table if row["variant"] == f"{variant.tag} {variant.name}"]
        assert [row["strategy"] for row in mine] == ["all", *NAMES]
        assert mine[0]["pnl_pusd"] == plain_usd(total)
        assert mine[0]["rounds"] == len(rows)
        assert [row["pnl_pusd"] for row in mine[1:]] == [plain_usd(variant.strategies[n].pnl) for n in NAMES]
    assert any(v.pnl != 0 for v in backtest.report.analysis.variants), "something traded"


def test_drawdown_is_the_largest_fall_from_a_peak_of_the_equity(backtest: Backtest) -> None:
    assert drawdown_of(equity_of([Decimal(x) for x in (5, -3, -4, 6, -1)])) == tuple(
        Decimal(x) for x in (0, -3, -7, -1, -2)
    )
    for variant in backtest.report.analysis.variants:
        equity = [Decimal(0)]
        for row in of_variant(backtest, variant.name):
            equity.append(equity[-1] + row.pnl)
        deepest = max(equity[i] - equity[j] for i in range(len(equity)) for j in range(i, len(equity)))
        assert variant.max_drawdown == deepest
        assert list(variant.equity) == equity[1:]


def test_markers_sit_at_the_rounds_the_risk_events_name(backtest: Backtest) -> None:
    analysis = backtest.report.analysis
    tag = {v.name: v.tag for v in analysis.variants}
    trips = {(tag[r.variant], r.slug, e.reason_code) for r in backtest.results for e in trip_events(r)}
    assert trips, "the small backtest trips at least one cooldown"
    assert {(m.tag, m.slug, m.reason) for m in analysis.markers if m.kind == "trip"} == trips
    blocked = {(tag[r.variant], r.slug, r.blocked) for r in backtest.results if r.blocked}
    assert {(m.tag, m.slug, m.reason) for m in analysis.markers if m.kind == "blocked"} == blocked
    equity = {(v.tag, r.slug): e for v in analysis.variants for r, e in zip(v.rounds, v.equity, strict=True)}
    assert all(m.equity == equity[m.tag, m.slug] for m in analysis.markers)


def test_the_page_states_the_settings_and_needs_nothing_from_elsewhere(
    backtest: Backtest, tmp_path: Path
) -> None:
    page_path = write_report(backtest.report, tmp_path / "report")
    text = page_path.read_text()
    for name, _, _ in FIGURES:
        assert (tmp_path / "report" / name).read_bytes() == backtest.report.figures[name]
        assert base64.b64encode(backtest.report.figures[name]).decode() in text
    page = Page.parse(text)
    settings = page.settings
    assert settings["seed"] == "1"
    assert settings["data"] == str(backtest.price_file)
    assert settings["source"] == "generated"
    assert settings["rounds"] == f"{len(backtest.jobs)} planned, {len(backtest.jobs)} run per variant"
    assert settings["fair_value.margin"] == "0.02, 0.05 (grid)"
    assert settings["momentum.lookback_s"] == "30"
    assert settings["loss_streak_for_cooldown"] == "1"
    assert settings["cooldown_rounds"] == "2"
    assert settings["max_daily_loss"] == str(LIMITS.max_daily_loss)
    assert settings["v1"] == "fair_value.margin=0.05"
    assert "(7 h)" in settings["to"]
    for outside in ("http://", "https://", "file://", "<link", "@import", "url("):
        assert outside not in text
    assert len(page.sources) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in page.sources)
    assert page.scripts == [None], "one inline script: the round filter"


def test_the_markdown_summary_carries_the_figures_and_numbers_not_a_path(
    backtest: Backtest, tmp_path: Path
) -> None:
    folder = tmp_path / "report"
    write_report(backtest.report, folder)
    markdown = render_markdown(backtest.report)
    best = backtest.report.analysis.best()
    assert best is not None
    assert markdown.startswith(f"# {backtest.report.info.title}")
    assert f"Best: {best.tag} {best.name}, {usd(best.pnl)} pUSD" in markdown
    for name, title, _ in FIGURES:
        encoded = base64.b64encode(backtest.report.figures[name]).decode()
        assert f"## {title}" in markdown
        assert f"(data:image/png;base64,{encoded})" in markdown
    assert str(folder) not in markdown
    assert "index.html" not in markdown
    assert "loss_streak_for_cooldown: 1;" in markdown
    assert f"data: {backtest.price_file};" in markdown


def test_calibration_counts_each_round_once_with_wilson_intervals(backtest: Backtest) -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 10)[0] == 0.0
    assert round(wilson_interval(0, 10)[1], 4) == 0.2775
    assert round(wilson_interval(10, 10)[0], 4) == 0.7225
    bins = backtest.report.analysis.calibration
    scored = {
        r.slug: (r.p_up_at_activation, r.winner)
        for r in backtest.results
        if r.p_up_at_activation is not None and r.winner
    }
    assert sum(b.count for b in bins) == len(scored) == len(backtest.jobs), "each round once, not per variant"
    for b in bins:
        inside = [winner for p, winner in scored.values() if b.low <= p < b.high or b.high == p == 1]
        assert b.count == len(inside)
        assert b.ups == inside.count("up")
        assert b.interval == wilson_interval(b.ups, b.count)
        assert b.interval[0] <= b.observed <= b.interval[1]


def test_every_figure_is_a_png(backtest: Backtest) -> None:
    assert list(backtest.report.figures) == [name for name, _, _ in FIGURES]
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in backtest.report.figures.values())


class Row(NamedTuple):
    attrs: dict[str, str]
    cells: list[str]


class Page(HTMLParser):
    """What a reader sees of the page: the rounds table, the settings, image and script sources."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds: list[Row] = []
        self.round_columns: list[str] = []
        self.settings: dict[str, str] = {}
        self.sources: list[str] = []
        self.scripts: list[str | None] = []
        self._table: str | None = None
        self._in_settings = False
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._header: list[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Page:
        page = cls()
        page.feed(text)
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.sources.append(found.get("src", ""))
        elif tag == "script":
            self.scripts.append(found.get("src"))
        elif tag == "div" and found.get("class") == "settings":
            self._in_settings = True
        elif tag == "table":
            self._table = found.get("id") or ("settings" if self._in_settings else "other")
        elif tag == "tr":
            self._row = Row(found, [])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.cells.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            row, self._row = self._row, None
            if self._table == "rounds":
                if "data-slug" in row.attrs:
                    self.rounds.append(row)
                else:
                    self.round_columns = row.cells
            elif self._table == "settings" and len(row.cells) == 2:
                self.settings[row.cells[0]] = row.cells[1]
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_a_report_of_rounds_nobody_traded_still_reads(backtest: Backtest) -> None:
    quiet = [
        RoundResult(
            variant="default",
            slug=job.slug,
            open_ms=job.open_s * 1000,
            winner="up",
            pnl=Decimal(0),
            fees=Decimal(0),
            orders=0,
            fills=0,
            per_strategy={},
            p_up_at_activation=None,
            digest="",
        )
        for job in backtest.jobs[:3]
    ]
    for results, variants in ((quiet, [Variant("default", {})]), ([], [Variant("default", {})])):
        report = build_report(
            results, dataclasses.replace(backtest.report.info, variants=variants, rounds_planned=len(results))
        )
        assert all(image.startswith(b"\x89PNG") for image in report.figures.values())
        page = Page.parse(render_html(report))
        assert len(page.rounds) == len(results)
        assert render_markdown(report).startswith("# Backtest generated")
        assert report.analysis.calibration == ()
