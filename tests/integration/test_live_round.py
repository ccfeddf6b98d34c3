"""Live rounds end to end against the simulated venue, with the real py-clob-client-v2 and nothing mocked:
orders reach the venue's ledger, fills come back through the user channel, and the store holds exactly what
the venue holds; a paper round leaves the venue untouched; a live start that cannot trade says why in one
line and places nothing.

Rounds are 16 s long (active for the last 8 s). Venue and agent share a clock set a little before a round
opens, so a test runs one round without waiting for the wall clock to reach one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from eth_account import Account
from pydantic import SecretStr
from sqlmodel import Session, select

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest
from core.adapters.polymarket.gamma import GammaClient, MarketInfo
from core.clock import ms_to_datetime
from core.config import Settings
from core.engine.assembly import EngineRecipe
from core.engine.engine import ListSink
from core.engine.policy import PolicyConfig
from core.errors import LiveStartError
from core.events import OrderType, Side
from core.live.publish import PUBLISHED, RedisPublisher, events_channel, state_key
from core.live.reconcile import apply_reconciliation
from core.live.recovery import RoundHistory, load_history, venue_order_ids
from core.live.runner import RoundOutcome, RoundRunner
from core.live.venue_session import (
    LiveVenueSession,
    Reconciliation,
    open_live_session,
    round_spend_bound,
)
from core.market.fees import CRYPTO_FEES_V2
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.db import make_engine, migrate
from core.store.models import (
    DecisionRecord,
    FillRecord,
    FillRow,
    HeartbeatRecord,
    HeartbeatRow,
    OrderEventRecord,
    OrderEventRow,
    OrderRecord,
    OrderRow,
    RiskEventRecord,
    table_of,
)
from core.store.outbox import Outbox
from core.store.writer import insert_rows
from tests.support.clocks import ShiftedClock
from tests.support.redis_server import redis_or_skip

KEY = "0x" + "5c" * 32
ADDRESS = Account.from_key(KEY).address
ROUND_S, ACTIVATION_S = 16, 10
SCHEDULE = RoundSchedule(ROUND_S, ACTIVATION_S, ROUND_S)
LIMITS = RiskLimits(
    max_trades_per_round=3, max_notional_per_trade=Decimal(10), min_book_depth_shares=Decimal(5)
)
RECIPE = EngineRecipe(
    limits=LIMITS,
    strategies=("fair_value",),
    params={"fair_value": {"margin": 0.0, "size": Decimal(10)}},
    policy=PolicyConfig(min_interval_ms=1_000),
    cutoff_s=1,
)


@dataclass(slots=True)
class Venue:
    server: SimServer
    clock: ShiftedClock
    round: Round

    def ledger(self) -> dict[str, Any]:
        """Our wallet's orders and trades as the venue holds them."""
        accounts = httpx.get(f"{self.server.base_url}/_sim/ledger").json()["accounts"]
        ours = [account for account in accounts if account["address"].lower() == ADDRESS.lower()]
        return ours[0] if ours else {"orders": [], "trades": []}


def venue(**config: Any) -> Iterator[Venue]:
    """A simulated venue whose clock stands 3 s before the opening of a round."""
    wall = time.time_ns() // 1_000_000
    round_ = SCHEDULE.round_at_ms(wall).next().next()
    clock = ShiftedClock(round_.open_ms - 1_500 - wall)
    noisy = MarketMakerConfig(fair_noise=0.06)
    sim_config = SimConfig(
        round_seconds=ROUND_S, seed=23, annual_vol=4.0, twap=False, market_maker=noisy, **config
    )
    with SimServer(sim_config, clock=clock) as server:
        yield Venue(server, clock, round_)


@pytest.fixture
def sim() -> Iterator[Venue]:
    yield from venue()


@pytest.fixture
def delayed_sim() -> Iterator[Venue]:
    """The venue as the real crypto markets are since 2026: a taker waits about 250 ms as `delayed`."""
    yield from venue(taker_delay_ms=250)


def settings_for(sim: Venue, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mode": "live",
        "private_key": SecretStr(KEY),
        "live_confirmed": True,
        "round_seconds": ROUND_S,
        "activation_lead_seconds": ACTIVATION_S,
        "wake_lead_seconds": ROUND_S,
        "venue": sim.server.urls,
    }
    values.update(overrides)
    return Settings(**values)


