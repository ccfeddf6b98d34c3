"""The real adapters and the real py-clob-client-v2 against the simulated venue on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest
from core.adapters.polymarket.gamma import GammaClient, GammaError, MarketInfo
from core.config import Settings
from core.errors import ErrorCategory, VenueError
from core.events import OrderStatus, OrderType, OrderUpdate, Outcome, Side, TickSizeChange
from core.execution.base import ApprovedOrder, OrderIntent
from core.execution.live import LiveExecutor, LivePermit, MarketTerms
from core.risk.verdict import ReasonCode, RiskVerdict
from core.sim.server import SimServer
from core.sim.venue import SimConfig

KEY = SecretStr("0x" + "4f" * 32)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=300, seed=11, initial_collateral=Decimal(10_000))) as server:
        yield server


@pytest.fixture
def port(sim: SimServer) -> ClobOrderPort:
    order_port = ClobOrderPort(sim.urls.clob_url, KEY)
    order_port.ensure_creds()
    httpx.delete(f"{sim.base_url}/_sim/faults")
    order_port.cancel_all()
    return order_port


@pytest.fixture
def market(sim: SimServer) -> MarketInfo:
    slug = httpx.get(f"{sim.base_url}/_sim/state").json()["current_round"]
    return asyncio.run(GammaClient(sim.urls.gamma_url).market(slug))


def best_levels(sim: SimServer, token_id: str) -> tuple[Decimal, Decimal]:
    """Best bid and best ask of a token, waiting for the market maker's first quotes."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        book = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": token_id}).json()
        if book["bids"] and book["asks"]:
            return Decimal(book["bids"][-1]["price"]), Decimal(book["asks"][-1]["price"])
        time.sleep(0.1)
    raise AssertionError("no two-sided book")


def tick_of(sim: SimServer, token_id: str) -> Decimal:
    """The market's tick now: 0.001 once its book nears an extreme."""
    answer = httpx.get(f"{sim.urls.clob_url}/tick-size", params={"token_id": token_id}).json()
    return Decimal(str(answer["minimum_tick_size"]))  # a JSON number, as on the venue


def round_ahead(sim: SimServer, rounds: int) -> dict[str, str]:
    """A listed round that has not opened (1 or 2 after the current one): its market is ours to change."""
    state = httpx.get(f"{sim.base_url}/_sim/state").json()
    later = sorted(slug for slug in state["rounds"] if slug > state["current_round"])
    return dict(state["rounds"][later[rounds - 1]])


def quoted_token(sim: SimServer, market: MarketInfo) -> str:
    """The token whose book is two-sided, for orders that must cross or rest."""
    for token in (market.up_token_id, market.down_token_id):
        book = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": token}).json()
        if book["bids"] and book["asks"]:
            return token
    return market.up_token_id


def arm(sim: SimServer, **faults: object) -> None:
    httpx.post(f"{sim.base_url}/_sim/faults", json=faults).raise_for_status()


def test_gamma_discovery_reads_the_round_market_with_its_rules(market: MarketInfo) -> None:
    assert market.slug.startswith("btc-updown-5m-")
    assert market.up_token_id != market.down_token_id
    assert market.tick_size == Decimal("0.01")
    assert market.min_order_size == 5
    assert market.fee_schedule.rate == Decimal("0.07")
    assert market.strike is not None
    assert market.strike > 0
    assert market.window_close - market.window_open == timedelta(seconds=300)


def test_gamma_says_an_unknown_round_is_not_listed(sim: SimServer) -> None:
    client = GammaClient(sim.urls.gamma_url, attempts=2, backoff_s=0.01)
    with pytest.raises(GammaError, match="not listed") as caught:
        asyncio.run(client.market("btc-updown-5m-300"))
    assert caught.value.transient


def test_the_real_client_derives_the_same_creds_again(sim: SimServer, port: ClobOrderPort) -> None:
    again = ClobOrderPort(sim.urls.clob_url, KEY).ensure_creds()
    assert again == port.ensure_creds()


def test_a_resting_order_is_listed_and_cancelled(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo
) -> None:
    token = quoted_token(sim, market)
    bid, _ = best_levels(sim, token)
    low = max(Decimal("0.01"), bid - Decimal("0.05"))
    placed = port.place(
        OrderRequest(token, Side.BUY, low, Decimal(10), OrderType.GTC, tick_size=tick_of(sim, token))
    )
    assert placed.status == "live"
    assert [order["id"] for order in port.open_orders(asset_id=token)] == [placed.venue_order_id]
    assert port.cancel(placed.venue_order_id)
    assert port.open_orders(asset_id=token) == []


