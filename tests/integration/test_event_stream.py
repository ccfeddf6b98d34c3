"""The live stream from the outside: a paper round on the simulated venue writes through its outbox to the
store (and to Redis when set), the API is served on loopback, and a client reads `GET /events/stream` over
HTTP as the console does. Every decision the engine makes must be on the stream within a second of being
made, from the store alone and through Redis; the round's state comes about once a second.

Rounds are 16 s long (active for the last 10 s); venue, agent and API share a clock set a little before a
round opens, so a test runs one round without waiting for the wall clock to reach one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from api.main import create_app
from api.security import create_access_token
from core.adapters.polymarket.gamma import GammaClient
from core.clock import datetime_to_ms
from core.config import Settings, load_settings
from core.engine.assembly import EngineRecipe
from core.engine.policy import PolicyConfig
from core.live.controls import ControlsWatch
from core.live.runner import RoundOutcome, RoundRunner
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.auth import Role, UserRow
from core.store.db import make_engine, migrate
from core.store.models import DecisionRow, FillRow, OrderRow, RiskEventRow, SettlementRow
from core.store.outbox import Outbox
from tests.support.api_server import serve_api
from tests.support.clocks import ShiftedClock
from tests.support.redis_server import redis_or_skip

pytestmark = [pytest.mark.slow]

ROUND_S, ACTIVATION_S = 16, 10
SCHEDULE = RoundSchedule(ROUND_S, ACTIVATION_S, ROUND_S)
SECRET = "a-signing-key-for-tests-only-0123456789abcdef"
BOUND_MS = 1_000
RECIPE = EngineRecipe(
    limits=RiskLimits(
        max_trades_per_round=3, max_notional_per_trade=Decimal(10), min_book_depth_shares=Decimal(5)
    ),
    strategies=("fair_value", "momentum", "mean_reversion"),
    params={"fair_value": {"margin": 0.0, "size": Decimal(10)}},
    policy=PolicyConfig(min_interval_ms=1_000),
    cutoff_s=1,
)


@dataclass
class Venue:
    server: SimServer
    clock: ShiftedClock
    round: Round


@pytest.fixture
def sim() -> Iterator[Venue]:
    wall = time.time_ns() // 1_000_000
    round_ = SCHEDULE.round_at_ms(wall).next().next()
    clock = ShiftedClock(round_.open_ms - 5_000 - wall)  # room to start the venue and the API when busy
    config = SimConfig(
        round_seconds=ROUND_S, seed=31, annual_vol=4.0, market_maker=MarketMakerConfig(fair_noise=0.06)
    )
    with SimServer(config, clock=clock) as server:
        yield Venue(server, clock, round_)


@dataclass
class Heard:
    """What the stream's client read: each event's name, data and when it arrived (the shared clock)."""

    events: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)

    def of(self, name: str) -> list[tuple[dict[str, Any], int]]:
        return [(data, at) for event, data, at in self.events if event == name]

    def events_of_table(self, table: str) -> list[tuple[dict[str, Any], int]]:
        return [
            (data, at) for event, data, at in self.events if event != "state" and data.get("kind") == table
        ]


async def listen(base_url: str, token: str, clock: ShiftedClock, heard: Heard, ready: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=None) as client,
        client.stream("GET", "/events/stream", headers=headers, params={"mode": "paper"}) as answer,
    ):
        assert answer.status_code == 200, await answer.aread()
        ready.set()
        event = "message"
        async for line in answer.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                heard.events.append((event, json.loads(line.removeprefix("data:").strip()), clock.now_ms()))
            elif not line:
                event = "message"


async def switch_everything_off(base_url: str, token: str, clock: ShiftedClock, at_ms: int) -> int:
    """An admin, over HTTP: every strategy off and a tighter trade limit; when the last request ended."""
    await clock.sleep_until(at_ms)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        limits = await client.patch(
            "/risk/limits", json={"changes": {"max_trades_per_round": 2}, "reason": "calm down"}
        )
        assert limits.status_code == 200, limits.text
        for name in RECIPE.strategies:
            answer = await client.put(f"/strategies/{name}", json={"enabled": False, "reason": "enough"})
            assert answer.status_code == 200, answer.text
    return clock.now_ms()


def run_with_stream(
    sim: Venue, tmp_path: Path, *, redis_url: str | None, switch_off_after_s: float | None = None
) -> tuple[Heard, RoundOutcome, str, int | None]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    migrate(url)
    settings: Settings = load_settings(
        data_dir=tmp_path,
        database_url=url,
        round_seconds=ROUND_S,
        activation_lead_seconds=ACTIVATION_S,
        wake_lead_seconds=ROUND_S,
        venue=sim.server.urls,
        api={"jwt_secret": SECRET},
        redis_url=redis_url,
        redis_namespace=f"test-{uuid.uuid4().hex[:8]}",
    )
    store = make_engine(url)
    with Session(store, expire_on_commit=False) as session:
        user = UserRow(name="watcher", role=Role.VIEWER.value, password_hash="-")
        admin = UserRow(name="ada", role=Role.ADMIN.value, password_hash="-")
        session.add_all([user, admin])
        session.commit()
    token = create_access_token(user.id, SECRET, now=sim.clock.now(), lifetime=timedelta(hours=1))
    admin_token = create_access_token(admin.id, SECRET, now=sim.clock.now(), lifetime=timedelta(hours=1))
    heard = Heard()
    switched: list[int] = []
    outbox = Outbox(tmp_path / "spool", url).start()

    async def scenario(base_url: str) -> RoundOutcome:
        client = GammaClient(settings.venue.gamma_url)
        try:
            market = await client.market(sim.round.slug)
        finally:
            await client.close()
        ready = asyncio.Event()
        listener = asyncio.create_task(listen(base_url, token, sim.clock, heard, ready))
        await asyncio.wait_for(ready.wait(), 10)
        await sim.clock.sleep_until(sim.round.open_ms + 200)
        runner = RoundRunner(
            settings,
            sim.round,
            market,
            RECIPE,
            sink=outbox,
            run_id="paper",
            clock=sim.clock,
            controls_check=ControlsWatch(store, RECIPE.limits),
        )
        operator = None
        if switch_off_after_s is not None:
            at_ms = sim.round.activation_ms + int(switch_off_after_s * 1000)
            operator = asyncio.create_task(switch_everything_off(base_url, admin_token, sim.clock, at_ms))
        outcome = await runner.run()
        if operator is not None:
            switched.append(await operator)
        await asyncio.sleep(1.5)  # the last records through the outbox and onto the stream
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        return outcome

    try:
        with serve_api(create_app(settings, clock=sim.clock)) as base_url:
            outcome = asyncio.run(scenario(base_url))
    finally:
        outbox.close()
        store.dispose()
    return heard, outcome, url, switched[0] if switched else None


def check(heard: Heard, url: str, source: str) -> None:
    with Session(make_engine(url)) as session:
        made = {row.id: row for row in session.exec(select(DecisionRow)).all()}
    streamed = {data["row"]["id"]: at for data, at in heard.of("decision")}
    assert made, "the round decided something"
    assert set(streamed) == set(made), "every decision the round stored is on the stream, once"
    assert len(heard.of("decision")) == len(made)
    latencies = sorted(streamed[key] - int(row.ts.timestamp() * 1000) for key, row in made.items())
    p50, p99 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\n{source}: {len(latencies)} decisions, made -> on the stream p50 {p50} ms, p99 {p99} ms, max {latencies[-1]} ms"
    )
    assert latencies[-1] < BOUND_MS, f"a decision reached the stream {latencies[-1]} ms after it was made"
    states = heard.of("state")
    assert len(states) >= ROUND_S - 6, "about one state a second while the round runs"
    assert {data["round_slug"] for data, _ in states} == {made[next(iter(made))].round_slug}
    with Session(make_engine(url)) as session:
        models: tuple[Any, ...] = (OrderRow, FillRow, RiskEventRow, SettlementRow)
        for model in models:
            stored = {row.id for row in session.exec(select(model)).all()}
            kind = str(model.__tablename__)
            streamed_ids = [data["row"]["id"] for data, _ in heard.events_of_table(kind)]
            assert sorted(streamed_ids) == sorted(stored), f"every row of {kind} streamed once"
    assert heard.of("settlement"), "the round's settlement too"


def test_decisions_reach_the_stream_from_the_store_within_a_second_and_controls_apply_at_once(
    sim: Venue, tmp_path: Path
) -> None:
    """With the store alone; halfway through the active window an admin switches every strategy off and
    tightens a limit over HTTP: the round applies both from its next evaluation (it reads them each second),
    records the change, and decides nothing more."""
    heard, outcome, url, switched_ms = run_with_stream(sim, tmp_path, redis_url=None, switch_off_after_s=5)
    assert outcome.status == "settled"
    check(heard, url, "store")
    assert switched_ms is not None
    controls = [data["row"] for data, _ in heard.of("risk_event") if data["row"]["kind"] == "control"]
    assert controls, "the change is recorded, and streamed"
    changed = {key: value for row in controls for key, value in row["details"].items()}
    assert changed == {"disabled": sorted(RECIPE.strategies), "limits": {"max_trades_per_round": [3, 2]}}
    applied_ms = max(datetime_to_ms(datetime.fromisoformat(row["ts"])) for row in controls)
    assert applied_ms - switched_ms < 1_500, "applied within a poll (1 s) of the last request"
    later = [
        data["row"]
        for data, _ in heard.of("decision")
        if datetime_to_ms(datetime.fromisoformat(data["row"]["ts"])) > applied_ms
    ]
    assert later == [], "no strategy evaluated once they were off"


def test_decisions_reach_the_stream_through_redis_within_a_second(sim: Venue, tmp_path: Path) -> None:
    redis_url = redis_or_skip()
    heard, outcome, url, _ = run_with_stream(sim, tmp_path, redis_url=redis_url)
    assert outcome.status == "settled"
    assert not any(event == "notice" for event, _, _ in heard.events), "Redis served the whole stream"
    check(heard, url, "redis")