async def discover(settings: Settings, slug: str) -> MarketInfo:
    client = GammaClient(settings.venue.gamma_url)
    try:
        return await client.market(slug)
    finally:
        await client.close()


async def run_round(
    sim: Venue, settings: Settings, market: MarketInfo, sink: Any, session: LiveVenueSession | None
) -> RoundOutcome:
    await sim.clock.sleep_until(sim.round.open_ms + 200)
    runner = RoundRunner(
        settings,
        sim.round,
        market,
        RECIPE,
        sink=sink,
        run_id=settings.mode,
        clock=sim.clock,
        venue=session,
    )
    return await runner.run()


def store_rows(url: str, kind: type, slug: str | None = None) -> list[Any]:
    with Session(make_engine(url)) as session:
        query: Any = select(kind)
        if slug is not None:
            query = query.where(kind.round_slug == slug)  # type: ignore[attr-defined]
        return list(session.exec(query).all())


@pytest.mark.slow
def test_a_live_round_trades_on_the_venue_and_the_store_equals_its_ledger(
    delayed_sim: Venue, tmp_path: Path
) -> None:
    sim = delayed_sim
    settings = settings_for(sim)
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    outbox = Outbox(tmp_path / "spool", url).start()

    async def scenario() -> tuple[RoundOutcome, LiveVenueSession]:
        market = await discover(settings, sim.round.slug)
        session = await open_live_session(settings, market, LIMITS, clock=sim.clock, heartbeat_interval_s=1.0)
        return await run_round(sim, settings, market, outbox, session), session

    outcome, session = asyncio.run(scenario())
    assert outbox.close(30.0), "the outbox drained"
    assert outcome.status == "settled"
    assert outcome.orders > 0, "the strategy traded (else this test proves nothing)"
    assert session.heartbeats > 0

    orders = store_rows(url, OrderRow, sim.round.slug)
    fills = store_rows(url, FillRow, sim.round.slug)
    events = store_rows(url, OrderEventRow)
    assert {order.mode for order in orders} == {"live"}
    venue_id = {event.order_id: event.venue_order_id for event in events if event.venue_order_id}
    assert set(venue_id) == {order.id for order in orders}, "every order is known to the venue by its id"

    ledger = sim.ledger()
    assert {
        order["id"]: (
            order["asset_id"],
            order["side"],
            Decimal(order["price"]),
            Decimal(order["original_size"]),
        )
        for order in ledger["orders"]
    } == {
        venue_id[order.id]: (order.token_id, order.side, Decimal(order.price), Decimal(order.size))
        for order in orders
    }
    assert ledger["trades"], "some orders filled"
    assert {
        trade["id"]: (
            trade["order_id"],
            Decimal(trade["price"]),
            Decimal(trade["size"]),
            Decimal(trade["fee"]),
        )
        for trade in ledger["trades"]
    } == {
        fill.trade_id: (venue_id[fill.order_id], Decimal(fill.price), Decimal(fill.size), Decimal(fill.fee))
        for fill in fills
    }, "each venue trade is booked once, from the user channel, with the venue's price, size and fee"
    assert outcome.fills == len(fills)
    assert all(order["status"] != "LIVE" for order in ledger["orders"]), "nothing rests after the round"
    beats = sorted(store_rows(url, HeartbeatRow), key=lambda row: row.ts)
    assert {row.component for row in beats} == {"round:live"}, (
        "the state reached the store through the outbox"
    )
    assert beats[-1].details["outbox"]["written"] > 0
    assert "user" in beats[-1].details["feeds"], "the user channel's health is in the live state"


