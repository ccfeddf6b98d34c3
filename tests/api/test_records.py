"""The audit trail's pages: newest first, pages that add up to the whole, every filter selecting exactly the
records it names, the agent's own runs unless a run is asked for, and bounded, validated queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.risk.state import KillSource, KillSwitch
from core.store.auth import Role
from core.store.models import (
    AlertRow,
    DecisionRecord,
    FillRecord,
    OrderEventRecord,
    OrderEventRow,
    OrderRecord,
    OrderRow,
    RiskEventRecord,
)
from tasks.control import write_kill_switch
from tests.api.conftest import BOTH, NOW, Headers, sqlite_unless_asked
from tests.api.history_rows import insert
from tests.api.record_rows import BACKTEST_RUN, OWN_RUNS, agent_rows, of


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    return sqlite_unless_asked(request)


Get = Callable[..., Any]
HISTORIES = {
    "/decisions": DecisionRecord,
    "/orders": OrderRecord,
    "/fills": FillRecord,
    "/risk-events": RiskEventRecord,
}
NEW_ROUTES = (
    "/decisions",
    "/orders",
    "/fills",
    "/risk-events",
    "/operator-actions",
    "/alerts",
    "/pnl/daily",
    "/pnl/strategies",
    "/backtests",
)


@pytest.fixture
def ask(client: TestClient, as_role: Callable[[Role], Headers]) -> Get:
    """GET as an operator, who reads every history."""
    headers = as_role(Role.OPERATOR)

    def fetch(path: str, **params: Any) -> Any:
        return client.get(path, headers=headers, params=params)

    return fetch


@pytest.fixture
def get(ask: Get, store: Engine) -> Get:
    """`ask` over a store holding the runs of `agent_rows`."""
    insert(store, agent_rows())
    return ask


def every_page(get: Get, path: str, **params: object) -> list[dict[str, Any]]:
    """All records of a filtered history, page by page (200 at most each), checking each page's count."""
    seen: list[dict[str, Any]] = []
    offset, count = 0, None
    while count is None or offset < count:
        answer = get(path, limit=200, offset=offset, **params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert (page["limit"], page["offset"]) == (200, offset)
        count = page["count"]
        seen += page["data"]
        offset += 200
    assert len(seen) == count
    return seen


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def newest_first(records: list[Any]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.ts, r.id), reverse=True)]


def own(records: list[Any]) -> list[Any]:
    return [r for r in records if r.run_id in OWN_RUNS]


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
@pytest.mark.parametrize(("path", "kind"), HISTORIES.items())
def test_pages_are_newest_first_and_add_up_to_the_agents_own_records(get: Get, path: str, kind: type) -> None:
    wanted = newest_first(own(of(kind)))
    assert wanted, f"the fixture has {kind.__name__}s"
    seen: list[str] = []
    for offset in range(0, len(wanted) + 5, 5):
        page = get(path, limit=5, offset=offset).json()
        assert page["count"] == len(wanted)
        assert (page["limit"], page["offset"]) == (5, offset)
        seen += ids(page["data"])

    assert seen == wanted, "backtest rows never mix in"


def verdict_reasons() -> dict[str, set[str]]:
    found: defaultdict[str, set[str]] = defaultdict(set)
    for event in of(RiskEventRecord):
        if event.kind == "verdict" and event.decision_id is not None:
            found[event.decision_id].add(event.reason_code)
    return found


def paper_round() -> str:
    return next(d.round_slug for d in of(DecisionRecord) if d.run_id == "paper")