def test_a_marketable_order_fills_and_its_trade_is_listed(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo
) -> None:
    token = quoted_token(sim, market)
    _, ask = best_levels(sim, token)
    tick = tick_of(sim, token)
    limit = min(1 - tick, ask + Decimal("0.03"))  # the market maker may requote before the order lands
    size = (Decimal(2) / limit).quantize(Decimal(1)) + 1
    placed = port.place(OrderRequest(token, Side.BUY, limit, size, OrderType.FAK, tick_size=tick))
    assert placed.status == "matched"
    assert placed.trade_ids
    trades = port.trades(trade_id=placed.trade_ids[0])
    assert trades
    assert trades[0]["taker_order_id"] == placed.venue_order_id


def test_venue_rule_violations_are_refused_before_anything_is_sent(
    port: ClobOrderPort, market: MarketInfo
) -> None:
    cases = [
        (
            OrderRequest(market.up_token_id, Side.BUY, Decimal("0.505"), Decimal(10), OrderType.GTC),
            "tick_grid",
        ),
        (OrderRequest(market.up_token_id, Side.BUY, Decimal("0.50"), Decimal(4), OrderType.GTC), "min_size"),
        (
            OrderRequest(market.up_token_id, Side.BUY, Decimal("0.50"), Decimal(1), OrderType.FAK),
            "min_notional",
        ),
    ]
    for request, reason in cases:
        with pytest.raises(VenueError) as caught:
            port.place(request)
        assert caught.value.category is ErrorCategory.REJECTED
        assert caught.value.reason == reason


def test_a_fill_or_kill_the_book_cannot_fill_is_rejected_with_the_venue_message(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo
) -> None:
    token = quoted_token(sim, market)
    _, ask = best_levels(sim, token)
    more_than_the_market_maker_ever_quotes = Decimal(5 * 300 + 1)
    with pytest.raises(VenueError) as caught:
        port.place(
            OrderRequest(
                token,
                Side.BUY,
                ask,
                more_than_the_market_maker_ever_quotes,
                OrderType.FOK,
                tick_size=tick_of(sim, token),
            )
        )
    assert caught.value.category is ErrorCategory.REJECTED
    assert caught.value.message == "order couldn't be fully filled. FOK orders are fully filled or killed."


def test_an_order_beyond_the_balance_is_fatal(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo
) -> None:
    with pytest.raises(VenueError) as caught:
        port.place(
            OrderRequest(market.up_token_id, Side.BUY, Decimal("0.50"), Decimal(100_000), OrderType.GTC)
        )
    assert caught.value.category is ErrorCategory.FATAL
    assert caught.value.message == "not enough balance / allowance"


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (503, ErrorCategory.TRANSIENT),
        (425, ErrorCategory.TRANSIENT),
        (429, ErrorCategory.TRANSIENT),
        (500, ErrorCategory.UNKNOWN),
    ],
)
def test_venue_errors_on_a_post_are_classified(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo, status: int, category: ErrorCategory
) -> None:
    arm(
        sim,
        http={"status": status, "path_prefix": "/clob/order", "retry_after_s": 2 if status == 429 else None},
    )
    with pytest.raises(VenueError) as caught:
        port.place(OrderRequest(market.up_token_id, Side.BUY, Decimal("0.02"), Decimal(10), OrderType.GTC))
    assert caught.value.category is category
    assert caught.value.status == status
    if status == 429:
        assert caught.value.retry_after_s == 2


def test_a_lost_answer_is_unknown_and_reconciliation_finds_the_order_without_resending(
    sim: SimServer, port: ClobOrderPort, market: MarketInfo
) -> None:
    token = quoted_token(sim, market)
    bid, _ = best_levels(sim, token)
    request = OrderRequest(
        token,
        Side.BUY,
        max(Decimal("0.01"), bid - Decimal("0.05")),
        Decimal(10),
        OrderType.GTC,
        tick_size=tick_of(sim, token),
    )
    arm(sim, lose_order_responses=1)
    with pytest.raises(VenueError) as caught:
        port.place(request)
    assert caught.value.category is ErrorCategory.UNKNOWN
    open_orders = port.open_orders(asset_id=token)
    assert len(open_orders) == 1, "the venue took the order although the answer was lost"
    found = port.reconcile(open_orders[0]["id"], market=market.condition_id)
    assert found.found
    assert found.open_order is not None
    assert len(port.open_orders(asset_id=token)) == 1, "reconciliation sent nothing"


def test_a_down_venue_is_a_transient_connect_error(port: ClobOrderPort) -> None:
    dead = ClobOrderPort("http://127.0.0.1:9", KEY, creds=port.ensure_creds())
    with pytest.raises(VenueError) as caught:
        dead.open_orders()
    assert caught.value.category is ErrorCategory.TRANSIENT


def test_heartbeats_chain_ids_and_recover_from_a_stale_id(port: ClobOrderPort) -> None:
    first = port.heartbeat("")
    second = port.heartbeat(first)
    assert second
    assert second != first
    assert port.heartbeat("stale-id") == second


