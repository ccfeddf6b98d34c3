"""`backtest_flow` on a local Dask cluster: recorded tapes, a parameter grid, rows, artifacts and a report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from core.engine.assembly import tape_meta_of
from core.engine.tape import TapeWriter
from core.events import PriceSource, PriceTick
from core.sim.generator import generate_round, generated_market
from core.store.db import make_engine
from core.store.models import SettlementRow
from tests.support.engine_runs import model_path, rounds

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def test_a_grid_sweep_over_tapes_runs_on_dask_and_writes_rows_artifacts_and_a_report(
    prefect_server: None, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    path = model_path(seed=9)
    recorded = rounds(12)
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    for round_ in recorded:
        with TapeWriter(
            tapes / f"{round_.slug}.parquet", tape_meta_of(round_, generated_market(round_, path))
        ) as tape:
            for event in generate_round(path, round_, seed=2):
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
    from flows.backtest import backtest_flow

    table = backtest_flow(
        source="tapes",
        start=recorded[0].open,
        end=recorded[-1].close,
        tape_dir=str(tapes),
        params_grid='{"fair_value": {"margin": [0.02, 0.05]}}',
        batch_size=4,
        report_dir=str(tmp_path / "report"),
    )
    assert {row["variant"] for row in table} == {"fair_value.margin=0.02", "fair_value.margin=0.05"}
    assert all(row["rounds"] == 12 for row in table)
    for name in ("index.html", "equity.png", "per_strategy.png", "calibration.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000
    assert "data:image/png;base64," in (tmp_path / "report" / "index.html").read_text()
    with Session(make_engine(sqlite_url)) as session:
        settlements = session.exec(
            select(SettlementRow).where(col(SettlementRow.run_id).startswith("backtest-"))
        ).all()
    assert len(settlements) == 24, "every round of every variant, tagged with the backtest run"
    assert {s.run_id for s in settlements} == {row["run_id"] for row in table}