@pytest.mark.slow
def test_a_paper_round_leaves_the_ledger_empty_and_publishes_its_state_every_second(sim: Venue) -> None:
    settings = settings_for(sim, mode="paper", live_confirmed=False, private_key=None)
    sink = ListSink()

    async def scenario() -> RoundOutcome:
        market = await discover(settings, sim.round.slug)
        return await run_round(sim, settings, market, sink, None)

    outcome = asyncio.run(scenario())
    assert outcome.status == "settled"
    assert outcome.orders > 0, "the strategy traded on paper"
    assert sim.ledger() == {"orders": [], "trades": []}
    accounts = httpx.get(f"{sim.server.base_url}/_sim/ledger").json()["accounts"]
    assert accounts == [], "paper mode never even derived API credentials"

    rows = sink.rows
    beats = [(i, row) for i, row in enumerate(rows) if isinstance(row, HeartbeatRecord)]
    states = [row.details for _, row in beats]
    assert len(beats) >= ROUND_S - 3, "about one state a second while the round runs"
    assert {row.component for _, row in beats} == {"round:paper"}
    assert {state["round_slug"] for state in states} == {sim.round.slug}
    phases = [state["phase"] for state in states]
    assert [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]] == [
        "warmup",
        "active",
        "cutoff",
        "closing",
    ]
    to_close = [state["seconds_to_close"] for state in states]
    assert to_close == sorted(to_close, reverse=True)
    assert {"market", "rtds"} <= set(states[-1]["feeds"])
    assert any(state["books"]["up"]["synced"] and state["books"]["down"]["synced"] for state in states)
    for i, beat in beats:
        decisions = [row for row in rows[:i] if isinstance(row, DecisionRecord)]
        shown = beat.details["latest_decision"]
        assert (shown is None) == (not decisions)
        if decisions:
            assert (shown["strategy"], shown["reason"]) == (decisions[-1].strategy, decisions[-1].reason)
    last = states[-1]
    assert last["engine"]["events"] > 0
    assert last["engine"]["orders"] == outcome.orders
    assert last["latency"]["samples"] > 0
    assert 0 <= last["latency"]["p50_ms"] <= last["latency"]["p99_ms"] <= last["latency"]["max_ms"]
    fills = [row for row in rows if isinstance(row, FillRecord)]
    bought = {
        o: sum((Decimal(f.size) for f in fills if f.outcome == o and f.side == "BUY"), Decimal(0))
        for o in ("up", "down")
    }
    sold = {
        o: sum((Decimal(f.size) for f in fills if f.outcome == o and f.side == "SELL"), Decimal(0))
        for o in ("up", "down")
    }
    assert {o: Decimal(v) for o, v in states[-1]["shares"].items()} == {
        o: bought[o] - sold[o] for o in bought
    }


def start(sim: Venue, settings: Settings, limits: RiskLimits = LIMITS) -> str:
    async def scenario() -> None:
        market = await discover(settings, sim.round.slug)
        await open_live_session(settings, market, limits, clock=sim.clock)

    with pytest.raises(LiveStartError) as caught:
        asyncio.run(scenario())
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("live start refused: ")
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__, "no chained traceback"
    assert sim.ledger()["orders"] == []
    return line


def test_a_malformed_key_is_refused_in_one_line(sim: Venue) -> None:
    line = start(sim, settings_for(sim, private_key=SecretStr("0x1234")))
    assert "BTC_AGENT_PRIVATE_KEY is not a usable private key" in line
    assert "0x1234" not in line


def test_wrong_api_credentials_are_refused_in_one_line(sim: Venue) -> None:
    wrong = {name: SecretStr("wrong-" + name) for name in ("api_key", "api_secret", "api_passphrase")}
    line = start(sim, settings_for(sim, **wrong))
    assert "rejected BTC_AGENT_API_KEY" in line
    assert "Unauthorized" in line
    assert "wrong-" not in line, "no secret in the message"


def test_partial_api_credentials_are_refused_in_one_line(sim: Venue) -> None:
    line = start(sim, settings_for(sim, api_key=SecretStr("k")))
    assert "go together" in line


def test_an_unreachable_venue_is_refused_in_one_line(sim: Venue) -> None:
    dead = sim.server.urls.model_copy(update={"clob_url": "http://127.0.0.1:9/clob"})
    line = start(sim, settings_for(sim, venue=dead))
    assert line.startswith("live start refused: the venue at http://127.0.0.1:9/clob is unreachable")


def test_paper_mode_cannot_open_a_live_session(sim: Venue) -> None:
    line = start(sim, settings_for(sim, mode="paper", live_confirmed=False))
    assert "BTC_AGENT_LIVE_CONFIRMED" in line


@pytest.fixture
def unfunded() -> Iterator[Venue]:
    yield from venue(initial_collateral=Decimal(0))


def test_an_unfunded_wallet_is_refused_in_one_line(unfunded: Venue) -> None:
    line = start(unfunded, settings_for(unfunded))
    required = round_spend_bound(LIMITS, CRYPTO_FEES_V2, Decimal("0.01"))
    assert line.startswith(f"live start refused: unfunded wallet {ADDRESS}: 0.00 pUSD available")
    assert f"{required} needed" in line