def test_armed_latency_delays_every_answer(sim: SimServer) -> None:
    arm(sim, latency_ms=300)
    started = time.monotonic()
    httpx.get(f"{sim.urls.clob_url}/time").raise_for_status()
    delayed = time.monotonic() - started
    httpx.delete(f"{sim.base_url}/_sim/faults").raise_for_status()
    assert delayed >= 0.3


def test_faults_are_refused_when_malformed(sim: SimServer) -> None:
    answer = httpx.post(f"{sim.base_url}/_sim/faults", json={"http": {"status": 200}})
    assert answer.status_code == 422
    assert "bad fault request" in answer.json()["error"]


@pytest.mark.parametrize(("price", "size"), [("0.58", 10), ("0.29", 10), ("0.57", 10), ("0.09", 20)])
@pytest.mark.parametrize("order_type", [OrderType.FAK, OrderType.GTC])
def test_an_order_is_signed_at_exactly_its_price_and_size(
    port: ClobOrderPort, market: MarketInfo, price: str, size: int, order_type: OrderType
) -> None:
    """py-clob-client-v2 floors prices and amounts in binary floating point (0.58 -> 0.57): the port must
    hand it values that survive that, or the venue gets a different order than the one we recorded."""
    request = OrderRequest(market.down_token_id, Side.BUY, Decimal(price), Decimal(size), order_type)
    signed = port.prepare(request).signed
    assert int(signed.makerAmount) == int(Decimal(price) * size * 1_000_000), "pUSD paid: price x size"
    assert int(signed.takerAmount) == size * 1_000_000, "shares received"


# --- the tick changes near the extremes; the client caches a token's first tick forever -------------------


def test_the_port_signs_on_the_markets_new_tick_although_the_client_cached_the_old_one(
    sim: SimServer, port: ClobOrderPort
) -> None:
    """py-clob-client-v2 refuses a 0.001 price once it cached 0.01 for the token: 'invalid tick size (0.001),
    minimum for the market is 0.01'. The port signs on the tick the request names."""
    ahead = round_ahead(sim, 1)
    token = ahead["up_token_id"]
    coarse = port.place(OrderRequest(token, Side.BUY, Decimal("0.01"), Decimal(10), OrderType.GTC))
    assert coarse.status == "live"
    changed = httpx.post(
        f"{sim.base_url}/_sim/tick-size", json={"condition_id": ahead["condition_id"], "tick_size": "0.001"}
    )
    assert changed.json() == {
        "market": ahead["condition_id"],
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
    }
    assert tick_of(sim, token) == Decimal("0.001")
    request = OrderRequest(
        token, Side.BUY, Decimal("0.005"), Decimal(300), OrderType.GTC, tick_size=Decimal("0.001")
    )
    fine = port.place(request)
    assert fine.status == "live"
    signed = port.prepare(request).signed
    assert int(signed.makerAmount) == 1_500_000, "signed at 0.005: 300 shares for 1.5 pUSD"
    [resting] = [o for o in port.open_orders(asset_id=token) if o["id"] == fine.venue_order_id]
    assert Decimal(resting["price"]) == Decimal("0.005")
    port.cancel_all()


def test_the_live_executor_signs_on_the_tick_the_market_channel_announced(sim: SimServer) -> None:
    ahead = round_ahead(sim, 2)
    token = ahead["up_token_id"]
    port = ClobOrderPort(sim.urls.clob_url, KEY)
    port.ensure_creds()
    port.place(OrderRequest(token, Side.BUY, Decimal("0.02"), Decimal(10), OrderType.GTC))  # caches 0.01
    httpx.post(
        f"{sim.base_url}/_sim/tick-size", json={"condition_id": ahead["condition_id"], "tick_size": "0.001"}
    ).raise_for_status()
    settings = Settings(mode="live", private_key=KEY, live_confirmed=True)
    terms = MarketTerms(ahead["condition_id"], tick_size=Decimal("0.01"), min_order_size=Decimal(5))
    executor = LiveExecutor(port, LivePermit.from_settings(settings), terms)
    executor.observe(TickSizeChange(ts_ms=0, token_id=token, tick_size=Decimal("0.001")))
    intent = OrderIntent(
        order_id="fine-tick",
        round_slug=ahead["condition_id"],
        token_id=token,
        outcome=Outcome.UP,
        side=Side.BUY,
        price=Decimal("0.007"),
        size=Decimal(200),
        order_type=OrderType.GTC,
        decision_id=None,
        strategy="test",
    )
    executor.submit(ApprovedOrder(intent, RiskVerdict("v", "fine-tick", True, ReasonCode.OK, "ok")), 0)
    assert executor.wait_idle()
    [update] = executor.poll(0)
    assert isinstance(update, OrderUpdate)
    assert update.status is OrderStatus.LIVE
    executor.close()
    port.cancel_all()
