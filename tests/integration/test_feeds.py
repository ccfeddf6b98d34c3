"""The websocket feeds against a local server: subscribe, keepalive, staleness, reconnects, failures."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from core.adapters.polymarket.feed import FeedClient
from core.adapters.polymarket.market_ws import MarketFeed
from core.adapters.polymarket.price_ws import PolyBoltPriceFeed, RtdsPriceFeed
from core.adapters.polymarket.user_ws import UserFeed
from core.clock import WallClock
from core.events import BookReset, Event, FeedStatus, PriceSource, PriceTick
from tests.support.ws_server import WsTestServer, eventually

ACK = '{"ack":true}'
SUBSCRIBE = '{"subscribe":"test"}'
FEED_LOGGER = "core.adapters.polymarket.feed"


class FakeParser:
    """Stands in for the real parsers: `{"p": "1.5"}` becomes a PriceTick, acks and PONG become nothing,
    `{"boom": ...}` raises, and anything that is not JSON is counted malformed."""

    def __init__(self) -> None:
        self.malformed_total = 0

    def __call__(self, frame: str | bytes, recv_ms: int) -> Sequence[Event]:
        if frame == "PONG":
            return []
        try:
            message = json.loads(frame)
        except ValueError:
            self.malformed_total += 1
            return []
        if "boom" in message:
            raise RuntimeError("parser bug")
        if "ack" in message:
            return []
        price = Decimal(message["p"])
        return [PriceTick(ts_ms=recv_ms, source=PriceSource.BINANCE, price=price, source_ts_ms=recv_ms)]


def tick(price: int) -> str:
    return json.dumps({"p": str(price)})


def prices(events: list[Event]) -> list[int]:
    return [int(event.price) for event in events if isinstance(event, PriceTick)]


def statuses(events: list[Event]) -> list[bool]:
    return [event.stale for event in events if isinstance(event, FeedStatus)]


def make_feed(server: WsTestServer, parser: FakeParser, **options: Any) -> FeedClient:
    return FeedClient(
        "test",
        server.url,
        subscribe=lambda: [SUBSCRIBE],
        parse=parser,
        clock=WallClock(),
        malformed_count=lambda: parser.malformed_total,
        **options,
    )


@contextlib.asynccontextmanager
async def serving(*, ack: str | None = ACK) -> AsyncIterator[WsTestServer]:
    server = await WsTestServer(ack=ack).start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def running(feed: FeedClient, emit: Callable[[Event], None]) -> AsyncIterator[None]:
    task = asyncio.create_task(feed.run(emit))
    try:
        yield
    finally:
        await asyncio.wait_for(feed.stop(), 5)
        await asyncio.wait_for(task, 5)


async def settle_connection(server: WsTestServer, feed: FeedClient, connections: int) -> None:
    """Wait for the n-th subscription and for the client to have read the ack on that connection.

    A connection's first frame resets the backoff, so no failures on the n-th connection means the ack
    has arrived.
    """
    await eventually(lambda: len(server.requests) >= connections, what=f"subscription #{connections}")

    def acked() -> bool:
        health = feed.health()
        return (
            health.connected
            and health.reconnects == connections - 1
            and health.consecutive_failures == 0
            and health.messages >= connections
        )

    await eventually(acked, what=f"the ack on connection #{connections}")


def test_market_feed_subscribes_on_connect_and_resubscribes_after_a_reconnect() -> None:
    async def scenario() -> list[str]:
        async with serving() as server:
            feed = MarketFeed(server.url, ["111", "222"], parse=FakeParser(), clock=WallClock())
            async with running(feed, lambda event: None):
                await eventually(lambda: feed.health().messages == 1, what="the ack")
                server.drop()
                await eventually(lambda: len(server.requests) == 2, what="the resubscription")
            return server.requests

    requests = asyncio.run(scenario())

    assert json.loads(requests[0]) == {
        "assets_ids": ["111", "222"],
        "type": "market",
        "custom_feature_enabled": True,
    }
    assert requests[1] == requests[0]


def test_feed_emits_parsed_events_in_the_order_frames_arrive() -> None:
    events: list[Event] = []

    async def scenario() -> None:
        async with serving() as server:
            feed = make_feed(server, FakeParser())
            async with running(feed, events.append):
                await settle_connection(server, feed, 1)
                for price in range(1, 51):
                    await server.push(tick(price))
                await eventually(lambda: len(prices(events)) == 50)

    asyncio.run(scenario())

    assert prices(events) == list(range(1, 51))
    stamps = [event.ts_ms for event in events]
    assert stamps == sorted(stamps)


def test_feed_sends_ping_at_the_configured_interval_and_swallows_the_pongs() -> None:
    events: list[Event] = []

    async def scenario() -> tuple[list[float], int]:
        async with serving(ack=None) as server:
            feed = make_feed(server, FakeParser(), ping_text="PING", ping_interval_s=0.1)
            async with running(feed, events.append):
                await eventually(lambda: len(server.ping_times) >= 5, what="five PINGs")
                await eventually(lambda: feed.health().messages >= 5, what="five PONGs")
                health = feed.health()
            assert health.connected
            assert health.reconnects == 0
            assert health.malformed == 0
            assert health.callback_errors == 0
            return server.ping_times, health.messages

    ping_times, messages = asyncio.run(scenario())

    gaps = [later - earlier for earlier, later in itertools.pairwise(ping_times)]
    assert all(0.08 <= gap <= 0.25 for gap in gaps), gaps
    assert messages >= 5
    assert events == []


def test_feed_drops_a_connection_that_stays_silent_past_the_idle_timeout() -> None:
    async def scenario() -> None:
        async with serving() as server:
            server.silent = True
            feed = make_feed(server, FakeParser(), idle_timeout_s=0.2)
            async with running(feed, lambda event: None):
                await eventually(lambda: len(server.requests) >= 2, what="a reconnect after silence")
                assert "no frame for 0.2 s" in (feed.health().last_error or "")

    asyncio.run(scenario())


def test_feed_flags_stale_when_the_server_goes_silent_and_recovers_when_it_speaks_again() -> None:
    events: list[Event] = []

    async def scenario() -> None:
        async with serving() as server:
            feed = make_feed(server, FakeParser(), stale_after_s=0.3)
            async with running(feed, events.append):
                await settle_connection(server, feed, 1)

                async def keep_talking() -> None:
                    for price in range(1, 10_000):
                        await server.push(tick(price))
                        await asyncio.sleep(0.02)

                talker = asyncio.create_task(keep_talking())
                try:
                    await eventually(lambda: len(prices(events)) >= 3)
                    server.silent = True
                    await eventually(lambda: statuses(events) == [True], what="stale=True")
                    assert feed.health().stale
                    assert feed.health().connected
                    server.silent = False
                    await eventually(lambda: statuses(events) == [True, False], what="stale=False")
                finally:
                    talker.cancel()

    asyncio.run(scenario())

    stale_at = next(i for i, event in enumerate(events) if isinstance(event, FeedStatus) and event.stale)
    fresh_at = next(i for i, event in enumerate(events) if isinstance(event, FeedStatus) and not event.stale)
    last_tick_before = max(i for i, event in enumerate(events[:stale_at]) if isinstance(event, PriceTick))
    assert events[stale_at].ts_ms - events[last_tick_before].ts_ms >= 300
    assert isinstance(events[fresh_at - 1], PriceTick), "fresh is declared after the data that proves it"
    assert statuses(events) == [True, False]


def test_feed_reconnects_within_one_second_after_each_of_50_forced_drops() -> None:
    drops = 50

    async def scenario() -> list[float]:
        latencies: list[float] = []
        async with serving() as server:
            feed = make_feed(server, FakeParser(), backoff_initial_s=0.05, backoff_max_s=5.0)
            async with running(feed, lambda event: None):
                await settle_connection(server, feed, 1)
                for n in range(1, drops + 1):
                    dropped_at = server.drop()
                    await settle_connection(server, feed, n + 1)
                    latencies.append(server.request_times[n] - dropped_at)
                assert feed.health().reconnects == drops
        return latencies

    latencies = sorted(asyncio.run(scenario()))

    p50, p99, worst = statistics.median(latencies), latencies[-2], latencies[-1]
    print(
        f"reconnect after drop over {drops}: p50={p50 * 1000:.1f} ms p99={p99 * 1000:.1f} ms "
        f"max={worst * 1000:.1f} ms"
    )
    assert p99 < 1.0


def test_feed_survives_a_parse_and_an_emit_that_raise(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Event] = []

    def emit(event: Event) -> None:
        if isinstance(event, PriceTick) and event.price == 2:
            raise ValueError("downstream bug")
        events.append(event)

    async def scenario() -> None:
        async with serving() as server:
            feed = make_feed(server, FakeParser())
            async with running(feed, emit):
                await settle_connection(server, feed, 1)
                for frame in (tick(1), '{"boom":1}', tick(2), '{"boom":2}', tick(2), tick(3)):
                    await server.push(frame)
                await eventually(lambda: 3 in prices(events))
                health = feed.health()
            assert health.connected
            assert health.reconnects == 0
            assert health.callback_errors == 4
            assert health.last_error == "emit raised: ValueError: downstream bug"

    with caplog.at_level(logging.ERROR, logger=FEED_LOGGER):
        asyncio.run(scenario())

    assert prices(events) == [1, 3]
    errors = [record for record in caplog.records if record.name == FEED_LOGGER]
    assert [record.getMessage().split(";")[0] for record in errors] == [
        "feed test: parse raised RuntimeError",
        "feed test: emit raised ValueError",
    ]


def test_health_counts_reconnects_messages_and_malformed_frames() -> None:
    async def scenario() -> None:
        async with serving() as server:
            parser = FakeParser()
            feed = make_feed(server, parser)
            async with running(feed, lambda event: None):
                await settle_connection(server, feed, 1)
                await server.push_malformed()
                await server.push(tick(1))
                await eventually(lambda: feed.health().messages == 1 + 2)
                server.drop()
                await settle_connection(server, feed, 2)
                await server.push_malformed()
                await server.push(tick(2))
                await server.push(tick(3))
                await eventually(lambda: feed.health().messages == 1 + 2 + 1 + 3)
                server.drop()
                await settle_connection(server, feed, 3)
                health = feed.health()

            assert health.feed == "test"
            assert health.connected
            assert not health.stale
            assert health.reconnects == 2
            assert health.messages == 3 + 5
            assert health.malformed == 2
            assert health.callback_errors == 0
            assert health.consecutive_failures == 0
            assert health.next_retry_s is None
            assert health.last_message_age_s is not None
            assert 0 <= health.last_message_age_s < 1
            assert (health.last_error or "").startswith("connection: ConnectionClosedError")

    asyncio.run(scenario())


def test_user_feed_never_logs_its_secrets(caplog: pytest.LogCaptureFixture) -> None:
    secrets = {"key": "key-7f3a9c", "secret": "c2VjcmV0LXNob3VsZC1oaWRl", "passphrase": "pass-b81d"}

    async def scenario() -> list[str]:
        async with serving() as server:
            parser = FakeParser()
            feed = UserFeed(
                server.url,
                ["0xcondition"],
                api_key=SecretStr(secrets["key"]),
                api_secret=SecretStr(secrets["secret"]),
                api_passphrase=SecretStr(secrets["passphrase"]),
                parse=parser,
                clock=WallClock(),
                malformed_count=lambda: parser.malformed_total,
            )
            async with running(feed, lambda event: None):
                await settle_connection(server, feed, 1)
                await server.push('{"boom":1}')
                await server.push_malformed()
                server.drop()
                await settle_connection(server, feed, 2)
                shown = f"{feed.health()!r} {feed!r} {vars(feed)!r}"
            for value in secrets.values():
                assert value not in shown
            return server.requests

    with caplog.at_level(logging.DEBUG):
        requests = asyncio.run(scenario())

    assert json.loads(requests[0]) == {
        "type": "user",
        "auth": {"apiKey": secrets["key"], "secret": secrets["secret"], "passphrase": secrets["passphrase"]},
        "markets": ["0xcondition"],
    }
    assert requests[1] == requests[0]
    assert any(record.name == FEED_LOGGER for record in caplog.records), "the feed did log"
    for value in secrets.values():
        assert value not in caplog.text


def test_backoff_grows_while_the_server_is_down_and_the_feed_returns_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[Event] = []

    async def scenario() -> dict[int, float]:
        delays: dict[int, float] = {}
        async with serving() as server:
            feed = make_feed(
                server, FakeParser(), stale_after_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.8
            )
            async with running(feed, events.append):
                await settle_connection(server, feed, 1)
                await server.push(tick(1))
                await eventually(lambda: prices(events) == [1])

                await server.stop()
                outage_ends = time.perf_counter() + 1.3
                while time.perf_counter() < outage_ends:
                    health = feed.health()
                    if health.next_retry_s is not None:
                        delays.setdefault(health.consecutive_failures, health.next_retry_s)
                    await asyncio.sleep(0.005)
                assert statuses(events) == [True], "stale during the outage"

                await server.start()
                await eventually(lambda: len(server.requests) == 2, timeout_s=2.0, what="resubscription")
                await server.push(tick(2))
                await eventually(lambda: statuses(events) == [True, False], what="fresh again")
                assert feed.health().consecutive_failures == 0
        return delays

    with caplog.at_level(logging.INFO, logger=FEED_LOGGER):
        delays = asyncio.run(scenario())

    assert len(delays) >= 4, delays
    ours = [r for r in caplog.records if r.name == FEED_LOGGER]
    warnings = [r.getMessage().split(": ", 1)[1] for r in ours if r.levelno == logging.WARNING]
    assert [w.split(" (")[0].split(",")[0] for w in warnings] == [
        "connection lost",
        "stale",
        "reconnected; data flows again",
    ], "one warning per episode: the drop, the staleness, the return; not one per retry"
    retries = [r for r in ours if r.levelno == logging.INFO and "reconnecting in" in r.getMessage()]
    assert len(retries) >= 4
    for failures, delay in delays.items():
        ceiling = min(0.8, 0.05 * 2 ** (failures - 1))
        assert ceiling / 2 <= delay <= ceiling, delays
    assert prices(events) == [1, 2]


def test_rtds_feed_subscribes_each_topic_with_byte_exact_compact_filters() -> None:
    async def scenario() -> list[str]:
        async with serving() as server:
            feed = RtdsPriceFeed(server.url, parse=FakeParser(), clock=WallClock())
            async with running(feed, lambda event: None):
                await eventually(lambda: len(server.requests) == 3)
            return server.requests

    assert asyncio.run(scenario()) == [
        r'{"action":"subscribe","subscriptions":[{"topic":"crypto_prices_chainlink","type":"*",'
        r'"filters":"{\"symbol\":\"btc/usd\"}"}]}',
        r'{"action":"subscribe","subscriptions":[{"topic":"crypto_prices","type":"update",'
        r'"filters":"{\"symbol\":\"btcusdt\"}"}]}',
        r'{"action":"subscribe","subscriptions":[{"topic":"crypto_prices_twap_sixty","type":"update",'
        r'"filters":"{\"symbol\":\"btc/usd\"}"}]}',
    ]


def test_polybolt_feed_authenticates_then_subscribes_and_sends_no_text_ping() -> None:
    async def scenario() -> WsTestServer:
        async with serving(ack=None) as server:
            feed = PolyBoltPriceFeed(
                server.url,
                api_key=SecretStr("k"),
                api_secret=SecretStr("s"),
                api_passphrase=SecretStr("p"),
                parse=FakeParser(),
                clock=WallClock(),
            )
            async with running(feed, lambda event: None):
                await eventually(lambda: len(server.requests) == 2)
        return server

    server = asyncio.run(scenario())

    assert [json.loads(request) for request in server.requests] == [
        {"op": "auth", "rid": "a1", "auth": {"apiKey": "k", "secret": "s", "passphrase": "p"}},
        {
            "op": "subscribe",
            "rid": "s1",
            "subscriptions": [
                {"channel": "price.crypto", "filter": {"symbol": "btcusd", "provider": "chainlink"}},
                {"channel": "price.crypto.twap", "filter": {"symbol": "btcusd", "window_seconds": 60}},
            ],
        },
    ]
    assert server.ping_times == []


# --- resync: a subscription that says nothing, a silence, a book that stopped adding up ---------------------


def test_a_subscription_that_delivers_no_first_event_is_made_again() -> None:
    async def scenario() -> FeedClient:
        async with serving(ack=None) as server:  # accepts the subscription, then says nothing at all
            feed = make_feed(server, FakeParser(), resync_after_s=0.3)
            async with running(feed, lambda event: None):
                await eventually(lambda: len(server.requests) >= 3, what="two resubscriptions")
                return feed

    health = asyncio.run(scenario()).health()

    assert health.resyncs >= 2
    assert set(health.resync_reasons) == {"no_first_event"}
    assert health.last_error is None, "a resync is no connection failure"


def test_a_silent_connection_is_made_again_and_data_after_a_silence_is_announced_first() -> None:
    events: list[Event] = []

    async def scenario() -> FeedClient:
        async with serving() as server:
            feed = MarketFeed(
                server.url, ["up", "down"], parse=FakeParser(), clock=WallClock(), resync_after_s=0.5
            )
            async with running(feed, events.append):
                await eventually(lambda: len(server.requests) == 1, what="the subscription")
                await server.push(tick(1))
                await eventually(lambda: prices(events) == [1])
                server.silent = True
                await asyncio.sleep(0.2)
                server.silent = False
                await server.push(tick(2))  # 0.2 s of silence: nothing to say
                await eventually(lambda: prices(events) == [1, 2])
                assert len(server.requests) == 1
                server.silent = True  # long enough for the watchdog to subscribe afresh
                await eventually(lambda: len(server.requests) == 2, what="the resubscription", timeout_s=3)
                server.silent = False
                await server.push(tick(3))  # data again, 0.5 s and more after the last
                await eventually(lambda: prices(events) == [1, 2, 3])
                return feed

    feed = asyncio.run(scenario())

    resets = [(e.token_id, e.reason) for e in events if isinstance(e, BookReset)]
    assert resets == [
        ("up", "connect"),
        ("down", "connect"),
        ("up", "resync:silence"),
        ("down", "resync:silence"),
        ("up", "silence"),
        ("down", "silence"),
    ]
    first_after = next(i for i, e in enumerate(events) if isinstance(e, PriceTick) and e.price == 3)
    assert isinstance(events[first_after - 1], BookReset), "the reset comes before the data it doubts"
    assert feed.health().resync_reasons == {"silence": 1}
    assert feed.health().longest_silence_s >= 0.5


def test_request_resync_drops_the_connection_once_and_not_while_it_is_young() -> None:
    async def scenario() -> tuple[list[bool], int, FeedClient]:
        async with serving() as server:
            feed = make_feed(server, FakeParser())
            async with running(feed, lambda event: None):
                await settle_connection(server, feed, 1)
                young = feed.request_resync("crossed")
                await asyncio.sleep(1.05)
                answers = [young, feed.request_resync("crossed"), feed.request_resync("crossed")]
                await settle_connection(server, feed, 2)
                return answers, len(server.requests), feed

    answers, subscriptions, feed = asyncio.run(scenario())

    assert answers == [False, True, False]
    assert subscriptions == 2
    assert feed.health().resync_reasons == {"crossed": 1}
    assert feed.health().reconnects == 1