@pytest.fixture
def unapproved() -> Iterator[Venue]:
    yield from venue(collateral_allowance=Decimal(5))


def test_a_missing_allowance_is_refused_in_one_line(unapproved: Venue) -> None:
    line = start(unapproved, settings_for(unapproved))
    assert line.startswith(f"live start refused: missing allowance: wallet {ADDRESS} lets the exchange")
    assert "spend 5.00 pUSD" in line


def test_the_spend_bound_is_the_smaller_of_the_trade_and_position_bounds() -> None:
    fees = CRYPTO_FEES_V2
    by_trades = round_spend_bound(RiskLimits(), fees, Decimal("0.01"))
    # 4 trades x 25 pUSD, plus the highest fee per unit of notional (at 1 cent: 0.07 x 0.99).
    assert by_trades == Decimal("106.93")
    by_position = round_spend_bound(RiskLimits(max_position_shares=Decimal(10)), fees, Decimal("0.01"))
    # 2 outcomes x 10 shares x (0.95 + 0.07 x 0.95 x 0.05) at most.
    assert by_position == Decimal("19.07")
    assert round_spend_bound(RiskLimits(max_trades_per_round=0), fees, Decimal("0.01")) == 0


def test_a_trade_reported_at_every_status_is_booked_once() -> None:
    from dataclasses import replace

    from core.adapters.polymarket.user_parser import UserParser
    from core.events import Fill, Liquidity, Outcome, Side, TradeStatus
    from core.live.venue_session import FirstReports
    from core.sim.frames import trade_frame
    from core.sim.matching import Trade

    matched = Trade(
        trade_id="t-1",
        order_id="0xabc",
        owner="key",
        market="0xcond",
        token_id="up",
        outcome=Outcome.UP,
        side=Side.BUY,
        price=Decimal("0.5"),
        size=Decimal(10),
        fee=Decimal("0.175"),
        liquidity=Liquidity.TAKER,
        status=TradeStatus.MATCHED,
        match_ms=1_000,
        updated_ms=1_000,
        taker_order_id="0xabc",
    )
    parse = FirstReports(
        UserParser(api_key="key", fee_schedule=CRYPTO_FEES_V2, client_ids={"0xabc": "o-1"}).parse
    )
    statuses = (TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED, TradeStatus.FAILED)
    booked = [
        event
        for status in statuses
        for event in parse(trade_frame(replace(matched, status=status), 700, ADDRESS).decode(), 2_000)
    ]
    assert [(f.order_id, f.trade_id, f.status) for f in booked if isinstance(f, Fill)] == [
        ("o-1", "t-1", TradeStatus.MATCHED)
    ]


# --- a resumed round squares the store with the venue ------------------------------------------------


def place(port: ClobOrderPort, token: str, price: str, order_type: OrderType) -> str:
    """One BUY of an earlier attempt, straight to the venue; its venue order id."""
    request = OrderRequest(
        token_id=token, side=Side.BUY, price=Decimal(price), size=Decimal(5), order_type=order_type
    )
    return port.place(request).venue_order_id


def record(url: str, slug: str, orders: dict[str, tuple[str, str]], trades: list[dict[str, Any]]) -> None:
    """What the earlier attempt got into the store: its orders (our id -> venue id, token), their venue
    ids, and the fills of `trades` (ledger entries)."""
    ours = {venue_id: order_id for order_id, (venue_id, _) in orders.items()}
    rows: list[Any] = []
    for order_id, (venue_id, token) in orders.items():
        rows.append(
            OrderRecord(
                id=order_id,
                round_slug=slug,
                run_id="live",
                mode="live",
                token_id=token,
                outcome="up",
                side="BUY",
                order_type="GTC",
                price=Decimal("0.5"),
                size=Decimal(5),
            )
        )
        rows.append(
            OrderEventRecord(
                order_id=order_id, status="live", filled_size=Decimal(0), venue_order_id=venue_id
            )
        )
    for trade in trades:
        rows.append(
            FillRecord(
                order_id=ours[trade["order_id"]],
                round_slug=slug,
                run_id="live",
                mode="live",
                trade_id=trade["id"],
                token_id=trade["asset_id"],
                outcome="up",
                side=trade["side"],
                price=Decimal(trade["price"]),
                size=Decimal(trade["size"]),
                fee=Decimal(trade["fee"]),
                liquidity="taker",
                status="MATCHED",
            )
        )
    insert_rows(make_engine(url), [(table_of(row), row.model_dump()) for row in rows])


