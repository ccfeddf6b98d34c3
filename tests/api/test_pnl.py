"""P&L by UTC day and by strategy: exact sums of the agent's own settlements over a bounded range of days,
split by strategy as the engine's settlements split it, and never a backtest's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.store.auth import Role
from core.store.models import SettlementRecord, SettlementRow
from tests.api.conftest import BOTH, Headers, sqlite_unless_asked
from tests.api.history_rows import HISTORY, history_rows, insert
from tests.api.record_rows import OWN_RUNS, agent_rows, of


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    return sqlite_unless_asked(request)


Get = Callable[..., Any]


@pytest.fixture
def ask(client: TestClient, as_role: Callable[[Role], Headers]) -> Get:
    headers = as_role(Role.VIEWER)

    def fetch(path: str, **params: Any) -> Any:
        return client.get(path, headers=headers, params=params)

    return fetch


@pytest.fixture
def get(ask: Get, store: Engine) -> Get:
    """`ask` as a viewer over a store holding HISTORY (2026-05-10, today for the clock; settlements without
    a split per strategy) and the engine's runs of `agent_rows` (2026-09-21 and 22)."""
    insert(store, [*history_rows(), *agent_rows()])
    return ask


def settlements() -> list[SettlementRecord]:
    return [s for s in of(SettlementRecord) if s.run_id in OWN_RUNS]


def per_strategy(rows: Iterable[SettlementRecord]) -> dict[str, Decimal]:
    total: defaultdict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        for name, value in row.details["per_strategy"].items():
            total[name] += Decimal(value)
    return dict(total)


def money(values: dict[str, str]) -> dict[str, Decimal]:
    return {name: Decimal(value) for name, value in values.items()}


def test_by_default_the_days_are_the_30_up_to_today(get: Get) -> None:
    answer = get("/pnl/daily").json()

    assert (answer["first_day"], answer["last_day"]) == ("2026-04-11", "2026-05-10")
    rows = {row["mode"]: row for row in answer["data"]}
    assert [row["day"] for row in answer["data"]] == ["2026-05-10", "2026-05-10"]
    for mode in OWN_RUNS:
        settled = [s for s in HISTORY if s.mode == mode and s.pnl is not None]
        pnl = sum((s.pnl for s in settled if s.pnl is not None), Decimal(0))
        assert rows[mode]["rounds_settled"] == len(settled)
        assert Decimal(rows[mode]["pnl"]) == pnl
        assert Decimal(rows[mode]["fees"]) == Decimal("0.17436") * len(settled)
        assert money(rows[mode]["per_strategy"]) == {"unattributed": pnl}, "settled without a split"


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_each_day_sums_its_settlements_exactly_newest_first_and_split_by_strategy(get: Get) -> None:
    answer = get("/pnl/daily", first_day="2026-09-21", last_day="2026-09-22").json()

    assert [(row["day"], row["mode"]) for row in answer["data"]] == [
        ("2026-09-22", "paper"),
        ("2026-09-22", "live"),
        ("2026-09-21", "paper"),
        ("2026-09-21", "live"),
    ]
    for row in answer["data"]:
        day = date.fromisoformat(row["day"])
        settled = [s for s in settlements() if s.run_id == row["mode"] and s.ts.date() == day]
        assert row["rounds_settled"] == len(settled)
        assert Decimal(row["pnl"]) == sum((s.pnl for s in settled), Decimal(0))
        assert Decimal(row["fees"]) == sum((s.fees for s in settled), Decimal(0))
        assert money(row["per_strategy"]) == per_strategy(settled)
    paper_21 = answer["data"][2]
    assert paper_21["rounds_settled"] == 2, "the backtest's settlement of the same round is not counted"
    assert set(paper_21["per_strategy"]) == {"momentum", "mean_reversion"}


def test_a_settlement_at_midnight_belongs_to_the_day_it_starts(get: Get) -> None:
    midnight = [s for s in settlements() if s.ts == datetime(2026, 9, 22, tzinfo=UTC)]
    assert len(midnight) == 1

    sep_21 = get("/pnl/daily", first_day="2026-09-21", last_day="2026-09-21", mode="paper").json()
    sep_22 = get("/pnl/daily", first_day="2026-09-22", last_day="2026-09-22", mode="paper").json()

    assert sep_21["data"][0]["rounds_settled"] == 2
    assert sep_22["data"][0]["rounds_settled"] == 1
    assert Decimal(sep_22["data"][0]["pnl"]) == midnight[0].pnl


def test_totals_are_per_mode_asked_for_over_the_whole_range(get: Get) -> None:
    both = get("/pnl/daily", first_day="2026-05-10", last_day="2026-09-30").json()
    live = get("/pnl/daily", first_day="2026-05-10", last_day="2026-09-30", mode="live").json()

    for mode in OWN_RUNS:
        [total] = [t for t in both["totals"] if t["mode"] == mode]
        days = [row for row in both["data"] if row["mode"] == mode]
        assert Decimal(total["pnl"]) == sum((Decimal(row["pnl"]) for row in days), Decimal(0))
        assert total["rounds_settled"] == sum(row["rounds_settled"] for row in days)
    assert {row["mode"] for row in live["data"]} == {"live"}
    assert [t["mode"] for t in live["totals"]] == ["live"]
    assert live["totals"][0] == next(t for t in both["totals"] if t["mode"] == "live")


