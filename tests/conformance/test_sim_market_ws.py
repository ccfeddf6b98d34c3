"""The simulated venue's market channel, frame by frame, against Polymarket's: raw frames from a plain
`websockets` client compared with the reference's shapes and samples (../shared/reference/polymarket.md
section 4, samples/nautilus_trader), book hashes checked with py-clob-client-v2's own function.

One round is recorded once, on two connections subscribed to both its tokens: one with
`custom_feature_enabled`, one without; most tests read that recording.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from py_clob_client_v2.clob_types import OrderBookSummary, OrderSummary
from py_clob_client_v2.utilities import generate_orderbook_summary_hash
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.adapters.polymarket.market_parser import MarketParser
from core.adapters.polymarket.market_ws import MarketFeed
from core.clock import WallClock
from core.events import BookSnapshot, Event
from core.market.rounds import RoundSchedule
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig

ROUND_S = 15
SCHEDULE = RoundSchedule(ROUND_S, ROUND_S, ROUND_S)
REFERENCE = Path(
    os.environ.get("BTC_AGENT_SHARED_REFERENCE")
    or Path(__file__).resolve().parents[2].parent / "shared" / "reference"
)
NT = REFERENCE / "samples" / "nautilus_trader"
CUSTOM = ("best_bid_ask", "new_market", "market_resolved")
THOUSANDTH = Decimal("0.001")

needs_samples = pytest.mark.skipif(not NT.is_dir(), reason=f"reference samples {NT} are absent")


def sample_keys(relative: str) -> set[str]:
    body = json.loads((NT / relative).read_text())
    return set((body[0] if isinstance(body, list) else body).keys()) | {"event_type"}


@dataclass
class Recording:
    """A round's market channel as two subscribers of both its tokens saw it, frames decoded in order."""

    condition_id: str
    tokens: tuple[str, str]
    custom: list[Any] = field(default_factory=list)
    plain: list[Any] = field(default_factory=list)
    raw_custom: list[str] = field(default_factory=list)

    def events(self, frames: list[Any], kind: str) -> list[dict[str, Any]]:
        flat = [event for frame in frames for event in (frame if isinstance(frame, list) else [frame])]
        return [event for event in flat if event.get("event_type") == kind]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    busy = MarketMakerConfig(takers_per_second=2.0)
    with SimServer(SimConfig(round_seconds=ROUND_S, seed=31, step_ms=100, market_maker=busy)) as server:
        yield server


def sim_state(sim: SimServer) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{sim.base_url}/_sim/state").json()
    return state


def round_to_watch(sim: SimServer, min_left_s: float) -> tuple[str, dict[str, str]]:
    """The current round if it has `min_left_s` to go, else the next one (listed ahead)."""
    deadline = time.monotonic() + 10
    while True:
        state = sim_state(sim)
        slug = state["current_round"]
        round_ = SCHEDULE.from_slug(slug)
        if round_.close_ms - state["now_ms"] < min_left_s * 1000:
            slug = round_.next().slug
        if slug in state["rounds"] or time.monotonic() > deadline:
            return slug, state["rounds"][slug]
        time.sleep(0.1)


def subscription(tokens: tuple[str, ...], **extra: Any) -> str:
    return json.dumps({"assets_ids": list(tokens), "type": "market", **extra})