def reconciled(
    sim: Venue, url: str, dead_attempt: Callable[[ClobOrderPort, MarketInfo], None]
) -> tuple[Reconciliation, RoundHistory, ListSink]:
    """Run `dead_attempt` with its own client, then resume: a new live session reconciles the round."""
    settings = settings_for(sim)
    slug = sim.round.slug

    async def scenario() -> tuple[Reconciliation, RoundHistory, ListSink]:
        market = await discover(settings, slug)
        await sim.clock.sleep_until(sim.round.open_ms + 200)
        port = ClobOrderPort(settings.venue.clob_url, SecretStr(KEY))
        await asyncio.to_thread(port.ensure_creds)
        await asyncio.to_thread(dead_attempt, port, market)
        store = make_engine(url)
        history = load_history(store, slug, "live")
        session = await open_live_session(settings, market, LIMITS, clock=sim.clock)
        try:
            found = await session.reconcile(history, venue_order_ids(store, slug, "live"))
        finally:
            await session.close()
        sink = ListSink()
        resumed = apply_reconciliation(
            found,
            history,
            sink,
            slug=slug,
            mode="live",
            attempt=2,
            logger=logging.getLogger("test.reconcile"),
            now=ms_to_datetime(sim.clock.now_ms()),
        )
        return found, resumed, sink

    return asyncio.run(scenario())


def traded(fill: Any) -> tuple[str, Decimal, Decimal, Decimal]:
    return (fill.trade_id, Decimal(fill.price), Decimal(fill.size), Decimal(fill.fee))


def ledger_trade(trade: dict[str, Any]) -> tuple[str, Decimal, Decimal, Decimal]:
    """A trade of the venue's ledger: id, price, size and the fee the venue charged."""
    return (trade["id"], Decimal(trade["price"]), Decimal(trade["size"]), Decimal(trade["fee"]))


@pytest.mark.slow
def test_a_resume_cancels_what_rests_and_trusts_the_venues_trades(
    sim: Venue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    venue_ids: dict[str, str] = {}

    def dead_attempt(port: ClobOrderPort, market: MarketInfo) -> None:
        up = market.up_token_id
        venue_ids["booked"] = place(port, up, "0.95", OrderType.FOK)
        venue_ids["lost"] = place(port, up, "0.95", OrderType.FOK)
        venue_ids["resting"] = place(port, up, "0.02", OrderType.GTC)
        venue_ids["stray"] = place(port, up, "0.95", OrderType.FOK)  # never recorded at all
        trades = sim.ledger()["trades"]
        # The store got every order but the stray one, and only the first fill.
        orders = {name: (venue_ids[name], up) for name in ("booked", "lost", "resting")}
        record(url, sim.round.slug, orders, [t for t in trades if t["order_id"] == venue_ids["booked"]])

    with caplog.at_level(logging.INFO, logger="test.reconcile"):
        found, resumed, sink = reconciled(sim, url, dead_attempt)

    ledger = sim.ledger()
    trades_of = {
        name: sorted(ledger_trade(t) for t in ledger["trades"] if t["order_id"] == venue_id)
        for name, venue_id in venue_ids.items()
    }
    assert trades_of["lost"], "the order filled (else this test proves nothing)"
    assert trades_of["stray"]
    status = {order["id"]: order["status"] for order in ledger["orders"]}
    assert found.cancelled == {venue_ids["resting"]: "resting"}
    assert status[venue_ids["resting"]] == "CANCELED", "the venue's ledger shows the cancel"
    assert {f.order_id for f in found.missing_fills} == {"lost"}
    assert sorted(traded(f) for f in found.missing_fills) == trades_of["lost"], (
        "the missing fill comes with the venue's exact price, size and fee, under our order id"
    )
    assert {f.order_id for f in found.unknown_trades} == {venue_ids["stray"]}
    assert sorted(traded(f) for f in found.unknown_trades) == trades_of["stray"]
    assert found.unconfirmed_fills == ()

    assert {f.order_id for f in resumed.fills} == {"booked", "lost"}, "the resume holds the venue's fills"
    assert sorted(traded(row) for row in sink.of(FillRecord)) == trades_of["lost"], "and records them"
    assert [(row.order_id, row.status) for row in sink.of(OrderEventRecord)] == [("resting", "canceled")]
    risks = sink.of(RiskEventRecord)
    assert {(r.kind, r.approved, r.reason_code) for r in risks} == {
        ("reconcile", False, "venue_store_mismatch")
    }
    assert [r.details["difference"] for r in risks] == ["missing_fill"] * len(trades_of["lost"]) + [
        "unknown_trade"
    ] * len(trades_of["stray"])
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "test.reconcile" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 2
    assert "the store lacked" in warnings[0]
    assert "trusting the venue" in warnings[0]
    assert "no record of this round names" in warnings[1]


@pytest.mark.slow
def test_a_resume_where_store_and_venue_agree_finds_no_difference(
    sim: Venue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)

    def dead_attempt(port: ClobOrderPort, market: MarketInfo) -> None:
        venue_id = place(port, market.up_token_id, "0.95", OrderType.FOK)
        record(url, sim.round.slug, {"filled": (venue_id, market.up_token_id)}, sim.ledger()["trades"])

    with caplog.at_level(logging.INFO, logger="test.reconcile"):
        found, resumed, sink = reconciled(sim, url, dead_attempt)

    assert found.agrees
    assert found.cancelled == {}
    assert found.venue_fills == 1
    assert [f.order_id for f in resumed.fills] == ["filled"]
    assert sink.rows == []
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "test.reconcile"] == [
        (logging.INFO, f"{sim.round.slug}: venue and store agree on this round's 1 fill")
    ]


