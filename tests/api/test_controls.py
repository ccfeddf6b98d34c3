"""The operator's controls through the API: the kill switch's layers, strategy toggles and risk limits, each
change an operator-action row with who, what, before, after and from where; refusals change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import Settings
from core.live.controls import ControlsWatch, OperatorControls
from core.live.halt import halt_path, read_halt
from core.risk.limits import RiskLimits
from core.store.auth import Role
from core.store.models import OperatorActionRow, SettingRow
from tasks.control import read_kill_switch
from tests.api.conftest import Headers

Roles = Callable[[Role], Headers]


def actions(store: Engine) -> list[OperatorActionRow]:
    with Session(store) as session:
        return list(session.exec(select(OperatorActionRow).order_by(col(OperatorActionRow.ts))).all())


def test_the_kill_switch_engages_every_layer_and_records_who_did_it(
    client: TestClient, as_role: Roles, store: Engine, settings: Settings
) -> None:
    answer = client.post(
        "/kill-switch", headers=as_role(Role.OPERATOR), json={"engaged": True, "reason": "venue acting up"}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(s["layer"], s["outcome"]) for s in body["steps"]] == [
        ("halt file", "done"),
        ("store flag", "done"),
        ("deployment", "skipped"),  # no Prefect API in this test: said so, not hidden
    ]
    assert body["complete"] is True
    assert body["kill_switch"]["engaged"] is True
    assert body["kill_switch"]["set_by"] == "operator"
    notice = read_halt(halt_path(settings.data_dir))
    assert notice is not None
    assert (notice.actor, notice.reason) == ("operator", "venue acting up")
    assert read_kill_switch(store).engaged
    (action,) = actions(store)
    assert (action.actor, action.action, action.reason) == ("operator", "halt", "venue acting up")
    assert action.details["before"] is None
    assert action.details["after"]["engaged"] is True
    assert action.details["client"] == "testclient"
    assert client.get("/kill-switch", headers=as_role(Role.VIEWER)).json()["engaged"] is True

    released = client.post(
        "/kill-switch", headers=as_role(Role.ADMIN), json={"engaged": False, "reason": "venue fine again"}
    )

    assert released.status_code == 200, released.text
    assert [(s["layer"], s["outcome"]) for s in released.json()["steps"]][:2] == [
        ("halt file", "done"),
        ("store flag", "done"),
    ]
    assert read_halt(halt_path(settings.data_dir)) is None
    assert not read_kill_switch(store).engaged
    resume = actions(store)[-1]
    assert (resume.actor, resume.action) == ("admin", "resume")
    assert resume.details["before"]["engaged"] is True
    assert resume.details["after"]["engaged"] is False


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_only_operators_and_admins_touch_the_kill_switch(
    client: TestClient, as_role: Roles, store: Engine, settings: Settings, role: Role
) -> None:
    answer = client.post("/kill-switch", headers=as_role(role), json={"engaged": True, "reason": "curious"})

    assert answer.status_code == 403
    assert "needs role operator" in answer.json()["detail"]
    assert read_halt(halt_path(settings.data_dir)) is None
    assert not read_kill_switch(store).engaged
    assert actions(store) == []


@pytest.mark.parametrize(
    "body",
    [{"engaged": True}, {"engaged": True, "reason": ""}, {"engaged": "yes please", "reason": "x" * 10}, {}],
)
def test_a_kill_switch_request_without_a_reason_or_a_flag_is_refused(
    client: TestClient, as_role: Roles, store: Engine, body: dict[str, Any]
) -> None:
    answer = client.post("/kill-switch", headers=as_role(Role.ADMIN), json=body)

    assert answer.status_code == 422
    assert actions(store) == []


def test_a_strategy_switched_off_is_what_a_round_reads_next(
    client: TestClient, as_role: Roles, store: Engine
) -> None:
    listed = client.get("/strategies", headers=as_role(Role.VIEWER)).json()["data"]
    assert {s["name"]: s["enabled"] for s in listed} == {
        "fair_value": True,
        "momentum": True,
        "mean_reversion": True,
    }
    assert all(s["description"] for s in listed)

    answer = client.put(
        "/strategies/momentum", headers=as_role(Role.OPERATOR), json={"enabled": False, "reason": "chop"}
    )

    assert answer.status_code == 200, answer.text
    assert {s["name"]: s["enabled"] for s in answer.json()["data"]}["momentum"] is False
    assert read_controls(store).disabled == frozenset({"momentum"})
    (action,) = actions(store)
    assert (action.action, action.target, action.reason) == ("strategy_disable", "momentum", "chop")
    assert (action.details["before"], action.details["after"]) == ({"enabled": True}, {"enabled": False})

    client.put("/strategies/momentum", headers=as_role(Role.ADMIN), json={"enabled": True, "reason": "trend"})
    assert read_controls(store).disabled == frozenset()


def test_an_unknown_strategy_is_404_and_a_viewer_cannot_toggle(client: TestClient, as_role: Roles) -> None:
    unknown = client.put(
        "/strategies/martingale", headers=as_role(Role.ADMIN), json={"enabled": True, "reason": "why not"}
    )
    assert unknown.status_code == 404
    assert "known: fair_value" in unknown.json()["detail"]
    refused = client.put(
        "/strategies/momentum", headers=as_role(Role.VIEWER), json={"enabled": False, "reason": "hmm"}
    )
    assert refused.status_code == 403


def test_risk_limits_are_overridden_validated_and_reset(
    client: TestClient, as_role: Roles, store: Engine
) -> None:
    admin = as_role(Role.ADMIN)
    shown = client.get("/risk/limits", headers=as_role(Role.VIEWER)).json()
    assert shown["overrides"] == {}
    assert shown["effective"] == shown["defaults"]

    answer = client.patch(
        "/risk/limits",
        headers=admin,
        json={"changes": {"max_trades_per_round": 2, "max_notional_per_trade": "10.5"}, "reason": "calm"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["overrides"] == {"max_trades_per_round": 2, "max_notional_per_trade": "10.5"}
    assert body["effective"]["max_trades_per_round"] == 2
    assert body["defaults"]["max_trades_per_round"] == shown["defaults"]["max_trades_per_round"]
    limits = read_controls(store).limits
    assert (limits.max_trades_per_round, str(limits.max_notional_per_trade)) == (2, "10.5")
    (action,) = actions(store)
    assert (action.action, action.details["before"], action.details["after"]) == (
        "risk_limits",
        {},
        {"max_trades_per_round": 2, "max_notional_per_trade": "10.5"},
    )

    reset = client.patch(
        "/risk/limits", headers=admin, json={"changes": {"max_trades_per_round": None}, "reason": "back"}
    )
    assert reset.json()["overrides"] == {"max_notional_per_trade": "10.5"}
    assert read_controls(store).limits.max_trades_per_round == RiskLimits().max_trades_per_round


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"max_daily_loss": "-5"}, "max_daily_loss"),
        ({"max_notional_per_trade": 10**9}, "max_notional_per_trade"),
        ({"max_trades_per_round": True}, "max_trades_per_round"),
        ({"max_trades_per_round": 5000}, "max_trades_per_round"),
        ({"stale_feed_seconds": "NaN"}, "stale_feed_seconds"),
        ({"max_leverage": 3}, "unknown risk limit(s): max_leverage"),
        ({"entry_price_cap": "1.5"}, "entry_price_cap"),
    ],
)
def test_a_negative_absurd_or_unknown_limit_is_refused_and_nothing_is_written(
    client: TestClient, as_role: Roles, store: Engine, changes: dict[str, Any], said: str
) -> None:
    answer = client.patch(
        "/risk/limits", headers=as_role(Role.ADMIN), json={"changes": changes, "reason": "t" * 3}
    )

    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "changes"]
    assert said in error["msg"]
    with Session(store) as session:
        assert session.get(SettingRow, "risk_limits") is None
    assert actions(store) == []


def test_only_admins_change_risk_limits(client: TestClient, as_role: Roles) -> None:
    answer = client.patch(
        "/risk/limits",
        headers=as_role(Role.OPERATOR),
        json={"changes": {"max_trades_per_round": 1}, "reason": "x" * 3},
    )
    assert answer.status_code == 403


def read_controls(store: Engine) -> OperatorControls:
    """What a running round reads next (its own watch, on the same store)."""
    return asyncio.run(ControlsWatch(store, RiskLimits())())
