"""`tick_size_change` as on Polymarket's BTC Up/Down markets: listed at 0.01, a market's tick becomes 0.001
once its book reaches the extremes (a best price above 0.96 or below 0.04), and the venue says so on the
market channel. A BTC jump (`POST /_sim/faults {"btc_jump_pct": 3}`) drives the round there.

Checked twice: in raw frames from a plain `websockets` client against the captured shape, and end to end,
where the engine, fed by the real market feed, learns the finer tick and the real py-clob-client-v2 (through
our order port) places an order on it that the venue accepts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest
from core.adapters.polymarket.feed import FeedHealth
from core.adapters.polymarket.gamma import GammaClient
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.engine.assembly import EngineRecipe, build_engine
from core.engine.engine import ListSink
from core.events import Event, OrderType, Outcome, Side, TickSizeChange
from core.live.runner import round_market
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.markets import tick_for
from core.sim.prices import JumpingPath, ModelPath
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from tests.support.clocks import ShiftedClock

ROUND_S = 60
SCHEDULE = RoundSchedule(ROUND_S, ROUND_S, ROUND_S)
KEY = SecretStr("0x" + "7d" * 32)
COARSE, FINE = Decimal("0.01"), Decimal("0.001")
JUMP = {"btc_jump_pct": 3.0}
SAMPLE = (
    Path(
        os.environ.get("BTC_AGENT_SHARED_REFERENCE")
        or Path(__file__).resolve().parents[2].parent / "shared" / "reference"
    )
    / "samples/nautilus_trader/py_integration_ws/tick_size_change.json"
)


@dataclass(slots=True)
class Venue:
    server: SimServer
    clock: ShiftedClock
    round: Round

    def tokens(self) -> tuple[str, str]:
        market = httpx.get(f"{self.server.base_url}/_sim/state").json()["rounds"][self.round.slug]
        return market["up_token_id"], market["down_token_id"]

    def jump(self) -> None:
        httpx.post(f"{self.server.base_url}/_sim/faults", json=JUMP).raise_for_status()


@pytest.fixture
def venue() -> Iterator[Venue]:
    """A venue two seconds into a round of a minute."""
    wall = time.time_ns() // 1_000_000
    round_ = SCHEDULE.round_at_ms(wall).next()
    clock = ShiftedClock(round_.open_ms + 2_000 - wall)
    with SimServer(SimConfig(round_seconds=ROUND_S, seed=41, step_ms=100), clock=clock) as server:
        yield Venue(server, clock, round_)


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        await asyncio.sleep(0.05)


def prices_in(frame: dict[str, Any]) -> list[Decimal]:
    if frame.get("event_type") == "price_change":
        return [Decimal(entry["price"]) for entry in frame["price_changes"]]
    if frame.get("event_type") == "book":
        return [Decimal(level["price"]) for level in frame["bids"] + frame["asks"]]
    return []


def test_a_round_driven_to_an_extreme_moves_to_a_thousandth_tick_and_says_so(venue: Venue) -> None:
    tokens = venue.tokens()

    async def record() -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        async with connect(venue.server.urls.market_ws_url) as ws:
            await ws.send(json.dumps({"assets_ids": list(tokens), "type": "market"}))
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                frames.extend(_events(json.loads(await asyncio.wait_for(ws.recv(), 2))))
            await asyncio.to_thread(venue.jump)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                frames.extend(_events(json.loads(await asyncio.wait_for(ws.recv(), 2))))
                if sum(frame.get("event_type") == "tick_size_change" for frame in frames) >= 2:
                    deadline = min(deadline, time.monotonic() + 3)  # and a while after: it stays
        return frames

    frames = asyncio.run(record())
    kinds = [frame.get("event_type") for frame in frames]
    changes = [frame for frame in frames if frame.get("event_type") == "tick_size_change"]
    assert {change["asset_id"] for change in changes} == set(tokens)
    assert len(changes) == 2, "once per token, and not back"
    assert all((c["old_tick_size"], c["new_tick_size"]) == ("0.01", "0.001") for c in changes)
    first = kinds.index("tick_size_change")
    before = [price for frame in frames[:first] for price in prices_in(frame)]
    after = [price for frame in frames[first:] for price in prices_in(frame)]
    assert before, "the book was quoted before"
    assert all(price % COARSE == 0 for price in before)
    assert any(price % COARSE for price in after), "the market maker quotes on the new grid"
    assert any(
        Decimal(c["best_bid"]) > Decimal("0.96")
        for f in frames[first:]
        if f.get("event_type") == "price_change"
        for c in f["price_changes"]
    )

    clob = venue.server.urls.clob_url
    assert httpx.get(f"{clob}/tick-size", params={"token_id": tokens[0]}).json() == {
        "minimum_tick_size": 0.001
    }
    assert httpx.get(f"{clob}/book", params={"token_id": tokens[0]}).json()["tick_size"] == "0.001"
    gamma = httpx.get(f"{venue.server.urls.gamma_url}/markets", params={"slug": venue.round.slug}).json()
    assert gamma[0]["orderPriceMinTickSize"] == 0.01, "Gamma keeps the listing tick, as the real one does"


@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"reference sample {SAMPLE} is absent")
def test_the_tick_size_change_has_the_captured_shape(venue: Venue) -> None:
    async def first_change() -> dict[str, Any]:
        async with connect(venue.server.urls.market_ws_url) as ws:
            await ws.send(json.dumps({"assets_ids": list(venue.tokens()), "type": "market"}))
            await asyncio.to_thread(venue.jump)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                for event in _events(json.loads(await asyncio.wait_for(ws.recv(), 2))):
                    if event.get("event_type") == "tick_size_change":
                        return event
        raise AssertionError("no tick_size_change")

    change = asyncio.run(first_change())
    captured = json.loads(SAMPLE.read_text())
    assert set(change) == set(captured)
    assert (change["old_tick_size"], change["new_tick_size"]) == (
        captured["old_tick_size"],
        captured["new_tick_size"],
    )


def test_the_engine_learns_the_finer_tick_and_the_venue_accepts_an_order_on_it(venue: Venue) -> None:
    """Through the real adapters: Gamma discovery, the market feed into the engine, py-clob-client-v2.

    The order port first signs an order on the listing tick, so the client has cached 0.01 for the token
    (py-clob-client-v2 caches a token's tick forever and would refuse 0.001 prices after that)."""
    urls = venue.server.urls
    port = ClobOrderPort(urls.clob_url, KEY)
    port.ensure_creds()

    async def scenario() -> tuple[list[TickSizeChange], Decimal, str, FeedHealth]:
        gamma = GammaClient(urls.gamma_url)
        try:
            info = await gamma.market(venue.round.slug)
        finally:
            await gamma.close()
        assert info.tick_size == COARSE
        engine = build_engine(
            venue.round, round_market(info), EngineRecipe(limits=RiskLimits()), run_id="tick", sink=ListSink()
        )
        parser = MarketParser()
        feed = MarketFeed(
            urls.market_ws_url, [info.up_token_id, info.down_token_id], parse=parser.parse, clock=venue.clock
        )
        changes: list[TickSizeChange] = []

        def emit(event: Event) -> None:
            if isinstance(event, TickSizeChange):
                changes.append(event)
            engine.on_event(event)

        up = engine.features.book(Outcome.UP)
        running = asyncio.create_task(feed.run(emit))
        try:
            await wait_for(lambda: up.best_bid is not None, 5, "Up book")
            listing = OrderRequest(info.up_token_id, Side.BUY, Decimal("0.05"), Decimal(5), OrderType.GTC)
            first = await asyncio.to_thread(port.place, listing)
            assert first.status == "live"
            await asyncio.to_thread(port.cancel, first.venue_order_id)
            await asyncio.to_thread(venue.jump)
            await wait_for(lambda: len(changes) == 2, 15, "tick_size_change for both tokens")
            await wait_for(
                lambda: up.best_bid is not None and up.best_bid % COARSE != 0, 5, "a quote on the new grid"
            )
            assert up.tick == FINE, "the engine's book took the venue's new tick"
            assert up.best_bid is not None
            price = up.best_bid - 20 * up.tick  # well below the market: it rests
            if price % COARSE == 0:
                price -= up.tick
            request = OrderRequest(
                info.up_token_id, Side.BUY, price, Decimal(5), OrderType.GTC, tick_size=up.tick
            )
            placed = await asyncio.to_thread(port.place, request)
            await asyncio.to_thread(port.cancel, placed.venue_order_id)
        finally:
            await feed.stop()
            await running
        return changes, price, placed.status, feed.health()

    changes, price, status, health = asyncio.run(scenario())
    assert {change.tick_size for change in changes} == {FINE}
    assert status == "live", "the venue accepted a price only the 0.001 grid has"
    assert price % COARSE != 0
    assert health.callback_errors == 0, f"the engine took every event ({health.last_error})"
    orders = httpx.get(f"{venue.server.base_url}/_sim/ledger").json()["accounts"]
    ours = [order for account in orders for order in account["orders"] if Decimal(order["price"]) == price]
    assert len(ours) == 1


def _events(frame: Any) -> list[dict[str, Any]]:
    return frame if isinstance(frame, list) else [frame]


@pytest.mark.parametrize(
    ("best_bid", "best_ask", "tick"),
    [
        ("0.48", "0.52", COARSE),
        ("0.04", "0.96", COARSE),
        ("0.97", None, FINE),
        (None, "0.03", FINE),
        ("0.95", "0.97", FINE),
        ("0.03", "0.05", FINE),
        (None, None, COARSE),
    ],
)
def test_the_tick_becomes_a_thousandth_beyond_0_96_or_0_04(
    best_bid: str | None, best_ask: str | None, tick: Decimal
) -> None:
    def price(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    assert tick_for(COARSE, price(best_bid), price(best_ask)) == tick


def test_the_finer_tick_stays_when_the_book_comes_back() -> None:
    assert tick_for(FINE, Decimal("0.48"), Decimal("0.52")) == FINE


def test_a_jump_moves_prices_from_the_next_second_and_never_those_already_reported() -> None:
    start = 1_800_000_000_000
    inner = ModelPath(start_price=Decimal(100_000), start_ms=start, duration_s=600, seed=3)
    path = JumpingPath(inner)
    reported = [path.price_at(start + s * 1000) for s in range(11)]
    at = path.jump(start + 10_400, 3.0)
    assert at == start + 11_000
    assert [path.price_at(start + s * 1000) for s in range(11)] == reported
    assert path.price_at(at) == (inner.price_at(at) * Decimal("1.03")).quantize(Decimal("0.00000001"))