def middle_ts(kind: type) -> datetime:
    times: list[datetime] = sorted({r.ts for r in own(of(kind))})
    return times[len(times) // 2]


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"mode": "paper"}, lambda d: d.run_id == "paper"),
        ({"mode": "live"}, lambda d: d.run_id == "live"),
        ({"run_id": BACKTEST_RUN}, lambda d: d.run_id == BACKTEST_RUN),
        ({"round": "PAPER_ROUND"}, lambda d: d.run_id in OWN_RUNS and d.round_slug == paper_round()),
        ({"strategy": "momentum"}, lambda d: d.run_id in OWN_RUNS and d.strategy == "momentum"),
        (
            {"strategy": "fair_value", "mode": "live"},
            lambda d: d.run_id == "live" and d.strategy == "fair_value",
        ),
        ({"side": "BUY"}, lambda d: d.run_id in OWN_RUNS and d.side == "BUY"),
        ({"outcome": "down"}, lambda d: d.run_id in OWN_RUNS and d.outcome == "down"),
        ({"accepted": "true"}, lambda d: d.run_id in OWN_RUNS and d.policy == "accepted"),
        ({"accepted": "false"}, lambda d: d.run_id in OWN_RUNS and d.policy != "accepted"),
        ({"policy": "rate_limited"}, lambda d: d.run_id in OWN_RUNS and d.policy == "rate_limited"),
        (
            {"risk_reason": "entry_price_cap"},
            lambda d: d.run_id in OWN_RUNS and "entry_price_cap" in verdict_reasons()[d.id],
        ),
        (
            {"risk_reason": "ok", "mode": "live"},
            lambda d: d.run_id == "live" and "ok" in verdict_reasons()[d.id],
        ),
        ({"since": "MIDDLE"}, lambda d: d.run_id in OWN_RUNS and d.ts >= middle_ts(DecisionRecord)),
        ({"until": "MIDDLE"}, lambda d: d.run_id in OWN_RUNS and d.ts < middle_ts(DecisionRecord)),
    ],
)
def test_decision_filters_select_exactly_the_matching_decisions(
    get: Get, params: dict[str, str], wanted: Callable[[DecisionRecord], bool]
) -> None:
    params = {key: resolve(value, DecisionRecord) for key, value in params.items()}

    expected = newest_first([d for d in of(DecisionRecord) if wanted(d)])

    assert expected, "the fixture has such decisions"
    assert ids(every_page(get, "/decisions", **params)) == expected


def resolve(value: str, kind: type) -> str:
    """Placeholders of the parameter tables, known only once the fixture is built."""
    if value == "PAPER_ROUND":
        return paper_round()
    if value == "MIDDLE":
        return middle_ts(kind).isoformat()
    return value


def test_a_decision_shows_its_features_and_the_verdicts_on_its_orders(get: Get) -> None:
    shown = {d["id"]: d for d in every_page(get, "/decisions", mode="paper")}
    events = of(RiskEventRecord)

    for decision in (d for d in of(DecisionRecord) if d.run_id == "paper"):
        assert shown[decision.id]["features"] == decision.model_dump(mode="json")["features"]
        assert shown[decision.id]["reason"] == decision.reason
        assert ids(shown[decision.id]["verdicts"]) == [
            e.id for e in sorted(events, key=lambda e: (e.ts, e.id)) if e.decision_id == decision.id
        ]
    assert any(d["verdicts"] for d in shown.values())


def strategy_of_order() -> dict[str, str | None]:
    decided = {d.id: d.strategy for d in of(DecisionRecord)}
    return {o.id: decided.get(o.decision_id) if o.decision_id else None for o in of(OrderRecord)}


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"mode": "live"}, lambda o: o.run_id == "live"),
        ({"run_id": BACKTEST_RUN}, lambda o: o.run_id == BACKTEST_RUN),
        ({"round": "PAPER_ROUND"}, lambda o: o.run_id in OWN_RUNS and o.round_slug == paper_round()),
        (
            {"strategy": "mean_reversion"},
            lambda o: o.run_id in OWN_RUNS and strategy_of_order()[o.id] == "mean_reversion",
        ),
        ({"strategy": "fair_value", "mode": "paper"}, lambda o: False),
        ({"status": "filled", "mode": "paper"}, lambda o: o.run_id == "paper"),
        ({"status": "canceled"}, lambda o: False),
        ({"since": "MIDDLE"}, lambda o: o.run_id in OWN_RUNS and o.ts >= middle_ts(OrderRecord)),
    ],
)
def test_order_filters_select_exactly_the_matching_orders(
    get: Get, params: dict[str, str], wanted: Callable[[OrderRecord], bool]
) -> None:
    params = {key: resolve(value, OrderRecord) for key, value in params.items()}

    expected = newest_first([o for o in of(OrderRecord) if wanted(o)])

    assert ids(every_page(get, "/orders", **params)) == expected


