"""Backtest planning: bad requests fail before any work, missing tapes are named and skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.backtest.runner import (
    BacktestError,
    RoundJob,
    expand_grid,
    parse_grid,
    plan_rounds,
    run_jobs,
    summarize,
)
from core.config import RiskLimitsSettings
from core.engine.assembly import EngineRecipe, tape_meta_of
from core.engine.tape import TapeWriter
from core.events import PriceSource, PriceTick
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round, generated_market
from tests.support.engine_runs import model_path, rounds

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
    summary = summarize(results)
    assert summary[0].rounds == 2


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
