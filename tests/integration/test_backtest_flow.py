"""`backtest_flow` on a local Dask cluster: recorded tapes, a parameter grid, rows, a run named after what it
ran, and the report as files and as Prefect artifacts (the summary with its figures inline, not a path)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from core.backtest.report import FIGURES
from core.backtest.runner import RoundJob, expand_grid, run_jobs
from core.config import load_settings
from core.engine.assembly import EngineRecipe, tape_meta_of
from core.engine.tape import TapeWriter
from core.events import PriceSource, PriceTick
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round, generated_market
from core.store.db import make_engine
from core.store.models import OperatorActionRow, SettlementRow
from tests.support.engine_runs import model_path, rounds

pytestmark = [pytest.mark.slow]

GRID = '{"fair_value": {"margin": [0.02, 0.05]}}'


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def run_and_artifacts(flow_run_id: str) -> tuple[str, dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> tuple[str, dict[str, Any]]:
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
            return run.name, {artifact.key or "": artifact for artifact in found}

    return asyncio.run(read())


def test_a_grid_sweep_over_tapes_runs_on_dask_and_writes_rows_artifacts_and_a_report(
    prefect_server: None, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    # Every losing round cools the next two down: batches must hand the account on for the flow to
    # decide as one uninterrupted run would.
    monkeypatch.setenv("BTC_AGENT_RISK__LOSS_STREAK_FOR_COOLDOWN", "1")
    monkeypatch.setenv("BTC_AGENT_RISK__COOLDOWN_ROUNDS", "2")
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

    state = backtest_flow(
        source="tapes",
        start=recorded[0].open,
        end=recorded[-1].close,
        tape_dir=str(tapes),
        params_grid=GRID,
        batch_size=4,
        report_dir=str(tmp_path / "report"),
        return_state=True,
    )
    table = state.result()
    assert {row["variant"] for row in table} == {"fair_value.margin=0.02", "fair_value.margin=0.05"}
    assert all(row["rounds"] == 12 for row in table)

    # The same rounds in one uninterrupted run per variant, in this process.
    recipe = EngineRecipe(limits=RiskLimits.from_settings(load_settings().risk))
    jobs = [RoundJob(r.slug, r.open_s, str(tapes / f"{r.slug}.parquet")) for r in recorded]
    expected = {
        variant.name: list(run_jobs(jobs, variant, recipe, run_id="x"))
        for variant in expand_grid(list(recipe.strategies), json.loads(GRID))
    }
    assert any(r.trips for rows in expected.values() for r in rows), "a cooldown trips in these rounds"
    for row in table:
        assert Decimal(row["pnl"]) == sum((r.pnl for r in expected[row["variant"]]), Decimal(0))

    for name, _, _ in FIGURES:
        assert (tmp_path / "report" / name).stat().st_size > 1000
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURES)
    assert page.count("data-slug=") == 24

    with Session(make_engine(sqlite_url)) as session:
        settlements = session.exec(
            select(SettlementRow).where(col(SettlementRow.run_id).startswith("backtest-"))
        ).all()
    assert len(settlements) == 24, "every round of every variant, tagged with the backtest run"
    assert {s.run_id for s in settlements} == {row["run_id"] for row in table}

    name, artifacts = run_and_artifacts(str(state.state_details.flow_run_id))
    first, last = recorded[0].open, recorded[-1].close
    assert name == (
        f"backtest tapes {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (3 h), "
        "2 variants of fair_value.margin"
    )
    run_tag = table[0]["run_id"].split("/")[0].removeprefix("backtest-")
    key = f"backtest-{first:%Y-%m-%d}-3h-{run_tag}"
    assert set(artifacts) == {f"{key}-report", f"{key}-results"}
    summary = artifacts[f"{key}-report"]
    assert summary.type == "markdown"
    markdown = str(summary.data)
    assert markdown.count("](data:image/png;base64,") == len(FIGURES), "figures inline, not linked"
    assert str(tmp_path / "report") not in markdown
    assert "index.html" not in markdown
    best = max(table, key=lambda row: Decimal(row["pnl"]))
    assert f"Best: {best['tag']} {best['variant']}" in markdown
    assert (summary.description or "").startswith(f"best {best['tag']} {best['variant']}: ")
    results = artifacts[f"{key}-results"]
    assert results.type == "table"
    rows = json.loads(results.data) if isinstance(results.data, str) else results.data
    assert [(row["variant"], row["strategy"]) for row in rows] == [
        (f"v{i} {variant}", strategy)
        for i, variant in enumerate(["fair_value.margin=0.02", "fair_value.margin=0.05"])
        for strategy in ("all", "fair_value", "momentum", "mean_reversion")
    ]
    by_variant = {row["variant"]: row for row in table}
    for row in rows:
        if row["strategy"] == "all":
            variant = row["variant"].split(" ", 1)[1]
            assert Decimal(row["pnl_pusd"]) == Decimal(by_variant[variant]["pnl"]).quantize(Decimal("0.01"))


API_SECRET = "a-signing-key-for-tests-only-0123456789abcdef"


def test_an_analyst_starts_a_backtest_through_the_api_and_sees_it_finish(
    prefect_server: None, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the API as the console does it: refused for a viewer and for a range the flow would refuse
    (422 with the reason), started for an analyst as a flow run of the served deployment, which a runner
    then executes for real; its progress reads Completed and its report is there."""
    from fastapi.testclient import TestClient
    from prefect.settings import PREFECT_API_URL

    from api.main import create_app
    from api.security import create_access_token
    from core.store.auth import Role, UserRow
    from flows.backtest import backtest_flow
    from tests.support.shared_data import SHARED_DATA

    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    price_file = SHARED_DATA / "binance_btcusdt_1m_30d" / "binance_1m.csv"
    if not price_file.exists():
        pytest.skip(f"no shared BTC minute data at {price_file}")
    asyncio.run(_apply(backtest_flow.ato_deployment(name="backtest")))
    settings = load_settings(api={"jwt_secret": API_SECRET, "backtest_price_file": price_file})
    store = make_engine(sqlite_url)
    headers = {}
    with Session(store, expire_on_commit=False) as session:
        for role in (Role.VIEWER, Role.ANALYST):
            user = UserRow(name=role.value, role=role.value, password_hash="-")
            session.add(user)
            session.commit()
            token = create_access_token(
                user.id, API_SECRET, now=datetime.now(UTC), lifetime=timedelta(hours=1)
            )
            headers[role] = {"Authorization": f"Bearer {token}"}
    body = {"start": "2025-12-10T00:00:00Z", "end": "2025-12-10T01:00:00Z", "strategies": ["fair_value"]}

    with TestClient(create_app(settings)) as client:
        assert client.post("/backtest-runs", headers=headers[Role.VIEWER], json=body).status_code == 403
        backwards = client.post(
            "/backtest-runs", headers=headers[Role.ANALYST], json={**body, "end": body["start"]}
        )
        outside = client.post(
            "/backtest-runs",
            headers=headers[Role.ANALYST],
            json={**body, "start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
        )
        started = client.post("/backtest-runs", headers=headers[Role.ANALYST], json=body)
        assert started.status_code == 201, started.text
        run = started.json()
        # what the served deployment's runner does with a scheduled run: execute it in a process of its own
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        executed = subprocess.run(
            [sys.executable, "-m", "prefect", "flow-run", "execute", run["flow_run_id"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert executed.returncode == 0, executed.stdout[-3000:] + executed.stderr[-3000:]
        done = client.get(f"/backtest-runs/{run['flow_run_id']}", headers=headers[Role.VIEWER]).json()
        report = client.get(f"/backtests/{run['run_id']}", headers=headers[Role.VIEWER])

    assert backwards.status_code == 422
    assert "end must be after start" in backwards.text
    assert outside.status_code == 422
    (error,) = outside.json()["detail"]
    assert error["loc"] == ["body", "start"]
    assert "no round of the range has data" in error["msg"]
    assert run["state"] == "Scheduled"
    assert run["parameters"]["strategies"] == ["fair_value"]
    assert done["state"] == "Completed", done
    assert done["tasks_total"] >= 1
    assert done["tasks_completed"] == done["tasks_total"]
    assert report.status_code == 200, report.text
    with Session(store) as session:
        action = session.exec(select(OperatorActionRow)).one()
    assert (action.actor, action.action, action.target) == ("analyst", "backtest_start", run["flow_run_id"])
    assert action.details["after"]["rounds"] == 4


async def _apply(deployment: Any) -> None:
    await (await deployment).apply()