def test_an_order_carries_its_events_fills_strategy_and_where_it_stands(get: Get) -> None:
    orders = every_page(get, "/orders")
    events, fills, strategies = of(OrderEventRecord), of(FillRecord), strategy_of_order()

    assert {o["strategy"] for o in orders} == {"momentum", "mean_reversion", "fair_value"}
    for order in orders:
        assert ids(order["events"]) == [
            e.id for e in sorted(events, key=lambda e: (e.ts, e.id)) if e.order_id == order["id"]
        ]
        mine = [f for f in fills if f.order_id == order["id"]]
        assert ids(order["fills"]) == [f.id for f in sorted(mine, key=lambda f: (f.ts, f.id))]
        assert Decimal(order["filled_size"]) == sum((f.size for f in mine), Decimal(0))
        assert order["strategy"] == strategies[order["id"]]
        assert order["status"] == order["events"][-1]["status"] == "filled"


def test_an_orders_status_is_its_latest_event_and_the_furthest_along_within_one_instant(
    get: Get, store: Engine
) -> None:
    placed = datetime(2026, 5, 10, 18, 40, tzinfo=UTC)
    order = OrderRow(
        id="order-late",
        round_slug="btc-updown-15m-1778437800",
        run_id="paper",
        ts=placed,
        mode="paper",
        token_id="111",
        outcome="up",
        side="BUY",
        order_type="GTC",
        price=Decimal("0.5"),
        size=Decimal(10),
    )
    resting = OrderRow.model_validate({**order.model_dump(), "id": "order-resting", "ts": placed})
    insert(
        store,
        [
            order,
            resting,
            # the fill and the acknowledgement share a millisecond; the fill's id sorts first
            OrderEventRow(id="zz-live", order_id=order.id, ts=placed, status="live", filled_size=Decimal(0)),
            OrderEventRow(
                id="aa-filled", order_id=order.id, ts=placed, status="filled", filled_size=Decimal(10)
            ),
            OrderEventRow(id="r-live", order_id=resting.id, ts=placed, status="live", filled_size=Decimal(0)),
            OrderEventRow(
                id="r-canceled",
                order_id=resting.id,
                ts=placed + timedelta(seconds=3),
                status="canceled",
                filled_size=Decimal(0),
            ),
        ],
    )

    shown = {o["id"]: o["status"] for o in every_page(get, "/orders", round="btc-updown-15m-1778437800")}
    filled = ids(every_page(get, "/orders", round="btc-updown-15m-1778437800", status="filled"))
    canceled = ids(every_page(get, "/orders", status="canceled"))
    live = ids(every_page(get, "/orders", status="live"))

    assert shown == {"order-late": "filled", "order-resting": "canceled"}
    assert (filled, canceled, live) == (["order-late"], ["order-resting"], [])


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"mode": "paper"}, lambda f: f.run_id == "paper"),
        ({"run_id": BACKTEST_RUN}, lambda f: f.run_id == BACKTEST_RUN),
        ({"round": "PAPER_ROUND"}, lambda f: f.run_id in OWN_RUNS and f.round_slug == paper_round()),
        (
            {"strategy": "momentum"},
            lambda f: f.run_id in OWN_RUNS and strategy_of_order()[f.order_id] == "momentum",
        ),
        ({"strategy": "fair_value", "run_id": BACKTEST_RUN}, lambda f: f.run_id == BACKTEST_RUN),
        ({"until": "MIDDLE"}, lambda f: f.run_id in OWN_RUNS and f.ts < middle_ts(FillRecord)),
    ],
)
def test_fill_filters_select_exactly_the_matching_fills(
    get: Get, params: dict[str, str], wanted: Callable[[FillRecord], bool]
) -> None:
    params = {key: resolve(value, FillRecord) for key, value in params.items()}

    expected = newest_first([f for f in of(FillRecord) if wanted(f)])
    shown = every_page(get, "/fills", **params)

    assert expected, "the fixture has such fills"
    assert ids(shown) == expected
    assert all(f["strategy"] == strategy_of_order()[f["order_id"]] for f in shown)


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"kind": "verdict"}, lambda e: e.run_id in OWN_RUNS and e.kind == "verdict"),
        ({"kind": "trip"}, lambda e: False),
        (
            {"reason": "max_trades_per_round"},
            lambda e: e.run_id in OWN_RUNS and e.reason_code == "max_trades_per_round",
        ),
        ({"approved": "false"}, lambda e: e.run_id in OWN_RUNS and not e.approved),
        ({"approved": "true", "mode": "live"}, lambda e: e.run_id == "live" and e.approved),
        (
            {"round": "PAPER_ROUND", "reason": "ok"},
            lambda e: e.run_id in OWN_RUNS and e.round_slug == paper_round() and e.reason_code == "ok",
        ),
        ({"run_id": BACKTEST_RUN}, lambda e: e.run_id == BACKTEST_RUN),
        ({"since": "MIDDLE"}, lambda e: e.run_id in OWN_RUNS and e.ts >= middle_ts(RiskEventRecord)),
    ],
)
def test_risk_event_filters_select_exactly_the_matching_events(
    get: Get, params: dict[str, str], wanted: Callable[[RiskEventRecord], bool]
) -> None:
    params = {key: resolve(value, RiskEventRecord) for key, value in params.items()}

    expected = newest_first([e for e in of(RiskEventRecord) if wanted(e)])

    assert ids(every_page(get, "/risk-events", **params)) == expected


