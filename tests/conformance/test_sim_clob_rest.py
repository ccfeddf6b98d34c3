"""The simulated venue's CLOB REST API against Polymarket's documented shapes, through the real
py-clob-client-v2 (and raw HTTP where the client hides the answer): public market data, the owner check of a
signed order, allowances, and delayed takers (../shared/reference/polymarket.md section 7)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    OrderArgsV2,
    PartialCreateOrderOptions,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.exceptions import PolyApiException
from pydantic import SecretStr

from core.adapters.polymarket.clob import ClobOrderPort, OrderRequest
from core.adapters.polymarket.user_parser import UserParser
from core.adapters.polymarket.user_ws import UserFeed
from core.clock import WallClock
from core.config import Settings
from core.engine.engine import _TERMINAL as ENGINE_CLOSES_ON
from core.errors import ErrorCategory, VenueError
from core.events import Event, OrderStatus, OrderType, OrderUpdate, Outcome, Side
from core.execution.base import ApprovedOrder, ExecutionError, OrderIntent
from core.execution.live import LiveExecutor, LivePermit, MarketTerms
from core.market.fees import CRYPTO_FEES_V2
from core.risk.rules import max_position
from core.risk.state import RoundExposure
from core.risk.verdict import ReasonCode, RiskVerdict
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from tests.support.risk import Scenario

KEY = "0x" + "3c" * 32
OTHER_KEY = "0x" + "7d" * 32
DELAY_MS = 250
REFERENCE = Path(
    os.environ.get("BTC_AGENT_SHARED_REFERENCE")
    or Path(__file__).resolve().parents[2].parent / "shared" / "reference"
)
CAPTURED_MARKET = REFERENCE / "samples" / "nautilus_trader" / "later_commits" / "clob_market_response.json"
BOOK_FIELDS = {
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
}


@pytest.fixture(scope="module")
def still() -> Iterator[SimServer]:
    """A venue that steps once, at the start: its books hold still, so answers can be compared."""
    with SimServer(SimConfig(round_seconds=300, seed=41, step_ms=600_000)) as server:
        yield server


@pytest.fixture(scope="module")
def delayed() -> Iterator[SimServer]:
    """A venue that holds our takers as the real one does on crypto Up/Down markets."""
    config = SimConfig(
        round_seconds=300, seed=43, taker_delay_ms=DELAY_MS, initial_collateral=Decimal(10_000)
    )
    with SimServer(config) as server:
        yield server


def current_round(sim: SimServer) -> dict[str, str]:
    state = httpx.get(f"{sim.base_url}/_sim/state").json()
    return dict(state["rounds"][state["current_round"]])


def client(sim: SimServer, key: str = KEY) -> ClobClient:
    clob = ClobClient(sim.urls.clob_url, 137, key=key)
    clob.set_api_creds(clob.create_or_derive_api_key())
    return clob


def quoted_round(sim: SimServer) -> dict[str, str]:
    """A listed round whose book is two-sided (the current one first; ahead of their opening, rounds are
    quoted too): a still venue keeps its single step's books, also after the current round changes."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = httpx.get(f"{sim.base_url}/_sim/state").json()
        rounds = [state["rounds"][state["current_round"]], *state["rounds"].values()]
        for market in rounds:
            book = httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": market["up_token_id"]}).json()
            if book["bids"] and book["asks"] and not market["settled"]:
                return dict(market)
        time.sleep(0.1)
    raise AssertionError("no two-sided book")


def two_sided_token(sim: SimServer) -> str:
    return quoted_round(sim)["up_token_id"]