@pytest.mark.parametrize("store_url", BOTH, indirect=True)
def test_each_strategy_adds_up_its_share_of_every_settlement(get: Get) -> None:
    answer = get("/pnl/strategies", first_day="2026-09-21", last_day="2026-09-22").json()
    daily = get("/pnl/daily", first_day="2026-09-21", last_day="2026-09-22").json()

    expected: list[tuple[str, str, int, int, Decimal]] = []
    for mode in OWN_RUNS:
        shares: defaultdict[str, list[Decimal]] = defaultdict(list)
        for settlement in (s for s in settlements() if s.run_id == mode):
            for name, value in settlement.details["per_strategy"].items():
                shares[name].append(Decimal(value))
        rows = [
            (mode, name, len(values), sum(1 for v in values if v > 0), sum(values, Decimal(0)))
            for name, values in shares.items()
        ]
        expected += sorted(rows, key=lambda row: -row[4])
    shown = [(r["mode"], r["strategy"], r["rounds"], r["wins"], Decimal(r["pnl"])) for r in answer["data"]]

    assert (answer["first_day"], answer["last_day"]) == ("2026-09-21", "2026-09-22")
    assert shown == expected
    for total in daily["totals"]:
        mine = [row[4] for row in shown if row[0] == total["mode"]]
        assert sum(mine, Decimal(0)) == Decimal(total["pnl"]), "the strategies add up to the mode's P&L"


def test_a_settlement_whose_split_is_unreadable_counts_as_unattributed(get: Get, store: Engine) -> None:
    insert(
        store,
        [
            SettlementRow(
                round_slug="btc-updown-15m-1790100000",
                run_id="paper",
                mode="paper",
                ts=datetime(2026, 9, 23, 12, tzinfo=UTC),
                outcome="up",
                source="chainlink_spot",
                pnl=Decimal("3.5"),
                fees=Decimal("0.1"),
                details={"per_strategy": {"momentum": "1.5", "broken": "not a number", "odd": "NaN"}},
            )
        ],
    )

    [day] = get("/pnl/daily", first_day="2026-09-23", last_day="2026-09-23").json()["data"]
    strategies = get("/pnl/strategies", first_day="2026-09-23", last_day="2026-09-23").json()["data"]

    assert money(day["per_strategy"]) == {"momentum": Decimal("1.5"), "unattributed": Decimal(2)}
    assert [(s["strategy"], Decimal(s["pnl"])) for s in strategies] == [
        ("unattributed", Decimal(2)),
        ("momentum", Decimal("1.5")),
    ]


def test_days_without_settlements_are_an_empty_list_with_zero_totals(get: Get) -> None:
    answer = get("/pnl/daily", first_day="2026-01-01", last_day="2026-01-31").json()

    assert answer["data"] == []
    assert [(t["mode"], t["rounds_settled"], Decimal(t["pnl"])) for t in answer["totals"]] == [
        ("paper", 0, Decimal(0)),
        ("live", 0, Decimal(0)),
    ]


@pytest.mark.parametrize("path", ["/pnl/daily", "/pnl/strategies"])
@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"first_day": "2026-05-02", "last_day": "2026-05-01"}, "first_day", "is after last_day"),
        ({"first_day": "2026-06-01"}, "first_day", "is after last_day 2026-05-10"),
        ({"first_day": "2025-01-01", "last_day": "2026-01-02"}, "first_day", "at most 366 days, not 367"),
        ({"first_day": "2024-01-01"}, "first_day", "at most 366 days"),
        ({"last_day": "2026-13-01"}, "last_day", "date"),
        ({"last_day": "9999-12-31"}, "last_day", "less than or equal to 2999-12-31"),
        (
            {"first_day": "0001-01-01", "last_day": "2000-01-05"},
            "first_day",
            "greater than or equal to 2000-01-01",
        ),
        ({"mode": "backtest"}, "mode", "'paper' or 'live'"),
        ({"strategy": "momentum"}, "strategy", "Extra inputs are not permitted"),
    ],
)
def test_bad_ranges_are_a_422_naming_the_field_and_the_reason(
    ask: Get, path: str, params: dict[str, str], field: str, reason: str
) -> None:
    answer = ask(path, **params)

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][-1] == field
    assert reason in error["msg"]


def test_a_full_year_is_allowed(get: Get) -> None:
    answer = get("/pnl/daily", first_day="2025-09-23", last_day="2026-09-23")

    assert answer.status_code == 200
    assert len(answer.json()["data"]) == 2 + 4