async def drain(ws: ClientConnection, into: list[str], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            into.append(str(await asyncio.wait_for(ws.recv(), 0.2)))
        except TimeoutError:
            continue


async def record_round(sim: SimServer) -> Recording:
    """Subscribe before the round's end and record until its `market_resolved`, and a second more."""
    _, market = round_to_watch(sim, min_left_s=6)
    tokens = (market["up_token_id"], market["down_token_id"])
    recording = Recording(market["condition_id"], tokens)
    raw_plain: list[str] = []
    stop = asyncio.Event()
    async with connect(sim.urls.market_ws_url) as custom, connect(sim.urls.market_ws_url) as plain:
        await custom.send(subscription(tokens, custom_feature_enabled=True))
        await plain.send(subscription(tokens))
        tasks = [
            asyncio.create_task(drain(custom, recording.raw_custom, stop)),
            asyncio.create_task(drain(plain, raw_plain, stop)),
        ]
        deadline = time.monotonic() + 2 * ROUND_S + 5
        while time.monotonic() < deadline and '"market_resolved"' not in "".join(recording.raw_custom[-50:]):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
    recording.custom = [json.loads(frame) for frame in recording.raw_custom]
    recording.plain = [json.loads(frame) for frame in raw_plain]
    return recording


@pytest.fixture(scope="module")
def recording(sim: SimServer) -> Recording:
    return asyncio.run(record_round(sim))


# --- 1. once per subscriber ---------------------------------------------------------------------------------


def test_a_subscriber_of_both_tokens_gets_each_price_change_once(recording: Recording) -> None:
    changes = [raw for raw in recording.raw_custom if '"event_type":"price_change"' in raw]
    assert len(changes) > 10
    repeated = {raw[:120]: count for raw, count in Counter(changes).items() if count > 1}
    assert not repeated, "every price_change frame is sent once"
    both = [
        frame
        for frame in recording.events(recording.custom, "price_change")
        if {entry["asset_id"] for entry in frame["price_changes"]} == set(recording.tokens)
    ]
    assert both, "one frame carries both tokens' entries, as the real one does"


def test_a_subscriber_of_both_tokens_gets_the_resolution_once(recording: Recording) -> None:
    resolved = recording.events(recording.custom, "market_resolved")
    assert len(resolved) == 1
    assert resolved[0]["market"] == recording.condition_id
    assert resolved[0]["winning_asset_id"] in recording.tokens
    assert resolved[0]["winning_outcome"] in ("Up", "Down")


# --- 2. books after trades, hashes and tops of book ---------------------------------------------------------


@needs_samples
def test_frames_have_the_shapes_of_the_venues(recording: Recording) -> None:
    book = recording.events(recording.custom, "book")[0]
    assert set(book) == sample_keys("later_commits/ws_book_snapshot_captured.json")
    change = recording.events(recording.custom, "price_change")[0]
    assert set(change) == sample_keys("py_integration_ws/price_change_v2.json")
    v2 = json.loads((NT / "py_integration_ws/price_change_v2.json").read_text())
    assert {frozenset(entry) for entry in change["price_changes"]} == {frozenset(v2["price_changes"][0])}
    trade = recording.events(recording.custom, "last_trade_price")[0]
    assert set(trade) == sample_keys("py_integration_ws/last_trade_price.json")


def test_numbers_are_written_as_the_venue_writes_them(recording: Recording) -> None:
    """ "0.5", never "0.50": the captured books and changes carry no trailing zeros."""
    book = recording.events(recording.custom, "book")[0]
    changes = [e for f in recording.events(recording.custom, "price_change") for e in f["price_changes"]]
    texts = [level[key] for level in book["bids"] + book["asks"] for key in ("price", "size")]
    texts += [entry[key] for entry in changes for key in ("price", "size", "best_bid", "best_ask")]
    assert all(text == format(Decimal(text).normalize(), "f") for text in texts)


def test_a_book_of_both_tokens_follows_every_trade(recording: Recording) -> None:
    trades = recording.events(recording.custom, "last_trade_price")
    assert trades, "takers traded during the round"
    books = recording.events(recording.custom, "book")
    for trade in trades:
        after = [book for book in books if book["timestamp"] == trade["timestamp"]]
        assert {book["asset_id"] for book in after} == set(recording.tokens), trade
        traded = [book for book in after if book["asset_id"] == trade["asset_id"]]
        assert traded[-1]["last_trade_price"] != ""


@dataclass
class ClientBook:
    """What a client keeps of one token: levels, tick and last trade, as the frames told it."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    tick_size: str = ""
    last_trade_price: str = ""

    def load(self, frame: dict[str, Any]) -> None:
        self.bids = {Decimal(level["price"]): Decimal(level["size"]) for level in frame["bids"]}
        self.asks = {Decimal(level["price"]): Decimal(level["size"]) for level in frame["asks"]}
        self.tick_size = frame["tick_size"]
        self.last_trade_price = frame["last_trade_price"]

    def apply(self, entry: dict[str, Any]) -> None:
        levels = self.bids if entry["side"] == "BUY" else self.asks
        size = Decimal(entry["size"])
        if size:
            levels[Decimal(entry["price"])] = size
        else:
            levels.pop(Decimal(entry["price"]), None)

    def top(self) -> tuple[Decimal, Decimal]:
        return max(self.bids, default=Decimal(0)), min(self.asks, default=Decimal(1))

    def hash(self, market: str, asset_id: str, timestamp: str) -> str:
        """py-clob-client-v2's hash of this book (the formula of docs/venue.md), levels in wire order."""

        def text(value: Decimal) -> str:
            return format(value.normalize(), "f")

        summary = OrderBookSummary(
            market=market,
            asset_id=asset_id,
            timestamp=timestamp,
            bids=[OrderSummary(price=text(p), size=text(self.bids[p])) for p in sorted(self.bids)],
            asks=[
                OrderSummary(price=text(p), size=text(self.asks[p])) for p in sorted(self.asks, reverse=True)
            ],
            min_order_size="5",
            neg_risk=False,
            tick_size=self.tick_size,
            last_trade_price=self.last_trade_price,
            hash="",
        )
        return str(generate_orderbook_summary_hash(summary))


def test_a_client_reproduces_every_hash_and_top_of_book_from_its_own_book(recording: Recording) -> None:
    books = {token: ClientBook() for token in recording.tokens}
    checked = 0
    for frame in recording.custom:
        for event in frame if isinstance(frame, list) else [frame]:
            kind = event["event_type"]
            if kind == "book":
                book = books[event["asset_id"]]
                before = (dict(book.bids), dict(book.asks))
                book.load(event)
                if frame is not recording.custom[0]:
                    assert (book.bids, book.asks) == before, (
                        "a re-sent book agrees with the changes before it"
                    )
                assert event["hash"] == book.hash(event["market"], event["asset_id"], event["timestamp"])
                checked += 1
            elif kind == "price_change":
                for entry in event["price_changes"]:
                    books[entry["asset_id"]].apply(entry)
                for entry in event["price_changes"]:
                    book = books[entry["asset_id"]]
                    assert entry["hash"] == book.hash(event["market"], entry["asset_id"], event["timestamp"])
                    assert (Decimal(entry["best_bid"]), Decimal(entry["best_ask"])) == book.top()
                    checked += 1
            elif kind == "last_trade_price":
                price = Decimal(event["price"]).quantize(THOUSANDTH)
                books[event["asset_id"]].last_trade_price = format(price, "f")
            elif kind == "tick_size_change":
                books[event["asset_id"]].tick_size = event["new_tick_size"]
    assert checked > 50


def test_the_rest_book_hash_is_the_one_py_clob_client_v2_computes(sim: SimServer) -> None:
    _, market = round_to_watch(sim, min_left_s=1)
    body = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": market["up_token_id"]}).json()
    summary = OrderBookSummary(
        **{key: body[key] for key in ("market", "asset_id", "timestamp", "min_order_size", "neg_risk")},
        bids=[OrderSummary(price=level["price"], size=level["size"]) for level in body["bids"]],
        asks=[OrderSummary(price=level["price"], size=level["size"]) for level in body["asks"]],
        tick_size=body["tick_size"],
        last_trade_price=body["last_trade_price"],
        hash=body["hash"],
    )
    assert generate_orderbook_summary_hash(summary) == body["hash"]


@needs_samples
def test_the_hash_formula_reproduces_the_book_the_real_venue_sent() -> None:
    """The captured 2026-08 `book` (it carries tick_size and last_trade_price) hashes by the same formula,
    with the market's min_order_size "5" and neg_risk false."""
    captured = json.loads((NT / "later_commits/ws_book_snapshot_captured.json").read_text())
    summary = OrderBookSummary(
        market=captured["market"],
        asset_id=captured["asset_id"],
        timestamp=captured["timestamp"],
        bids=[OrderSummary(price=level["price"], size=level["size"]) for level in captured["bids"]],
        asks=[OrderSummary(price=level["price"], size=level["size"]) for level in captured["asks"]],
        min_order_size="5",
        neg_risk=False,
        tick_size=captured["tick_size"],
        last_trade_price=captured["last_trade_price"],
        hash="",
    )
    assert generate_orderbook_summary_hash(summary) == captured["hash"]


# --- 4. the custom features ---------------------------------------------------------------------------------


def test_custom_feature_events_only_reach_subscriptions_that_enable_them(recording: Recording) -> None:
    for kind in CUSTOM:
        assert recording.events(recording.custom, kind), f"{kind} with custom_feature_enabled"
        assert not recording.events(recording.plain, kind), f"no {kind} without it"
    standard = Counter(event["event_type"] for event in recording.events(recording.plain, "price_change"))
    assert standard["price_change"] > 10, "the standard events reach both"


@needs_samples
def test_custom_feature_events_have_the_shapes_of_the_venues(recording: Recording) -> None:
    best = recording.events(recording.custom, "best_bid_ask")
    assert {frozenset(event) for event in best} == {
        frozenset(sample_keys("crates_test_data/ws_market_best_bid_ask_msg.json"))
    }
    for event in best:
        assert Decimal(event["spread"]) == Decimal(event["best_ask"]) - Decimal(event["best_bid"])
    listed = recording.events(recording.custom, "new_market")
    assert sample_keys("crates_test_data/ws_market_new_market_msg.json") <= set(listed[0])
    assert set(listed[0]["event_message"]) == {"id", "ticker", "slug", "title", "description"}
    assert listed[0]["outcomes"] == ["Up", "Down"]
    assert listed[0]["assets_ids"] == listed[0]["clob_token_ids"]
    assert listed[0]["order_price_min_tick_size"] == "0.01"
    resolved = recording.events(recording.custom, "market_resolved")
    assert set(resolved[0]) == sample_keys("crates_test_data/ws_market_resolved_msg.json")


def test_best_bid_ask_is_sent_when_the_top_of_book_moves_and_only_then(recording: Recording) -> None:
    tops: dict[str, list[tuple[str, str]]] = {token: [] for token in recording.tokens}
    for event in recording.events(recording.custom, "best_bid_ask"):
        tops[event["asset_id"]].append((event["best_bid"], event["best_ask"]))
    for token, seen in tops.items():
        assert len(seen) > 1, token
        assert all(a != b for a, b in itertools.pairwise(seen)), "each one says something new"


def test_new_market_announces_a_round_when_it_is_listed(sim: SimServer, recording: Recording) -> None:
    listed = recording.events(recording.custom, "new_market")
    rounds = sim_state(sim)["rounds"]
    slugs = {event["slug"] for event in listed}
    assert slugs <= set(rounds)
    for event in listed:
        assert event["clob_token_ids"] == [
            rounds[event["slug"]]["up_token_id"],
            rounds[event["slug"]]["down_token_id"],
        ]
        assert event["condition_id"] == event["market"] == rounds[event["slug"]]["condition_id"]


# --- 8. subscription first ------------------------------------------------------------------------------------


async def close_of(url: str, *frames: str) -> tuple[int | None, str | None]:
    """How the venue closes a connection that sends these frames first."""

    async def until_closed(ws: ClientConnection) -> None:
        for _ in range(50):
            await asyncio.wait_for(ws.recv(), 2)

    async with connect(url) as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(ConnectionClosed):
            await until_closed(ws)
        return ws.close_code, ws.close_reason


def test_a_ping_before_any_subscription_closes_the_socket_as_the_venue_does(sim: SimServer) -> None:
    assert asyncio.run(close_of(sim.urls.market_ws_url, "PING")) == (1008, "invalid subscription payload")


def test_a_first_frame_that_is_no_subscription_closes_the_socket(sim: SimServer) -> None:
    refused = asyncio.run(close_of(sim.urls.market_ws_url, json.dumps({"hello": "venue"})))
    assert refused == (1008, "invalid subscription payload")


def test_a_ping_after_the_subscription_is_answered(sim: SimServer) -> None:
    _, market = round_to_watch(sim, min_left_s=1)

    async def ping() -> list[str]:
        async with connect(sim.urls.market_ws_url) as ws:
            await ws.send(subscription((market["up_token_id"],)))
            await ws.send("PING")
            frames = [str(await asyncio.wait_for(ws.recv(), 2)) for _ in range(30)]
            return frames

    assert "PONG" in asyncio.run(ping())


def test_our_market_feed_subscribes_before_its_first_ping(sim: SimServer) -> None:
    """A feed pinging every 50 ms from the start would be closed at once and reconnect in a loop."""
    _, market = round_to_watch(sim, min_left_s=3)
    parser = MarketParser()
    tokens = [market["up_token_id"], market["down_token_id"]]
    feed = MarketFeed(
        sim.urls.market_ws_url,
        tokens,
        parse=parser.parse,
        clock=WallClock(),
        ping_interval_s=0.05,
    )

    async def run() -> list[Event]:
        events: list[Event] = []
        task = asyncio.create_task(feed.run(events.append))
        await asyncio.sleep(1.5)
        await feed.stop()
        await task
        return events

    events = asyncio.run(run())
    assert {event.token_id for event in events if isinstance(event, BookSnapshot)} == set(tokens)
    assert feed.health().reconnects == 0, "never closed for a PING before its subscription"
