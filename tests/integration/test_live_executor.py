"""The live executor on the real CLOB client against the simulated venue: placed off-thread, permitted
only when live trading was asked for in every way, and never resending after an unknown outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.adapters.polymarket.clob import ClobOrderPort
from core.config import Settings
from core.events import OrderStatus, OrderType, OrderUpdate, Outcome, Side
from core.execution.base import ApprovedOrder, ExecutionError, OrderIntent
from core.execution.live import LiveExecutor, LivePermit, MarketTerms
from core.risk.verdict import ReasonCode, RiskVerdict
from core.sim.server import SimServer
from core.sim.venue import SimConfig

KEY = "0x" + "6a" * 32


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=300, seed=31)) as server:
        yield server


def live_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"mode": "live", "private_key": SecretStr(KEY), "live_confirmed": True}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def approved(
    order_id: str, token: str, price: Decimal, size: Decimal, order_type: OrderType
) -> ApprovedOrder:
    intent = OrderIntent(
        order_id=order_id,
        round_slug="test",
        token_id=token,
        outcome=Outcome.UP,
        side=Side.BUY,
        price=price,
        size=size,
        order_type=order_type,
        decision_id=None,
        strategy="test",
    )
    return ApprovedOrder(intent, RiskVerdict(f"verdict-{order_id}", order_id, True, ReasonCode.OK, "ok"))


def executor_for(sim: SimServer) -> tuple[LiveExecutor, ClobOrderPort, dict[str, str]]:
    state = httpx.get(f"{sim.base_url}/_sim/state").json()
    market = state["rounds"][state["current_round"]]
    port = ClobOrderPort(sim.urls.clob_url, SecretStr(KEY))
    port.ensure_creds()
    port.cancel_all()
    terms = MarketTerms(
        condition_id=market["condition_id"], tick_size=Decimal("0.01"), min_order_size=Decimal(5)
    )
    executor = LiveExecutor(port, LivePermit.from_settings(live_settings()), terms, reconcile_backoff_s=0.05)
    return executor, port, market


def wait_for_results(executor: LiveExecutor) -> list[OrderUpdate | ExecutionError]:
    assert executor.wait_idle()
    return [r for r in executor.poll(0) if isinstance(r, OrderUpdate | ExecutionError)]


def test_no_permit_without_live_mode_a_key_and_the_confirmation() -> None:
    for settings in (
        Settings(),
        Settings(private_key=SecretStr(KEY)),
    ):
        with pytest.raises(PermissionError, match="BTC_AGENT_LIVE_CONFIRMED"):
            LivePermit.from_settings(settings)
    with pytest.raises(PermissionError):
        LivePermit(object())
    assert isinstance(LivePermit.from_settings(live_settings()), LivePermit)


def test_a_resting_order_is_placed_off_thread_and_cancelled(sim: SimServer) -> None:
    executor, port, market = executor_for(sim)
    assert (
        executor.submit(
            approved("o-1", market["up_token_id"], Decimal("0.02"), Decimal(10), OrderType.GTC), 0
        )
        == []
    )
    results = wait_for_results(executor)
    assert [(r.order_id, r.status) for r in results if isinstance(r, OrderUpdate)] == [
        ("o-1", OrderStatus.LIVE)
    ]
    placed = results[0]
    assert isinstance(placed, OrderUpdate)
    venue_id = placed.venue_order_id
    assert venue_id is not None
    assert executor.client_ids[venue_id] == "o-1"
    assert [order["id"] for order in port.open_orders()] == [venue_id]
    executor.cancel("o-1", 0)
    cancelled = wait_for_results(executor)
    assert [(r.order_id, r.status) for r in cancelled if isinstance(r, OrderUpdate)] == [
        ("o-1", OrderStatus.CANCELED)
    ]
    assert port.open_orders() == []
    executor.close()


def test_a_refusal_comes_back_as_an_execution_error(sim: SimServer) -> None:
    executor, _, market = executor_for(sim)
    executor.submit(approved("o-2", market["up_token_id"], Decimal("0.505"), Decimal(10), OrderType.GTC), 0)
    results = wait_for_results(executor)
    assert len(results) == 1
    assert isinstance(results[0], ExecutionError)
    assert results[0].reason == "tick_grid"
    executor.close()


def test_an_unknown_outcome_is_reconciled_and_the_order_never_sent_twice(sim: SimServer) -> None:
    executor, port, market = executor_for(sim)
    httpx.post(f"{sim.base_url}/_sim/faults", json={"lose_order_responses": 1}).raise_for_status()
    executor.submit(approved("o-3", market["up_token_id"], Decimal("0.03"), Decimal(10), OrderType.GTC), 0)
    deadline = time.monotonic() + 10
    results: list[OrderUpdate | ExecutionError] = []
    while not results and time.monotonic() < deadline:
        results = wait_for_results(executor)
    assert len(results) == 1
    update = results[0]
    assert isinstance(update, OrderUpdate)
    assert update.status is OrderStatus.LIVE
    assert update.reason == "reconciled after an unknown outcome"
    assert not executor.reconciling
    assert len(port.open_orders()) == 1, "the lost order was found, not sent again"
    executor.cancel_all(0)
    wait_for_results(executor)
    executor.close()
