"""The real websocket clients and parsers against the simulated venue: books, prices, our own orders,
and what happens when the venue drops, silences or garbles its feeds."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest
from core.adapters.polymarket.feed import FeedClient
from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.adapters.polymarket.price_parser import RtdsParser
from core.adapters.polymarket.price_ws import RtdsPriceFeed
from core.adapters.polymarket.user_parser import UserParser
from core.adapters.polymarket.user_ws import UserFeed
from core.clock import WallClock
from core.events import (
    BookDelta,
    BookReset,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    OrderType,
    OrderUpdate,
    PriceSource,
    PriceTick,
    Side,
)
from core.market.fees import CRYPTO_FEES_V2
from core.sim.server import SimServer
from core.sim.venue import SimConfig

KEY = SecretStr("0x" + "5e" * 32)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=300, seed=23, step_ms=100)) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(sim: SimServer) -> None:
    httpx.delete(f"{sim.base_url}/_sim/faults").raise_for_status()


def current_round(sim: SimServer) -> dict[str, str]:
    state = httpx.get(f"{sim.base_url}/_sim/state").json()
    return dict(state["rounds"][state["current_round"]])


def arm(sim: SimServer, **faults: object) -> None:
    httpx.post(f"{sim.base_url}/_sim/faults", json=faults).raise_for_status()


async def collect(
    feed: FeedClient,
    until: Callable[[list[Event]], bool],
    timeout_s: float = 10.0,
    during: Callable[[list[Event]], Awaitable[None]] | None = None,
) -> list[Event]:
    """Run a feed until `until(events)` holds (or the timeout), optionally doing `during` meanwhile."""
    events: list[Event] = []
    task = asyncio.create_task(feed.run(events.append))
    try:
        if during is not None:
            await during(events)
        deadline = time.monotonic() + timeout_s
        while not until(events):
            if time.monotonic() > deadline:
                raise AssertionError(f"feed {feed.health().feed}: condition not met; {len(events)} events")
            await asyncio.sleep(0.02)
    finally:
        await feed.stop()
        await task
    return events


def market_feed(
    sim: SimServer, parser: MarketParser, tokens: list[str], *, stale_after_s: float = 5.0
) -> MarketFeed:
    return MarketFeed(
        sim.urls.market_ws_url,
        tokens,
        parse=parser.parse,
        clock=WallClock(),
        malformed_count=lambda: parser.malformed.total,
        stale_after_s=stale_after_s,
    )


def test_market_feed_receives_both_books_then_level_changes(sim: SimServer) -> None:
    market = current_round(sim)
    tokens = [market["up_token_id"], market["down_token_id"]]
    events = asyncio.run(
        collect(
            market_feed(sim, MarketParser(), tokens), lambda es: any(isinstance(e, BookDelta) for e in es)
        )
    )
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    assert {s.token_id for s in snapshots} == set(tokens)
    for snapshot in snapshots:
        if snapshot.bids and snapshot.asks:
            assert snapshot.bids[0].price < snapshot.asks[0].price, "best levels come first, never crossed"
            assert list(snapshot.bids) == sorted(snapshot.bids, key=lambda level: level.price, reverse=True)


def test_the_websocket_snapshot_is_the_rest_book_best_level_first() -> None:
    still = SimConfig(round_seconds=300, seed=29, step_ms=600_000)  # one step at start: the book holds still
    with SimServer(still) as frozen:
        deadline = time.monotonic() + 10
        while not current_round(frozen)["up_token_id"] and time.monotonic() < deadline:
            time.sleep(0.05)
        token = current_round(frozen)["up_token_id"]
        book = httpx.get(f"{frozen.urls.clob_url}/book", params={"token_id": token}).json()
        events = asyncio.run(collect(market_feed(frozen, MarketParser(), [token]), bool))
    snapshot = next(e for e in events if isinstance(e, BookSnapshot))
    assert snapshot.asks or snapshot.bids, "the market maker quoted at the venue's first step"
    assert [(level.price, level.size) for level in snapshot.asks] == [
        (Decimal(level["price"]), Decimal(level["size"])) for level in reversed(book["asks"])
    ]
    assert [(level.price, level.size) for level in snapshot.bids] == [
        (Decimal(level["price"]), Decimal(level["size"])) for level in reversed(book["bids"])
    ]


def test_price_feed_receives_chainlink_binance_and_twap_with_a_backfill(sim: SimServer) -> None:
    parser = RtdsParser()
    feed = RtdsPriceFeed(
        sim.urls.rtds_url,
        parse=parser.parse,
        clock=WallClock(),
        malformed_count=lambda: parser.malformed.total,
    )

    def enough(events: list[Event]) -> bool:
        sources = {e.source for e in events if isinstance(e, PriceTick)}
        return {
            PriceSource.CHAINLINK,
            PriceSource.BINANCE,
            PriceSource.CHAINLINK_TWAP_60S,
        } <= sources and len(events) > 130

    events = asyncio.run(collect(feed, enough))
    chainlink = [e for e in events if isinstance(e, PriceTick) and e.source is PriceSource.CHAINLINK]
    assert len(chainlink) >= 60, "the backfill brings the last minute"
    assert all(b.source_ts_ms - a.source_ts_ms >= 0 for a, b in itertools.pairwise(chainlink))
    assert parser.malformed.total == 0
    spot = Decimal(httpx.get(f"{sim.base_url}/_sim/state").json()["btc"])
    assert abs(chainlink[-1].price - spot) / spot < Decimal("0.01")


def test_user_feed_reports_our_order_and_its_fill(sim: SimServer) -> None:
    port = ClobOrderPort(sim.urls.clob_url, KEY)
    creds = port.ensure_creds()
    market = current_round(sim)
    token = market["up_token_id"]
    parser = UserParser(api_key=creds.api_key, fee_schedule=CRYPTO_FEES_V2)
    feed = UserFeed(
        sim.urls.user_ws_url,
        [market["condition_id"]],
        api_key=SecretStr(creds.api_key),
        api_secret=SecretStr(creds.api_secret),
        api_passphrase=SecretStr(creds.api_passphrase),
        parse=parser.parse,
        clock=WallClock(),
    )
    placed: list[str] = []

    async def trade(_: list[Event]) -> None:
        await asyncio.sleep(0.5)
        book = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": token}).json()
        tick = Decimal(book["tick_size"])  # 0.001 once the round nears an extreme
        limit = min(1 - tick, Decimal(book["asks"][-1]["price"]) + 3 * tick)
        request = OrderRequest(
            token,
            Side.BUY,
            limit,
            (Decimal(2) / limit).quantize(Decimal(1)) + 1,
            OrderType.FAK,
            tick_size=tick,
        )
        placed.append((await asyncio.to_thread(port.place, request)).venue_order_id)

    events = asyncio.run(
        collect(feed, lambda es: any(isinstance(e, Fill) for e in es), during=trade, timeout_s=15)
    )
    updates = [e for e in events if isinstance(e, OrderUpdate)]
    fills = [e for e in events if isinstance(e, Fill)]
    assert updates
    assert updates[0].venue_order_id == placed[0]
    assert fills[0].order_id == placed[0]
    assert fills[0].fee > 0, "the taker pays the fee"


def test_market_feed_reconnects_and_resubscribes_after_fifty_forced_drops(sim: SimServer) -> None:
    token = current_round(sim)["up_token_id"]
    parser = MarketParser()
    feed = market_feed(sim, parser, [token])
    gaps: list[float] = []

    async def drop_fifty(events: list[Event]) -> None:
        while not events:
            await asyncio.sleep(0.01)

        def resubscribed(since: int) -> bool:
            """A new connection announced itself (BookReset) and its subscription brought a snapshot (the
            venue also re-sends books after trades, so a snapshot alone proves nothing)."""
            later = events[since:]
            reset = next((i for i, e in enumerate(later) if isinstance(e, BookReset)), None)
            return reset is not None and any(isinstance(e, BookSnapshot) for e in later[reset:])

        for _ in range(50):
            since = len(events)
            dropped_at = time.monotonic()
            await asyncio.to_thread(arm, sim, drop=["market"])
            while not resubscribed(since):
                if time.monotonic() - dropped_at > 5:
                    raise AssertionError("no resubscription within 5 s")
                await asyncio.sleep(0.005)
            gaps.append(time.monotonic() - dropped_at)

    asyncio.run(collect(feed, lambda es: len(gaps) == 50, during=drop_fifty, timeout_s=120))
    assert len(gaps) == 50
    p99 = sorted(gaps)[-1]
    assert p99 < 1.0, f"p99 reconnect {p99:.3f}s (median {statistics.median(gaps):.3f}s)"
    assert feed.health().reconnects >= 50


def test_a_silent_market_feed_is_flagged_stale_and_recovers(sim: SimServer) -> None:
    token = current_round(sim)["up_token_id"]
    feed = market_feed(sim, MarketParser(), [token], stale_after_s=1.0)

    async def silence(events: list[Event]) -> None:
        while not events:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(arm, sim, silence={"market": 2.5})

    def recovered(events: list[Event]) -> bool:
        statuses = [e.stale for e in events if isinstance(e, FeedStatus)]
        return True in statuses and statuses[-1] is False

    events = asyncio.run(collect(feed, recovered, during=silence, timeout_s=15))
    statuses = [e for e in events if isinstance(e, FeedStatus)]
    assert [s.stale for s in statuses][-2:] == [True, False]


def test_malformed_frames_are_counted_and_the_feed_goes_on(sim: SimServer) -> None:
    token = current_round(sim)["up_token_id"]
    parser = MarketParser()
    feed = market_feed(sim, parser, [token])

    async def garble(events: list[Event]) -> None:
        while not events:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(arm, sim, malformed={"market": 4})

    def after_garbage(events: list[Event]) -> bool:
        return parser.malformed.total >= 4 and sum(isinstance(e, BookDelta) for e in events) > 20

    asyncio.run(collect(feed, after_garbage, during=garble, timeout_s=20))
    assert parser.malformed.total == 4
    assert feed.health().malformed == 4