@pytest.fixture
def actions(store: Engine) -> list[datetime]:
    """Three kill-switch changes as `btc-agent kill` and `resume` write them; the instants between them."""
    marks = []
    halt = KillSwitch(engaged=True, reason="halt test", source=KillSource.MANUAL)
    for actor, action, switch in (
        ("alice", "halt", halt),
        ("bob", "resume", KillSwitch()),
        ("alice", "halt", halt),
    ):
        write_kill_switch(store, switch, actor=actor, action=action, reason=f"{action} test")
        marks.append(datetime.now(UTC))
    return marks


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_operator_actions_are_newest_first_and_filtered_by_actor_action_and_time(
    get: Get, actions: list[datetime]
) -> None:
    every = every_page(get, "/operator-actions")
    alice = every_page(get, "/operator-actions", actor="alice")
    resumes = every_page(get, "/operator-actions", action="resume")
    after_first = every_page(get, "/operator-actions", since=actions[0].isoformat())
    before_last = every_page(get, "/operator-actions", until=actions[1].isoformat(), actor="alice")

    assert [(a["actor"], a["action"]) for a in every] == [
        ("alice", "halt"),
        ("bob", "resume"),
        ("alice", "halt"),
    ]
    assert [a["actor"] for a in alice] == ["alice", "alice"]
    assert [(a["actor"], a["reason"]) for a in resumes] == [("bob", "resume test")]
    assert [a["action"] for a in after_first] == ["halt", "resume"]
    assert [a["action"] for a in before_last] == ["halt"]
    assert {a["target"] for a in every} == {"round-flow/agent-rounds"}


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.ANALYST, 403), (Role.ADMIN, 200)])
def test_the_operator_audit_is_for_operators_and_above(
    client: TestClient, as_role: Callable[[Role], Headers], role: Role, status: int
) -> None:
    answer = client.get("/operator-actions", headers=as_role(role))

    assert answer.status_code == status
    if status == 403:
        assert answer.json()["detail"] == f"needs role operator or above; {role.value} acts as {role.value}"


def alert(minutes: int, code: str, severity: str, slug: str | None) -> AlertRow:
    return AlertRow(
        ts=NOW - timedelta(minutes=minutes),
        code=code,
        severity=severity,
        message=f"{code} on {slug}",
        round_slug=slug,
        source="round",
        sent=severity != "info",
        suppressed="rate_limited" if severity == "info" else None,
    )


