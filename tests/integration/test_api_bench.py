"""`python -m bench.api`, tiny: one day of rounds and a second of load at a low rate against the real
`btc-agent api`. It must print its figures and have no failed request; the latencies are not judged here."""

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from bench.api import main, seed
from core.clock import datetime_to_ms
from core.live.runner import round_row
from core.market.rounds import Round
from core.store.db import make_engine, migrate
from core.store.models import RoundRow
from core.store.writer import insert_rows


@pytest.mark.slow
def test_the_api_bench_measures_both_endpoints_without_errors_and_keeps_its_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.sqlite"
    figures_file = tmp_path / "figures.json"
    tiny = ["--days", "1", "--seconds", "1", "--rate", "20", "--warmup", "0.5", "--heartbeat-every", "60"]
    code = main([*tiny, "--store", str(store), "--json", str(figures_file)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    figures = json.loads(figures_file.read_text())
    for name in ("status", "rounds"):
        endpoint = figures["endpoints"][name]
        assert endpoint["errors"] == 0, endpoint["error_kinds"]
        assert endpoint["requests"] == 20
        assert 0 < endpoint["p50_ms"] <= endpoint["p99_ms"] <= endpoint["max_ms"]
        assert re.search(rf"^{name} .* ms = \d+\.\d\dx target", printed, re.MULTILINE), printed
    assert "live state fresh" in printed, printed
    rows = figures["store"]["rows"]
    assert rows["rounds"] == 96
    assert rows["settlements"] > 96  # the paper run's and the backtest's
    assert all(rows[table] > 0 for table in ("decisions", "orders", "fills", "risk_events", "heartbeats"))
    assert figures["history_totals"][""] == 96

    # a later run adds only the rounds closed since: half an hour after the newest one closed, two
    engine = make_engine(f"sqlite:///{store}")
    with Session(engine) as session:
        newest = session.exec(select(func.max(RoundRow.open_at))).one()
    assert newest is not None
    later_ms = datetime_to_ms(newest) + 3 * 900_000
    assert seed(engine, 1, later_ms, backtests=0, heartbeat_every_s=60, rng=1) == 2
    engine.dispose()


def test_the_api_bench_refuses_a_store_with_rounds_it_did_not_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    insert_rows(engine, [("rounds", round_row(Round(1_778_437_800), "settled", mode="paper").model_dump())])
    engine.dispose()
    with pytest.raises(SystemExit, match="holds rounds the bench did not write"):
        main(["--days", "1", "--store", str(tmp_path / "agent.sqlite")])
