"""The kill switch from the outside, against a running round: the real `btc-agent kill` as a subprocess,
the simulated venue with short rounds, the round runner with the store's halt watch, PostgreSQL behind a
TCP proxy that takes the database away, and a Prefect test server holding the round deployment.

Rounds are 24 s long, active for the last 14 s (trading stops 2 s before the close), so each test takes
one round of real time.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from api.main import create_app
from api.security import create_access_token
from core.adapters.polymarket.gamma import GammaClient
from core.clock import WallClock
from core.config import Settings, load_settings
from core.engine.assembly import EngineRecipe
from core.engine.engine import ListSink
from core.live.halt import halt_path
from core.live.runner import RoundOutcome, RoundRunner
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.risk.state import AccountState, utc_day
from core.sim.faults import FaultRequest
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.auth import Role, UserRow
from core.store.db import make_engine, migrate
from core.store.models import OperatorActionRow, OrderRecord, RiskEventRecord
from tasks.control import HaltWatch, TripResponse, read_kill_switch, set_deployment_paused
from tests.support.api_server import serve_api
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow]

SCHEDULE = RoundSchedule(24, 14, 22)
BTC_AGENT = Path(sys.executable).with_name("btc-agent")
KILL_BOUND_MS = 1_000
API_SECRET = "a-signing-key-for-tests-only-0123456789abcdef"


def now_ms() -> int:
    return WallClock().now_ms()


def next_round() -> Round:
    """The next round whose wake time is at least a second away."""
    return SCHEDULE.next_to_wake(now_ms() + 1_000)


async def until(ts_ms: int) -> None:
    await asyncio.sleep(max(0.0, (ts_ms - now_ms()) / 1000))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    importlib.import_module("prefect.runtime")  # HaltWatch's; a round at its wake has no time to wait for it
    noisy = MarketMakerConfig(fair_noise=0.06)
    with SimServer(SimConfig(round_seconds=SCHEDULE.length_s, seed=23, market_maker=noisy)) as server:
        yield server


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect test server with the round deployment applied; its API URL."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from flows.round import round_flow

    async def deploy() -> None:
        runner_deployment = await round_flow.ato_deployment(name="agent-rounds")
        await runner_deployment.apply()  # type: ignore[misc]

    with prefect_test_harness(server_startup_timeout=60):
        asyncio.run(deploy())
        yield str(PREFECT_API_URL.value())


async def deployment_paused() -> bool:
    from prefect import get_client

    from tasks.control import ROUND_DEPLOYMENT

    async with get_client() as client:
        return bool((await client.read_deployment_by_name(ROUND_DEPLOYMENT)).paused)


@dataclass
class Seat:
    """One round runner and everything around it: its data dir, store, records and what it said."""

    settings: Settings
    store_url: str
    sink: ListSink = field(default_factory=ListSink)
    lines: list[str] = field(default_factory=list)
    outcome: RoundOutcome | None = None

    def orders_after(self, ts_ms: int) -> list[OrderRecord]:
        return [o for o in self.sink.of(OrderRecord) if o.ts.timestamp() * 1000 > ts_ms]

    def control_events(self) -> list[RiskEventRecord]:
        return [r for r in self.sink.of(RiskEventRecord) if r.kind != "verdict"]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BTC_AGENT_", "PREFECT_"))}
        env.update(
            BTC_AGENT_DATA_DIR=str(self.settings.data_dir),
            BTC_AGENT_DATABASE_URL=self.store_url,
            PREFECT_HOME=str(self.settings.data_dir / "prefect-home"),
            DO_NOT_TRACK="1",
        )
        env.update(extra)
        return env


def seat(sim: SimServer, data_dir: Path, store_url: str, **overrides: Any) -> Seat:
    migrate(store_url)
    settings = load_settings(
        data_dir=data_dir,
        database_url=store_url,
        round_seconds=SCHEDULE.length_s,
        activation_lead_seconds=SCHEDULE.activation_lead_s,
        wake_lead_seconds=SCHEDULE.wake_lead_s,
        venue=sim.urls,
        risk={"min_book_depth_shares": 5},
        **overrides,
    )
    return Seat(settings, store_url)


async def run_seat(
    seat_: Seat,
    round_: Round,
    *,
    deployment_id: str | None = None,
    account: AccountState | None = None,
    on_trip: Any = None,
) -> RoundOutcome:
    gamma = GammaClient(seat_.settings.venue.gamma_url)
    try:
        market = await gamma.market(round_.slug)
    finally:
        await gamma.close()
    store = make_engine(seat_.store_url)
    recipe = EngineRecipe(limits=RiskLimits.from_settings(seat_.settings.risk), cutoff_s=2)
    runner = RoundRunner(
        seat_.settings,
        round_,
        market,
        recipe,
        sink=seat_.sink,
        run_id="paper",
        account=account,
        halt_check=HaltWatch(store, deployment_id=deployment_id),
        progress=seat_.lines.append,
        on_trip=on_trip,
    )
    try:
        seat_.outcome = await runner.run()
    finally:
        store.dispose()
    return seat_.outcome


async def kill(seat_: Seat, reason: str, **env: str) -> tuple[int, int, str]:
    """`btc-agent kill` as an operator types it: (start ms, exit status, output)."""
    start = now_ms()
    process = await asyncio.create_subprocess_exec(
        str(BTC_AGENT),
        "kill",
        "--reason",
        reason,
        "--actor",
        "alice",
        env=seat_.env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return start, process.returncode or 0, output.decode()


@pytest.fixture
def proxied_postgres(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The test's PostgreSQL database behind a proxy: `cut()` takes it away, `restore()` gives it back."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.close()


def test_the_kill_command_halts_a_running_round_within_a_second(sim: SimServer, tmp_path: Path) -> None:
    """Three runners trade one round, each on a data dir and store of its own; `btc-agent kill` is run for
    each in turn, during the active window. From the command's start to the engine's halt, and to the last
    order: under a second, every time."""
    seats = [seat(sim, tmp_path / f"run{i}", f"sqlite:///{tmp_path / f'run{i}.sqlite'}") for i in range(3)]
    round_ = next_round()

    async def scenario() -> list[tuple[int, int, str]]:
        await until(round_.wake_ms)
        runs = [asyncio.create_task(run_seat(s, round_)) for s in seats]

        async def kill_at(i: int, s: Seat) -> tuple[int, int, str]:
            # Each kill at its own time, not after the previous command ends: the command runs on after the
            # halt (store flag, deployment), ~4 s on a busy machine, and three in a row would outlast the round.
            await until(round_.activation_ms + 2_000 + i * 3_000)
            return await kill(s, f"latency probe {i}")

        kills = await asyncio.gather(*(kill_at(i, s) for i, s in enumerate(seats)))
        await asyncio.gather(*runs)
        return list(kills)

    kills = asyncio.run(scenario())
    latencies = []
    for s, (start, status, output) in zip(seats, kills, strict=True):
        assert s.outcome is not None
        assert status == 0, output
        assert "halt file   done" in output
        assert s.outcome.halted == f"halted by operator alice: latency probe {seats.index(s)}"
        assert s.outcome.halt_seen_ms is not None
        latency = s.outcome.halt_seen_ms - start
        latencies.append(latency)
        assert latency < KILL_BOUND_MS, f"kill to halt took {latency} ms"
        assert s.orders_after(start + KILL_BOUND_MS) == [], "no order a second after the kill started"
        assert s.orders_after(s.outcome.halt_seen_ms) == [], "no order after the halt"
        assert s.outcome.status == "halted"
    orders = [len(s.sink.of(OrderRecord)) for s in seats]
    print(f"\nkill command start -> engine halt: {latencies} ms; orders placed before it: {orders}")


@pytest.mark.postgres
def test_a_kill_during_a_database_outage_halts_the_round_and_pauses_the_deployment(
    sim: SimServer, prefect_api: str, proxied_postgres: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    url, proxy = proxied_postgres
    s = seat(sim, tmp_path / "data", url)
    round_ = next_round()

    async def scenario() -> tuple[int, int, str, float, bool]:
        deployment_id = await set_deployment_paused(False)
        await until(round_.wake_ms)
        run = asyncio.create_task(run_seat(s, round_, deployment_id=deployment_id))
        await until(round_.activation_ms + 2_000)
        proxy.cut()
        await asyncio.sleep(0.5)
        start, status, output = await kill(s, "database is gone", PREFECT_API_URL=prefect_api)
        took = (now_ms() - start) / 1000
        paused = await deployment_paused()
        await run
        await set_deployment_paused(False)
        return start, status, output, took, paused

    start, status, output, took, paused = asyncio.run(scenario())
    assert s.outcome is not None
    assert status == 1, output
    assert "halt file   done" in output
    assert "store flag  failed   NOT SET" in output
    assert "deployment  done     round-flow/agent-rounds paused" in output
    assert "halted, but not everywhere" in output
    assert paused
    assert s.outcome.halted == "halted by operator alice: database is gone"
    assert s.outcome.halt_seen_ms is not None
    assert s.outcome.halt_seen_ms - start < KILL_BOUND_MS
    assert s.orders_after(start + KILL_BOUND_MS) == []
    print(
        f"\nkill with the database down: halt after {s.outcome.halt_seen_ms - start} ms, command {took:.1f} s"
    )


@pytest.mark.postgres
def test_an_unreadable_kill_switch_stops_new_orders_after_the_grace_and_trading_resumes_after(
    sim: SimServer, proxied_postgres: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    url, proxy = proxied_postgres
    s = seat(sim, tmp_path / "data", url, kill_switch_grace_seconds=1.5)
    round_ = next_round()
    cut_ms = round_.activation_ms + 1_000
    restored_ms = cut_ms + 5_000

    async def scenario() -> None:
        await until(round_.wake_ms)
        run = asyncio.create_task(run_seat(s, round_))
        await until(cut_ms)
        proxy.cut()
        await until(restored_ms)
        proxy.restore()
        await run

    asyncio.run(scenario())
    assert s.outcome is not None
    assert s.outcome.halted is None
    assert s.outcome.status == "settled"
    events = [(e.kind, e.reason_code, e.ts.timestamp() * 1000) for e in s.control_events()]
    assert [(kind, code) for kind, code, _ in events] == [
        ("trip", "kill_switch_unreadable"),
        ("reset", "kill_switch_unreadable"),
    ], s.lines
    (_, _, suspended), (_, _, resumed) = events
    assert cut_ms + 500 <= suspended <= cut_ms + 2_600, "suspended once the grace ran out"
    assert restored_ms <= resumed <= restored_ms + 2_000, "resumed by itself once readable"
    during = [o for o in s.sink.of(OrderRecord) if suspended <= o.ts.timestamp() * 1000 <= resumed]
    assert during == []
    assert any("FAIL CLOSED - kill switch state unknown (store and Prefect unreadable" in x for x in s.lines)
    assert any("kill switch readable again and not engaged: trading resumes" in x for x in s.lines)
    print(
        f"\nsuspended {suspended - cut_ms:.0f} ms after the cut, resumed {resumed - restored_ms:.0f} ms after"
    )


def test_a_stale_feed_halts_only_its_round_and_a_daily_loss_pauses_the_deployment(
    sim: SimServer, prefect_api: str, tmp_path: Path
) -> None:
    """Two runners in one round, each answering trips with the round task's own `TripResponse`: one on a
    venue whose market channel falls silent (a stale feed: the round stops trading until it is back, and the
    deployment runs on), one whose day's loss already stands at the limit (its settlement trips the daily
    loss, and the deployment is paused for a human)."""
    quiet_sim = SimServer(SimConfig(round_seconds=SCHEDULE.length_s, seed=29)).start()
    stale = seat(quiet_sim, tmp_path / "stale", f"sqlite:///{tmp_path / 'stale.sqlite'}")
    losing = seat(sim, tmp_path / "losing", f"sqlite:///{tmp_path / 'losing.sqlite'}")
    round_ = next_round()
    limits = RiskLimits.from_settings(losing.settings.risk)
    at_the_limit = AccountState(day=utc_day(round_.open_ms), daily_pnl=-limits.max_daily_loss)
    logger = logging.getLogger("test.kill_switch.trips")
    stale_response, losing_response = TripResponse(logger), TripResponse(logger)

    async def scenario() -> tuple[bool, bool]:
        await set_deployment_paused(False)
        await until(round_.wake_ms)
        runs = [
            asyncio.create_task(run_seat(stale, round_, on_trip=stale_response)),
            asyncio.create_task(run_seat(losing, round_, account=at_the_limit, on_trip=losing_response)),
        ]
        await until(round_.activation_ms + 500)
        quiet_sim.venue.arm_faults(FaultRequest(silence={"market": 8.0}))
        await until(round_.activation_ms + 500 + 8_000)
        paused_after_stale = await deployment_paused()
        await asyncio.gather(*runs)
        await stale_response.wait()
        await losing_response.wait()
        paused_after_loss = await deployment_paused()
        await set_deployment_paused(False)
        return paused_after_stale, paused_after_loss

    try:
        paused_after_stale, paused_after_loss = asyncio.run(scenario())
    finally:
        quiet_sim.stop()
    trips = [(e.kind, e.reason_code) for e in stale.control_events()]
    assert ("trip", "stale_feed") in trips, stale.lines
    assert ("reset", "stale_feed") in trips, "the feed came back and released the round's trip"
    assert not paused_after_stale, "a stale feed leaves the deployment running"
    assert stale.outcome is not None
    assert stale.outcome.halted is None
    assert [(e.kind, e.reason_code) for e in losing.control_events()] == [("trip", "daily_loss")]
    assert paused_after_loss, "a daily-loss trip pauses the deployment"


def test_the_api_kill_switch_halts_a_running_round_pauses_the_deployment_and_resume_undoes_it(
    sim: SimServer, prefect_api: str, tmp_path: Path
) -> None:
    """An operator presses the kill switch over HTTP (the API served on loopback) during a round: the round
    halts and places nothing a second after the request started, the deployment is paused, the store's flag
    set, the operator action recorded with the client's address; the release undoes each layer."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    s = seat(sim, tmp_path / "data", url, api={"jwt_secret": API_SECRET})
    store = make_engine(url)
    with Session(store, expire_on_commit=False) as session:
        olivia = UserRow(name="olivia", role=Role.OPERATOR.value, password_hash="-")
        session.add(olivia)
        session.commit()
    token = create_access_token(olivia.id, API_SECRET, now=datetime.now(UTC), lifetime=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    round_ = next_round()

    async def scenario(base_url: str) -> dict[str, Any]:
        deployment_id = await set_deployment_paused(False)
        await until(round_.wake_ms)
        run = asyncio.create_task(run_seat(s, round_, deployment_id=deployment_id))
        await until(round_.activation_ms + 2_000)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            start = now_ms()
            engaged = await client.post("/kill-switch", json={"engaged": True, "reason": "api probe"})
            paused = await deployment_paused()
            await run
            released = await client.post("/kill-switch", json={"engaged": False, "reason": "all clear"})
        resumed = not await deployment_paused()
        return {
            "start": start,
            "engaged": engaged,
            "paused": paused,
            "released": released,
            "resumed": resumed,
        }

    with serve_api(create_app(s.settings)) as base_url:
        found = asyncio.run(scenario(base_url))

    engaged, released = found["engaged"], found["released"]
    assert engaged.status_code == 200, engaged.text
    assert [(step["layer"], step["outcome"]) for step in engaged.json()["steps"]] == [
        ("halt file", "done"),
        ("store flag", "done"),
        ("deployment", "done"),
    ]
    assert found["paused"], "the deployment is paused"
    assert s.outcome is not None
    assert s.outcome.halted == "halted by operator olivia: api probe"
    assert s.outcome.halt_seen_ms is not None
    latency = s.outcome.halt_seen_ms - found["start"]
    assert latency < KILL_BOUND_MS, f"request to halt took {latency} ms"
    assert s.orders_after(found["start"] + KILL_BOUND_MS) == [], "no order a second after the request"
    assert released.status_code == 200, released.text
    assert released.json()["complete"] is True
    assert found["resumed"], "the release resumed the deployment"
    assert not read_kill_switch(store).engaged
    assert not halt_path(s.settings.data_dir).exists()
    with Session(store) as session:
        done = session.exec(select(OperatorActionRow).order_by(col(OperatorActionRow.ts))).all()
    assert [(a.actor, a.action, a.details["client"]) for a in done] == [
        ("olivia", "halt", "127.0.0.1"),
        ("olivia", "resume", "127.0.0.1"),
    ]
    store.dispose()
    print(f"\nAPI kill request -> engine halt: {latency} ms")
