"""The ghost-book fault, reproduced on the simulated venue: its market channel goes silent for 10 s mid-window
(the socket stays open; what happens meanwhile is lost), then only level changes follow. The engine's books
(the feature state, fed by the real market feed and parser) must never be trusted on deltas that came after
the silence until a fresh snapshot arrived, and must end equal to the venue's books; a subscription that
sends no snapshot gets the REST book instead.

The risk guard refuses every order while a book is unsynchronised (tests/unit/test_book_integrity.py), so
"trusted only from a fresh snapshot on" is "no order on a level the venue does not have"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from core.adapters.polymarket.book_rest import RestBookFetcher
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.clock import WallClock
from core.engine.features import FeatureState
from core.events import BookDelta, BookSnapshot, Event, Outcome
from core.live.runner import watch_books
from core.market.book import TokenBook
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from tests.support.clocks import ShiftedClock
from tests.support.ws_server import WsTestServer

SILENCE_S = 10.0

pytestmark = pytest.mark.slow


VENUE_CLOCK = ShiftedClock()
"""The venue's clock: the wall clock, which `equal_to_venue` holds still to compare books exactly."""


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=300, seed=29, step_ms=100), clock=VENUE_CLOCK) as server:
        yield server


def current_round(sim: SimServer) -> dict[str, str]:
    state = httpx.get(f"{sim.base_url}/_sim/state").json()
    return {"slug": state["current_round"], **state["rounds"][state["current_round"]]}


def venue_levels(sim: SimServer, token: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    book = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": token}).json()
    return tuple(  # type: ignore[return-value]
        {Decimal(level["price"]): Decimal(level["size"]) for level in book[side]} for side in ("bids", "asks")
    )


class Engine:
    """The engine's view of the books: a FeatureState fed in arrival order, and a log of when each book was
    trusted on a delta after the silence, so the test can tell whether that trust came from a snapshot taken
    since the silence began (the ghost book was the book from before it)."""

    def __init__(self, market: dict[str, str]) -> None:
        self.up, self.down = market["up_token_id"], market["down_token_id"]
        self.state = FeatureState(
            Round(open_s=int(market["slug"].rsplit("-", 1)[1]), length_s=300),
            self.up,
            self.down,
            SettlementSource.CHAINLINK_SPOT,
        )
        self.silence_start_ms: int | None = None
        self.silence_end_ms: int | None = None
        self.fresh_snapshot: set[str] = set()
        self.trusted_deltas_after_silence = 0
        self.violations: list[str] = []

    def book(self, token: str) -> TokenBook:
        return self.state.book(Outcome.UP if token == self.up else Outcome.DOWN)

    def emit(self, event: Event) -> None:
        self.state.apply(event)
        start, end = self.silence_start_ms, self.silence_end_ms
        if start is None or end is None or event.ts_ms < start:
            return
        if isinstance(event, BookSnapshot):
            self.fresh_snapshot.add(event.token_id)
        elif isinstance(event, BookDelta) and event.token_id in (self.up, self.down) and event.ts_ms >= end:
            if not self.book(event.token_id).synced:
                return
            if event.token_id in self.fresh_snapshot:
                self.trusted_deltas_after_silence += 1
            else:
                self.violations.append(f"{event.token_id[:8]} trusted at {event.ts_ms} on a pre-silence book")


async def equal_to_venue(sim: SimServer, engine: Engine) -> bool:
    """Hold the venue's time still, let what it sent arrive, and compare every level of both books."""
    VENUE_CLOCK.held = VENUE_CLOCK.now_ms()
    try:
        await asyncio.sleep(0.3)
        for token in (engine.up, engine.down):
            bids, asks = await asyncio.to_thread(venue_levels, sim, token)
            ours = engine.book(token)
            if not ours.synced or (ours.bids, ours.asks) != (bids, asks):
                return False
        return True
    finally:
        VENUE_CLOCK.held = None


async def eventually_equal(sim: SimServer, engine: Engine, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await equal_to_venue(sim, engine):
        if time.monotonic() > deadline:
            raise AssertionError(f"our books did not equal the venue's within {timeout_s} s")
        await asyncio.sleep(0.2)


async def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def test_after_a_silence_mid_window_the_books_heal_from_a_snapshot_and_equal_the_venues(
    sim: SimServer,
) -> None:
    market = current_round(sim)
    engine = Engine(market)
    parser = MarketParser()
    clock = WallClock()
    feed = MarketFeed(
        sim.urls.market_ws_url,
        [engine.up, engine.down],
        parse=parser.parse,
        clock=clock,
        fetch_snapshot=RestBookFetcher(sim.urls.clob_url, parser, clock),
    )

    async def scenario() -> None:
        task = asyncio.create_task(feed.run(engine.emit))
        healer = asyncio.create_task(watch_books([engine.book(engine.up), engine.book(engine.down)], feed))
        try:
            await wait_for(
                lambda: engine.book(engine.up).synced and engine.book(engine.down).synced, 10, "books"
            )
            await asyncio.sleep(1.0)
            engine.silence_start_ms = clock.now_ms()
            await asyncio.to_thread(
                httpx.post, f"{sim.base_url}/_sim/faults", json={"silence": {"market": SILENCE_S}}
            )
            engine.silence_end_ms = clock.now_ms() + int(SILENCE_S * 1000)
            await asyncio.sleep(SILENCE_S + 0.5)
            await eventually_equal(sim, engine, 15)
            await asyncio.sleep(1.0)  # and stay in step with the deltas that follow
            assert await equal_to_venue(sim, engine), "in step with the venue a second later"
        finally:
            healer.cancel()
            await feed.stop()
            await task

    asyncio.run(scenario())

    health = feed.health()
    assert engine.violations == []
    assert engine.trusted_deltas_after_silence > 0, "the books were traded on again after the silence"
    assert health.resyncs >= 1
    assert "silence" in health.resync_reasons
    assert health.longest_silence_s >= 5.0, "the silence lasted until the feed subscribed afresh"
    assert parser.malformed.total == 0


def test_a_subscription_that_sends_no_snapshot_gets_the_rest_book(sim: SimServer) -> None:
    engine = Engine(current_round(sim))
    parser = MarketParser()
    clock = WallClock()

    async def scenario() -> list[str]:
        # A market channel that takes the subscription and never sends a book; the venue's REST has them.
        server = await WsTestServer(ack=None).start()
        feed = MarketFeed(
            server.url,
            [engine.up, engine.down],
            parse=parser.parse,
            clock=clock,
            fetch_snapshot=RestBookFetcher(sim.urls.clob_url, parser, clock),
            snapshot_wait_s=0.3,
        )
        task = asyncio.create_task(feed.run(engine.emit))
        try:
            await wait_for(lambda: feed.rest_snapshots == 2, 5, "two REST books")
            return server.requests
        finally:
            await feed.stop()
            await task
            await server.stop()

    requests = asyncio.run(scenario())

    assert len(requests) == 1
    assert engine.up in requests[0]
    assert engine.book(engine.up).synced
    assert engine.book(engine.down).synced
    assert engine.book(engine.up).asks, "the REST book has levels"