def top(book: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """Best bid, best ask (the last levels, as captured) and the tick of a `/book` answer."""
    return Decimal(book["bids"][-1]["price"]), Decimal(book["asks"][-1]["price"]), Decimal(book["tick_size"])


def marketable_buy(sim: SimServer, token: str, *, through: str = "0.03") -> OrderRequest:
    """A FAK BUY on the market's tick, `through` past the best ask (a delayed one meets the book as it is
    a moment later), worth over $1."""
    _, ask, tick = top(httpx.get(f"{sim.urls.clob_url}/book", params={"token_id": token}).json())
    limit = min(1 - tick, ask + Decimal(through))
    return OrderRequest(
        token, Side.BUY, limit, (Decimal(2) / limit).quantize(Decimal(1)) + 1, OrderType.FAK, tick_size=tick
    )


# --- public market data (issue 16, point 5) -------------------------------------------------------------


def test_book_carries_every_field_the_client_reads_and_a_hash_it_reproduces(still: SimServer) -> None:
    token = two_sided_token(still)
    book = client(still).get_order_book(token)
    assert set(book) == BOOK_FIELDS
    assert client(still).get_order_book_hash(dict(book)) == book["hash"], "get_order_book_hash reproduces it"
    bids = [Decimal(level["price"]) for level in book["bids"]]
    asks = [Decimal(level["price"]) for level in book["asks"]]
    assert bids == sorted(bids), "bids ascending, best last"
    assert asks == sorted(asks, reverse=True), "asks descending, best last"
    assert all(isinstance(level[k], str) for level in book["bids"] + book["asks"] for k in ("price", "size"))
    assert (book["min_order_size"], book["neg_risk"]) == ("5", False)


def test_books_answers_each_token_asked_for_in_order(still: SimServer) -> None:
    market = quoted_round(still)
    tokens = [market["down_token_id"], market["up_token_id"]]
    clob = client(still)
    books = clob.get_order_books([BookParams(token_id=token) for token in tokens])
    assert [book["asset_id"] for book in books] == tokens
    for book in books:
        assert set(book) == BOOK_FIELDS
        assert clob.get_order_book_hash(dict(book)) == book["hash"]


def test_prices_midpoint_and_spread_follow_the_book(still: SimServer) -> None:
    token = two_sided_token(still)
    clob = client(still)
    bid, ask, _ = top(clob.get_order_book(token))
    assert clob.get_midpoint(token) == {"mid": str((bid + ask) / 2).rstrip("0").rstrip(".")}
    assert Decimal(clob.get_price(token, "BUY")["price"]) == bid, "BUY: the best bid, as documented"
    assert Decimal(clob.get_price(token, "SELL")["price"]) == ask, "SELL: the best ask"
    assert Decimal(clob.get_spread(token)["spread"]) == ask - bid
    assert clob.get_midpoints([BookParams(token_id=token)]) == {token: clob.get_midpoint(token)["mid"]}
    assert clob.get_spreads([BookParams(token_id=token)]) == {token: clob.get_spread(token)["spread"]}
    assert clob.get_prices(
        [BookParams(token_id=token, side="BUY"), BookParams(token_id=token, side="SELL")]
    ) == {
        token: {"BUY": clob.get_price(token, "BUY")["price"], "SELL": clob.get_price(token, "SELL")["price"]}
    }


def test_last_trade_price_is_the_documented_default_then_the_latest_trade(still: SimServer) -> None:
    clob = client(still)
    rounds = httpx.get(f"{still.base_url}/_sim/state").json()["rounds"].values()
    untraded = next(
        token
        for market in rounds
        for token in (market["up_token_id"], market["down_token_id"])
        if clob.get_last_trade_price(token)["side"] == ""
    )
    assert clob.get_last_trade_price(untraded) == {"price": "0.5", "side": ""}
    token = two_sided_token(still)
    port = ClobOrderPort(still.urls.clob_url, SecretStr(KEY))
    port.ensure_creds()
    request = marketable_buy(still, token)
    placed = port.place(request)
    assert placed.status == "matched"
    last = clob.get_last_trade_price(token)
    assert last["side"] == "BUY"
    assert Decimal(last["price"]) <= request.price
    assert clob.get_last_trades_prices([BookParams(token_id=token)]) == [{"token_id": token, **last}]
    assert Decimal(clob.get_order_book(token)["last_trade_price"]) == Decimal(last["price"])


def test_an_unknown_token_has_no_orderbook(still: SimServer) -> None:
    answer = httpx.get(f"{still.urls.clob_url}/midpoint", params={"token_id": "12345"})
    assert (answer.status_code, answer.json()) == (
        404,
        {"error": "No orderbook exists for the requested token id"},
    )


def test_markets_describes_a_round_with_the_captured_shape(still: SimServer) -> None:
    if not CAPTURED_MARKET.is_file():
        pytest.skip(f"captured sample {CAPTURED_MARKET} is absent (set BTC_AGENT_SHARED_REFERENCE)")
    captured = json.loads(CAPTURED_MARKET.read_text())
    market = current_round(still)
    ours = client(still).get_market(market["condition_id"])
    assert list(ours) == list(captured), "the same fields, in the same order"
    for key, value in captured.items():
        if value is not None and ours[key] is not None:
            assert type(ours[key]) is type(value), key
    assert [set(token) for token in ours["tokens"]] == [set(token) for token in captured["tokens"]]
    assert [(t["token_id"], t["outcome"]) for t in ours["tokens"]] == [
        (market["up_token_id"], "Up"),
        (market["down_token_id"], "Down"),
    ]
    assert (ours["condition_id"], ours["minimum_order_size"], ours["minimum_tick_size"]) == (
        market["condition_id"],
        5,
        0.01,
    )
    assert ours["accepting_orders"] is True


# --- the owner of a signed order (point 6) ---------------------------------------------------------------


def signed_by(sim: SimServer, key: str, token: str) -> Any:
    signer = ClobClient(sim.urls.clob_url, 137, key=key)
    args = OrderArgsV2(token_id=token, price=0.02, size=10, side="BUY")
    return signer.create_order(args, PartialCreateOrderOptions(tick_size="0.01", neg_risk=False))


def test_an_order_signed_by_another_wallet_gets_the_documented_owner_error(still: SimServer) -> None:
    token = current_round(still)["up_token_id"]
    with pytest.raises(PolyApiException) as caught:
        client(still).post_order(signed_by(still, OTHER_KEY, token), "GTC", defer_exec=True)
    assert (caught.value.status_code, caught.value.error_msg) == (
        400,
        {"error": "the order owner has to be the owner of the API KEY"},
    )


def test_an_order_whose_signature_does_not_match_it_is_an_invalid_signature(still: SimServer) -> None:
    token = current_round(still)["up_token_id"]
    order = signed_by(still, KEY, token)
    order.takerAmount = str(int(order.takerAmount) * 2)  # the signature no longer covers the order
    with pytest.raises(PolyApiException) as caught:
        client(still).post_order(order, "GTC", defer_exec=True)
    assert caught.value.error_msg == {"error": "invalid signature"}


# --- allowances (point 7) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("asset_type", [AssetType.COLLATERAL, AssetType.CONDITIONAL])
def test_allowances_are_keyed_by_the_exchange_contracts(still: SimServer, asset_type: str) -> None:
    contracts = get_contract_config(137)
    params = BalanceAllowanceParams(asset_type=asset_type, token_id=current_round(still)["up_token_id"])
    answer = client(still).get_balance_allowance(params)
    assert set(answer) == {"balance", "allowances"}
    assert set(answer["allowances"]) == {
        contracts.exchange_v2,
        contracts.neg_risk_exchange_v2,
        contracts.neg_risk_adapter,
    }
    assert all(value.isdigit() for value in [answer["balance"], *answer["allowances"].values()]), "base units"
    port = ClobOrderPort(still.urls.clob_url, SecretStr(KEY))
    port.ensure_creds()
    collateral = port.collateral()
    assert collateral.allowance_for(port.exchange_address(neg_risk=False)) > 0
    assert collateral.allowance_for(port.exchange_address(neg_risk=True)) > 0


# --- takers: delayed on crypto Up/Down markets, answered with trade ids but no hashes (point 9) --------------


def test_a_filled_fak_answer_carries_trade_ids_but_no_transaction_hashes(still: SimServer) -> None:
    token = two_sided_token(still)
    port = ClobOrderPort(still.urls.clob_url, SecretStr(KEY))
    port.ensure_creds()
    request = marketable_buy(still, token)
    prepared = port.prepare(request)
    answer = client(still).post_order(prepared.signed, "FAK", defer_exec=True)
    assert (answer["success"], answer["status"], answer["errorMsg"]) == (True, "matched", "")
    assert answer["tradeIDs"]
    assert answer["transactionsHashes"] == []
    assert (
        httpx.get(f"{still.urls.clob_url}/clob-markets/{current_round(still)['condition_id']}").json()[
            "itode"
        ]
        is False
    ), "this venue holds no takers"


def test_a_taker_is_answered_delayed_cannot_be_cancelled_nor_sent_again_then_matches(
    delayed: SimServer,
) -> None:
    token = two_sided_token(delayed)
    port = ClobOrderPort(delayed.urls.clob_url, SecretStr(KEY))
    port.ensure_creds()
    prepared = port.prepare(marketable_buy(delayed, token, through="0.1"))
    placed = port.post(prepared)
    assert (placed.status, placed.trade_ids, placed.taking_amount) == ("delayed", (), Decimal(0))
    assert not port.cancel(placed.venue_order_id), "no cancel while the venue holds it"
    with pytest.raises(VenueError) as caught:
        port.post(prepared)
    assert caught.value.category is ErrorCategory.REJECTED
    assert caught.value.message == f"order {placed.venue_order_id} is invalid. Duplicated."
    found = port.reconcile(placed.venue_order_id)
    assert found.open_order is not None
    assert found.open_order["status"] == "DELAYED"
    deadline = time.monotonic() + 5
    while port.reconcile(placed.venue_order_id).open_order is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    ours = [t for t in port.trades() if t["taker_order_id"] == placed.venue_order_id]
    assert ours, "matched once the delay is over"
    assert all(t["status"] == "MATCHED" and t["transaction_hash"] == "" for t in ours), "not mined yet"
    cid = current_round(delayed)["condition_id"]
    assert httpx.get(f"{delayed.urls.clob_url}/clob-markets/{cid}").json()["itode"] is True


def live_settings() -> Settings:
    return Settings(mode="live", private_key=SecretStr(KEY), live_confirmed=True)


def wait_for(executor: LiveExecutor) -> list[OrderUpdate | ExecutionError]:
    assert executor.wait_idle()
    return [r for r in executor.poll(0) if isinstance(r, OrderUpdate | ExecutionError)]


def as_the_engine_does(exposure: RoundExposure, update: OrderUpdate) -> RoundExposure:
    """core.engine.engine: an order stays open exposure until a terminal status closes it."""
    return exposure.closed(update.order_id) if update.status in ENGINE_CLOSES_ON else exposure


async def collect(
    feed: UserFeed, until: Callable[[list[Event]], bool], during: Callable[[], None]
) -> list[Event]:
    events: list[Event] = []
    task = asyncio.create_task(feed.run(events.append))
    try:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(during)
        deadline = time.monotonic() + 10
        while not until(events):
            assert time.monotonic() < deadline, f"condition not met; events: {events}"
            await asyncio.sleep(0.02)
    finally:
        await feed.stop()
        await task
    return events


def test_a_delayed_taker_is_open_exposure_until_the_venue_says_how_it_ended(delayed: SimServer) -> None:
    market = quoted_round(delayed)
    token, outcome = market["up_token_id"], Outcome.UP
    port = ClobOrderPort(delayed.urls.clob_url, SecretStr(KEY))
    creds = port.ensure_creds()
    request = marketable_buy(delayed, token, through="0.1")
    terms = MarketTerms(market["condition_id"], request.tick_size, Decimal(5))  # 0.001 near the extremes
    executor = LiveExecutor(port, LivePermit.from_settings(live_settings()), terms)
    intent = OrderIntent(
        order_id="delayed-1",
        round_slug="sim",
        token_id=token,
        outcome=outcome,
        side=Side.BUY,
        price=request.price,
        size=Decimal(60),
        order_type=OrderType.FAK,
        decision_id=None,
        strategy="test",
    )
    parser = UserParser(api_key=creds.api_key, fee_schedule=CRYPTO_FEES_V2, client_ids=executor.client_ids)
    feed = UserFeed(
        delayed.urls.user_ws_url,
        [market["condition_id"]],
        api_key=SecretStr(creds.api_key),
        api_secret=SecretStr(creds.api_secret),
        api_passphrase=SecretStr(creds.api_passphrase),
        parse=parser.parse,
        clock=WallClock(),
    )
    exposure = RoundExposure().placed(intent)
    answered: list[OrderUpdate | ExecutionError] = []

    def place_then_try_to_cancel() -> None:
        executor.submit(
            ApprovedOrder(intent, RiskVerdict("v", intent.order_id, True, ReasonCode.OK, "ok")), 0
        )
        answered.extend(wait_for(executor))
        executor.cancel(intent.order_id, 0)
        answered.extend(wait_for(executor))

    def ended(events: list[Event]) -> bool:
        return any(isinstance(e, OrderUpdate) and e.status in ENGINE_CLOSES_ON for e in events)

    events = asyncio.run(collect(feed, ended, place_then_try_to_cancel))
    executor.close()

    [update] = answered  # the cancel the venue refused reports nothing
    assert isinstance(update, OrderUpdate)
    assert update.status is OrderStatus.PENDING
    exposure = as_the_engine_does(exposure, update)
    assert exposure.pending_buy_shares(outcome) == 60, "a delayed taker counts as exposure"
    second = Scenario(intent=replace(intent, order_id="delayed-2", size=Decimal(50)), exposure=exposure)
    refused = max_position.check(second.intent, second.context(), second.limits)
    assert refused is not None, "60 pending + 50 more would pass the 100-share limit"
    assert refused.details["open_buys"] == "60"

    updates = [e for e in events if isinstance(e, OrderUpdate) and e.order_id == intent.order_id]
    assert updates[0].status is OrderStatus.PENDING, "the user channel says DELAYED first"
    for seen in updates:
        exposure = as_the_engine_does(exposure, seen)
    assert updates[-1].status in {OrderStatus.FILLED, OrderStatus.CANCELED}
    assert exposure.open_orders == (), "and the exposure ends when the venue says how the order ended"