ROUND = "btc-updown-15m-1778437800"
ALERTS = [
    alert(1, "feed_down", "warning", ROUND),
    alert(2, "kill_switch_trip", "critical", ROUND),
    alert(30, "missed_activation", "warning", "btc-updown-15m-1778436900"),
    alert(90, "outbox_backlog", "info", None),
]


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({}, [0, 1, 2, 3]),
        ({"code": "feed_down"}, [0]),
        ({"severity": "warning"}, [0, 2]),
        ({"round": ROUND}, [0, 1]),
        ({"since": (NOW - timedelta(minutes=30)).isoformat()}, [0, 1, 2]),
        ({"until": (NOW - timedelta(minutes=30)).isoformat()}, [3]),
        ({"severity": "critical", "round": ROUND}, [1]),
        ({"code": "settlement_mismatch"}, []),
    ],
)
def test_alert_filters_select_exactly_the_matching_alerts(
    client: TestClient,
    as_role: Callable[[Role], Headers],
    store: Engine,
    params: dict[str, str],
    wanted: list[int],
) -> None:
    insert(store, ALERTS)

    answer = client.get("/alerts", headers=as_role(Role.VIEWER), params=params)

    assert answer.status_code == 200
    assert ids(answer.json()["data"]) == [ALERTS[i].id for i in wanted]
    assert answer.json()["count"] == len(wanted)


def test_an_alert_shows_whether_it_was_sent_and_why_not(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine
) -> None:
    insert(store, ALERTS)

    [quiet] = client.get("/alerts", headers=as_role(Role.VIEWER), params={"code": "outbox_backlog"}).json()[
        "data"
    ]

    assert (quiet["sent"], quiet["suppressed"], quiet["round_slug"]) == (False, "rate_limited", None)


@pytest.mark.parametrize(
    ("path", "params", "field", "reason"),
    [
        ("/decisions", {"limit": 201}, "limit", "less than or equal to 200"),
        ("/orders", {"limit": 0}, "limit", "greater than or equal to 1"),
        ("/fills", {"offset": -1}, "offset", "greater than or equal to 0"),
        ("/risk-events", {"mode": "demo"}, "mode", "'paper' or 'live'"),
        ("/decisions", {"run_id": "backtest-1/../v0"}, "run_id", "String should match pattern"),
        ("/orders", {"round": "robert'); DROP TABLE orders"}, "round", "String should match pattern"),
        ("/fills", {"strategy": "Fair Value"}, "strategy", "String should match pattern"),
        ("/decisions", {"side": "buy"}, "side", "'BUY' or 'SELL'"),
        ("/decisions", {"accepted": "maybe"}, "accepted", "boolean"),
        ("/decisions", {"policy": "vetoed"}, "policy", "'accepted'"),
        ("/orders", {"status": "exploded"}, "status", "'filled'"),
        ("/risk-events", {"approved": "perhaps"}, "approved", "boolean"),
        ("/risk-events", {"kind": "Trip!"}, "kind", "String should match pattern"),
        ("/alerts", {"since": "yesterday"}, "since", "datetime"),
        ("/fills", {"until": "0001-01-01T00:00:00+05:00"}, "until", "out of range"),
        ("/alerts", {"severity": "x" * 65}, "severity", "String should match pattern"),
        ("/operator-actions", {"actor": "a" * 65}, "actor", "at most 64 characters"),
        ("/operator-actions", {"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field_and_the_reason(
    ask: Get, path: str, params: dict[str, object], field: str, reason: str
) -> None:
    answer = ask(path, **params)

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][-1] == field
    assert reason in error["msg"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"mode": "paper", "run_id": "paper"}, "give mode or run_id, not both"),
        ({"since": "2026-05-10T18:00:00Z", "until": "2026-05-10T17:00:00Z"}, "since must be before until"),
    ],
)
def test_contradictory_filters_are_a_422(ask: Get, params: dict[str, str], reason: str) -> None:
    answer = ask("/decisions", **params)

    assert answer.status_code == 422
    assert reason in answer.text


def test_every_history_route_refuses_an_anonymous_caller_and_answers_every_role(
    client: TestClient, as_role: Callable[[Role], Headers]
) -> None:
    for path in NEW_ROUTES:
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        for role in Role:
            status = client.get(path, headers=as_role(role)).status_code
            if path == "/operator-actions" and not role.at_least(Role.OPERATOR):
                assert status == 403, f"{role} {path}"
            else:
                assert status == 200, f"{role} {path}"
