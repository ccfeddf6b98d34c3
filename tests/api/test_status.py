"""GET /status: the schedule's round and timers at the API's clock, the kill switch, today's P&L per mode,
the latest decision, and the running round's heartbeat only while it is fresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import SimulatedClock
from core.live.state import heartbeat
from core.market.rounds import Round
from core.risk.state import KILL_SWITCH_KEY, KillSource, KillSwitch
from core.store.auth import Role
from core.store.models import SettingRow, SettlementRow
from tests.api.conftest import NOW, Headers
from tests.api.history_rows import BASE_OPEN_S, insert, round_state
from tests.support import engine_runs
from tests.support.rows import decision

ROUND = Round(BASE_OPEN_S)


@pytest.fixture
def status(client: TestClient, as_role: Callable[[Role], Headers]) -> Callable[[], Any]:
    headers = as_role(Role.VIEWER)
    return lambda: client.get("/status", headers=headers).json()


def test_an_idle_agent_shows_the_schedule_s_round_and_says_why_live_state_is_missing(
    status: Callable[[], Any],
) -> None:
    found = status()

    assert found["mode"] == "paper"
    assert found["live_trading_allowed"] is False
    assert found["round"]["slug"] == ROUND.slug
    assert found["round"]["phase"] == "active"
    assert found["round"]["seconds_to_close"] == 150.0
    assert found["round"]["seconds_to_activation"] == 0
    assert found["round"]["stored_status"] is None
    assert found["kill_switch"]["engaged"] is False
    assert found["latest_decision"] is None
    assert found["live"] is None
    assert (
        found["live_unavailable"]
        == "no round has published its state yet (no round:paper heartbeat in the store)"
    )
    assert [(p["mode"], p["rounds_settled"], Decimal(p["pnl"])) for p in found["pnl_today"]] == [
        ("paper", 0, Decimal(0)),
        ("live", 0, Decimal(0)),
    ]


def test_the_timer_follows_the_clock_through_the_round_s_phases(
    status: Callable[[], Any], clock: SimulatedClock
) -> None:
    following = ROUND.next()
    clock.set(following.open_ms + 60_000)
    early = status()["round"]
    clock.set(following.wake_ms + 30_000)
    warming = status()["round"]

    assert early["slug"] == warming["slug"] == following.slug
    assert (early["phase"], early["seconds_to_activation"], early["seconds_to_close"]) == (
        "waiting",
        660.0,
        840.0,
    )
    assert (warming["phase"], warming["seconds_to_activation"]) == ("warmup", 30.0)


def test_a_fresh_heartbeat_is_shown_and_a_stale_one_is_not(
    status: Callable[[], Any], store: Engine, clock: SimulatedClock
) -> None:
    insert(store, [heartbeat(round_state(clock.now_ms() - 1000))])
    fresh = status()

    clock.advance(60_000)
    stale = status()

    assert fresh["live"]["round_slug"] == engine_runs.rounds(1)[0].slug
    assert fresh["live"]["feeds"]["market"]["reconnects"] == 1
    assert fresh["live"]["engine"]["events"] == 0
    assert fresh["live_unavailable"] is None
    assert stale["live"] is None
    assert stale["live_unavailable"].startswith(
        "the latest round:paper heartbeat is 61 s old: no round is running"
    )


def test_the_kill_switch_today_s_p_and_l_and_the_latest_decision(
    status: Callable[[], Any], store: Engine
) -> None:
    switch = KillSwitch(
        engaged=True, reason="venue acting up", source=KillSource.MANUAL, since_ms=ROUND.open_ms
    )
    settled = [
        SettlementRow(
            round_slug=f"r{i}",
            run_id=run,
            mode="live" if run == "live" else "paper",
            ts=ts,
            outcome="up",
            source="chainlink_spot",
            pnl=Decimal(pnl),
            fees=Decimal("0.1"),
        )
        for i, (run, ts, pnl) in enumerate(
            [
                ("paper", NOW - timedelta(hours=1), "1.5"),
                ("paper", NOW - timedelta(minutes=5), "-0.25"),
                ("paper", NOW - timedelta(days=1), "100"),  # yesterday
                ("live", NOW - timedelta(hours=2), "2"),
                ("backtest-1", NOW - timedelta(hours=2), "50"),  # never an agent's P&L
            ]
        )
    ]
    insert(
        store,
        [
            SettingRow(key=KILL_SWITCH_KEY, value=switch.to_setting(), updated_by="alice"),
            *settled,
            decision(ts=NOW - timedelta(seconds=3), run_id="paper", reason="edge 0.05 after fees"),
            decision(ts=NOW - timedelta(seconds=1), run_id="backtest-1", reason="a backtest's"),
        ],
    )

    found = status()

    assert found["kill_switch"]["engaged"] is True
    assert (found["kill_switch"]["reason"], found["kill_switch"]["set_by"]) == ("venue acting up", "alice")
    assert found["kill_switch"]["since"] == ROUND.open.isoformat().replace("+00:00", "Z")
    pnl = {p["mode"]: p for p in found["pnl_today"]}
    assert (pnl["paper"]["rounds_settled"], Decimal(pnl["paper"]["pnl"]), Decimal(pnl["paper"]["fees"])) == (
        2,
        Decimal("1.25"),
        Decimal("0.2"),
    )
    assert (pnl["live"]["rounds_settled"], Decimal(pnl["live"]["pnl"])) == (1, Decimal(2))
    assert found["latest_decision"]["reason"] == "edge 0.05 after fees"
    assert found["latest_decision"]["mode"] == "paper"


def test_an_unreadable_kill_switch_is_reported_not_guessed(status: Callable[[], Any], store: Engine) -> None:
    insert(store, [SettingRow(key=KILL_SWITCH_KEY, value={"engaged": "yes"})])

    found = status()

    assert found["kill_switch"] is None
    assert found["kill_switch_unavailable"].startswith("the stored kill switch is unreadable")
