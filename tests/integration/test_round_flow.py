"""Round flows end to end: a Prefect test server, the simulated venue with short rounds, PostgreSQL.

Rounds are 30 s long (active for the last 15 s) so a run takes well under a minute of real time.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.backtest.runner import RoundJob, RoundResult, Variant, run_jobs
from core.clock import WallClock
from core.config import load_settings
from core.engine.assembly import EngineRecipe
from core.live.runner import RoundOutcome
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.risk.state import KillSource, KillSwitch
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.db import make_engine, migrate
from core.store.models import DecisionRow, OrderRow, RoundRow, SettlementRow

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCHEDULE = RoundSchedule(30, 15, 25)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    noisy = MarketMakerConfig(fair_noise=0.06)
    with SimServer(SimConfig(round_seconds=30, seed=17, market_maker=noisy)) as server:
        yield server


@pytest.fixture
def agent_env(sim: SimServer, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, url in sim.urls.model_dump().items():
        if name.endswith("_url"):
            monkeypatch.setenv(f"BTC_AGENT_VENUE__{name.upper()}", url)
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "30")
    monkeypatch.setenv("BTC_AGENT_ACTIVATION_LEAD_SECONDS", "15")
    monkeypatch.setenv("BTC_AGENT_WAKE_LEAD_SECONDS", "25")
    monkeypatch.setenv("BTC_AGENT_RISK__MIN_BOOK_DEPTH_SHARES", "5")
    migrate(postgres_url)
    return postgres_url


def next_round() -> Round:
    """A round whose wake time is at least 2 s away, and the wait until it."""
    now = WallClock().now_ms()
    round_ = SCHEDULE.next_to_wake(now + 2_000)
    time.sleep(max(0.0, (round_.wake_ms - WallClock().now_ms()) / 1000))
    return round_


def run_flow(round_: Round) -> RoundOutcome:
    from flows.round import round_flow

    outcome = asyncio.run(round_flow(round_slug=round_.slug))
    assert outcome is not None
    return outcome


def rows(url: str, kind: type, slug: str) -> list:  # type: ignore[type-arg]
    with Session(make_engine(url)) as session:
        return list(session.exec(select(kind).where(kind.round_slug == slug)).all())  # type: ignore[attr-defined]


def replay_tape(tape: Path, round_: Round) -> RoundResult:
    """The recorded round through `core.backtest.runner`, as `backtest_flow` replays it."""
    settings = load_settings()
    recipe = EngineRecipe(limits=RiskLimits.from_settings(settings.risk))
    job = RoundJob(round_.slug, round_.open_s, str(tape))
    return next(run_jobs([job], Variant("default", {}), recipe, run_id="parity", schedule=SCHEDULE))


def test_a_round_flow_runs_a_round_to_its_settlement_with_records_and_artifacts(
    prefect_server: None, agent_env: str
) -> None:
    round_ = next_round()
    outcome = run_flow(round_)
    assert outcome is not None
    assert outcome.status == "settled"
    assert outcome.winner is not None
    with Session(make_engine(agent_env)) as session:
        stored = session.get(RoundRow, round_.slug)
    assert stored is not None
    assert stored.status == "settled"
    assert len(rows(agent_env, SettlementRow, round_.slug)) == 1
    decisions = rows(agent_env, DecisionRow, round_.slug)
    for decision in decisions:
        assert round_.activation <= decision.ts < round_.close
    tape = Path(load_settings().data_dir / "tapes" / f"{round_.slug}.parquet")
    assert tape.exists()
    replayed = replay_tape(tape, round_)
    assert replayed.digest == outcome.digest, (
        "the backtest of the recorded tape decides exactly as the live run"
    )
    assert replayed.orders == outcome.orders

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def artifacts() -> tuple[dict[str, str], list[str]]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"round-paper-{stamp}%"))
            )
            found += await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="run-history-paper"))
            )
            runs = {artifact.flow_run_id for artifact in found if artifact.key != "run-history-paper"}
            tags = [tag for run in runs if run for tag in (await client.read_flow_run(run)).tags]
            return {artifact.key or "": str(artifact.data) for artifact in found}, tags

    stamp = round_.open.strftime("%Y%m%d-%H%M%S")
    keys, tags = asyncio.run(artifacts())
    assert sorted(keys) == [f"round-paper-{stamp}", "run-history-paper"], "one card per round, keyed by time"
    headline = keys[f"round-paper-{stamp}"].splitlines()[0]
    assert outcome.winner is not None
    assert headline.startswith(f"# {round_.slug}: {outcome.winner.value.upper()} won · P&L ")
    assert "status:settled" in tags
    assert f"winner:{outcome.winner.value}" in tags
    assert any(tag.startswith("pnl:") for tag in tags)
    history = json.loads(keys["run-history-paper"])
    assert history[0]["slug"] == round_.slug, "the newest round heads today's history"
    assert history[0]["status"] == "settled"


def test_a_run_started_after_activation_records_a_missed_activation_and_trades_nothing(
    prefect_server: None, agent_env: str
) -> None:
    now = WallClock().now_ms()
    round_ = SCHEDULE.round_at_ms(now)
    if now < round_.activation_ms or now > round_.close_ms - 3_000:
        time.sleep((round_.close_ms - now) / 1000 + 16)
        round_ = SCHEDULE.round_at_ms(WallClock().now_ms())
    outcome = run_flow(round_)
    assert outcome.status == "missed_activation"
    assert rows(agent_env, OrderRow, round_.slug) == []


def test_a_round_that_already_closed_does_nothing_but_say_so(prefect_server: None, agent_env: str) -> None:
    round_ = SCHEDULE.round_at_ms(WallClock().now_ms()).previous()
    outcome = run_flow(round_)
    assert outcome.status == "closed_before_start"


def test_the_kill_switch_stops_new_orders_within_a_second(prefect_server: None, agent_env: str) -> None:
    from tasks.control import write_kill_switch

    round_ = next_round()
    store = make_engine(agent_env)

    def press_kill() -> None:
        time.sleep(max(0.0, (round_.activation_ms + 4_000 - WallClock().now_ms()) / 1000))
        switch = KillSwitch(engaged=True, reason="test halt", source=KillSource.MANUAL)
        write_kill_switch(store, switch, actor="test", action="halt", reason="kill-switch test")

    presser = threading.Thread(target=press_kill)
    presser.start()
    outcome = run_flow(round_)
    presser.join()
    assert outcome.halted is not None
    seen = outcome.halt_seen_ms
    assert seen is not None
    orders = rows(agent_env, OrderRow, round_.slug)
    late = [order for order in orders if order.ts.timestamp() * 1000 > seen]
    assert late == [], "no order after the halt was seen"
    pressed_ms = round_.activation_ms + 4_000
    assert seen - pressed_ms < 1_000, "the in-flight run noticed within a second"
    write_kill_switch(store, KillSwitch(), actor="test", action="resume", reason="test over")


def test_pausing_the_round_deployment_is_seen_as_a_halt_and_resuming_clears_it(
    prefect_server: None, agent_env: str
) -> None:
    from flows.round import round_flow
    from tasks.control import HaltWatch, set_deployment_paused

    async def scenario() -> tuple[str | None, str | None, str | None]:
        runner_deployment = await round_flow.ato_deployment(name="agent-rounds")
        deployment_id = await runner_deployment.apply()  # type: ignore[misc]
        watch = HaltWatch(make_engine(agent_env), deployment_id=str(deployment_id))
        before = await watch()
        assert await set_deployment_paused(True) == str(deployment_id)
        paused = await watch()
        await set_deployment_paused(False)
        return before, paused, await watch()

    before, paused, after = asyncio.run(scenario())
    assert before is None
    assert paused == "the round deployment was paused"
    assert after is None