def test_a_round_publishes_its_state_and_every_record_on_redis(sim: Venue, tmp_path: Path) -> None:
    url = redis_or_skip()
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    settings = settings_for(
        sim, mode="paper", live_confirmed=False, private_key=None, redis_url=url, redis_namespace=namespace
    )
    sink = ListSink()
    received: list[tuple[str, dict[str, Any]]] = []

    async def listen(pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                received.append((message["channel"].decode(), json.loads(message["data"])))

    async def scenario() -> tuple[RoundOutcome, str | None, int]:
        client = aioredis.Redis.from_url(url)
        pubsub = client.pubsub()
        await pubsub.subscribe(state_key(namespace, "paper"), events_channel(namespace, "paper"))
        listener = asyncio.create_task(listen(pubsub))
        try:
            market = await discover(settings, sim.round.slug)
            outcome = await run_round(sim, settings, market, sink, None)
            await asyncio.sleep(0.5)
            state = await client.get(state_key(namespace, "paper"))
            ttl = await client.ttl(state_key(namespace, "paper"))
            text = state.decode() if isinstance(state, bytes) else state
            return outcome, text, ttl
        finally:
            listener.cancel()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()

    outcome, latest, ttl = asyncio.run(scenario())

    assert outcome.orders > 0
    states = [body for channel, body in received if channel.endswith(":state")]
    events = [body for channel, body in received if channel.endswith(":events")]
    assert len(states) >= ROUND_S - 3, "the state about once a second"
    assert latest is not None
    assert json.loads(latest)["round_slug"] == sim.round.slug
    assert 0 < ttl <= 10, "the state expires: a dead round stops looking alive"
    published = [(e["kind"], e["row"]["id"]) for e in events]
    written = [(table_of(row), row.id) for row in sink.rows if isinstance(row, PUBLISHED)]
    assert published == written, "every decision, order, fill, risk event and settlement, in order"
    assert {kind for kind, _ in published} >= {"decisions", "orders", "fills", "settlements"}


def test_a_redis_outage_costs_the_round_nothing(caplog: pytest.LogCaptureFixture) -> None:
    publisher = RedisPublisher("redis://127.0.0.1:1/0", "paper", namespace="test-outage")
    row = DecisionRecord(
        round_slug="r",
        run_id="paper",
        strategy="s",
        outcome="up",
        side="BUY",
        limit_price=Decimal("0.5"),
        size=Decimal(5),
        confidence=Decimal("0.6"),
        reason="x",
    )

    async def scenario() -> None:
        for _ in range(3):
            publisher.record(row)
        sender = asyncio.create_task(publisher.run())
        await asyncio.sleep(0.5)
        sender.cancel()
        await publisher.flush(timeout_s=0.5)
        await publisher.close()

    with caplog.at_level(logging.WARNING, logger="core.live.publish"):
        asyncio.run(scenario())

    assert publisher.published == 0
    assert publisher.failures >= 3
    assert len([r for r in caplog.records if "redis" in r.getMessage()]) == 1, "one warning per outage"
