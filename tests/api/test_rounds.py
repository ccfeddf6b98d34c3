"""Round history: pages that add up to the whole, filters that agree with the rows, and a drill-down that
shows what the round recorded, record by record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from core.config import Settings
from core.store.auth import Role
from core.store.models import (
    DecisionRecord,
    DecisionRow,
    FillRecord,
    OrderEventRecord,
    OrderRecord,
    RiskEventRecord,
    SettlementRecord,
    SettlementRow,
    TickSampleRecord,
    VenueRulesRow,
)
from tests.api.conftest import Headers
from tests.api.history_rows import HISTORY, Spec, history_rows, insert, settlement_of, traded_round

Row = TypeVar("Row", bound=SQLModel)


@pytest.fixture
def viewer(client: TestClient, as_role: Callable[[Role], Headers], store: Engine) -> Callable[..., Any]:
    """GET as a viewer, over a store holding HISTORY."""
    insert(store, history_rows())
    headers = as_role(Role.VIEWER)

    def get(path: str, **params: str | int) -> Any:
        return client.get(path, headers=headers, params=params)

    return get


def slugs(specs: list[Spec]) -> list[str]:
    return [s.round.slug for s in sorted(specs, key=lambda s: s.round.open_s, reverse=True)]


def test_pages_are_newest_first_and_add_up_to_every_round(viewer: Callable[..., Any]) -> None:
    seen: list[str] = []
    for offset in range(0, 12, 3):
        page = viewer("/rounds", limit=3, offset=offset).json()
        assert page["count"] == len(HISTORY)
        assert (page["limit"], page["offset"]) == (3, offset)
        seen += [row["slug"] for row in page["data"]]

    assert seen == slugs(HISTORY)


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"mode": "live"}, lambda s: s.mode == "live"),
        ({"mode": "paper"}, lambda s: s.mode == "paper"),
        ({"status": "settled"}, lambda s: s.status == "settled"),
        ({"traded": "true"}, lambda s: s.traded),
        ({"traded": "false"}, lambda s: not s.traded),
        ({"mode": "paper", "traded": "true"}, lambda s: s.mode == "paper" and s.traded),
        ({"status": "settled", "mode": "live"}, lambda s: s.status == "settled" and s.mode == "live"),
        (
            {"since": HISTORY[5].round.open.isoformat(), "until": HISTORY[1].round.open.isoformat()},
            lambda s: 2 <= s.index <= 5,
        ),
        ({"since": "2026-05-10T18:00:00"}, lambda s: s.round.open_s >= HISTORY[2].round.open_s),
        ({"status": "scheduled"}, lambda s: False),
    ],
)
def test_filters_select_exactly_the_matching_rounds(
    viewer: Callable[..., Any], params: dict[str, str], wanted: Callable[[Spec], bool]
) -> None:
    page = viewer("/rounds", **params).json()

    expected = slugs([s for s in HISTORY if wanted(s)])
    assert [row["slug"] for row in page["data"]] == expected
    assert page["count"] == len(expected)


def test_a_summary_carries_the_settlement_and_the_counts_of_its_own_mode(viewer: Callable[..., Any]) -> None:
    rows = {row["slug"]: row for row in viewer("/rounds").json()["data"]}

    live = rows[HISTORY[1].round.slug]
    assert (live["mode"], live["status"], live["winner"], live["fills"]) == ("live", "settled", "up", 1)
    assert Decimal(live["pnl"]) == Decimal("-2.5")
    assert Decimal(live["fees"]) == Decimal("0.17436")
    assert live["flow_run_id"] == "flow-1"
    missed = rows[HISTORY[2].round.slug]
    assert (missed["fills"], missed["pnl"], missed["winner"]) == (0, None, None), (
        "a backtest's fill is not ours"
    )


def test_a_round_settled_twice_shows_its_latest_settlement_of_its_own_run(
    viewer: Callable[..., Any], store: Engine
) -> None:
    spec = HISTORY[0]
    later = spec.round.close + timedelta(minutes=5)
    resettled = {"ts": later, "outcome": "down", "pnl": Decimal("-3"), "settle_price": Decimal("94990")}
    insert(
        store,
        [
            SettlementRow(**{**settlement_of(spec), **resettled}),
            SettlementRow(
                **{**settlement_of(spec), "run_id": "backtest-1", "ts": later + timedelta(minutes=1)}
            ),
        ],
    )

    row = next(r for r in viewer("/rounds").json()["data"] if r["slug"] == spec.round.slug)

    assert (row["winner"], Decimal(row["pnl"]), Decimal(row["settle_price"])) == (
        "down",
        Decimal(-3),
        Decimal(94990),
    )


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"limit": 201}, "limit", "less than or equal to 200"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"mode": "demo"}, "mode", "'paper' or 'live'"),
        ({"status": "exploded"}, "status", "'settled'"),
        ({"since": "yesterday"}, "since", "datetime"),
        ({"traded": "maybe"}, "traded", "boolean"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since", "out of range in UTC"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field_and_the_reason(
    viewer: Callable[..., Any], params: dict[str, object], field: str, reason: str
) -> None:
    answer = viewer("/rounds", **params)

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][-1] == field
    assert reason in error["msg"]


def test_a_date_range_that_ends_before_it_starts_is_a_422(viewer: Callable[..., Any]) -> None:
    answer = viewer("/rounds", since="2026-05-10T18:00:00Z", until="2026-05-10T17:00:00Z")

    assert answer.status_code == 422
    assert "since must be before until" in answer.text


def test_an_unknown_round_is_404_and_a_malformed_slug_422(viewer: Callable[..., Any]) -> None:
    unknown = viewer("/rounds/btc-updown-15m-1000000800")
    malformed = viewer("/rounds/robert'); DROP TABLE rounds")

    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no round btc-updown-15m-1000000800 in the store"
    assert malformed.status_code == 422


def test_the_drill_down_shows_every_record_of_the_round(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine, settings: Settings
) -> None:
    slug, rows = traded_round()
    insert(store, rows)
    insert(
        store,
        [
            DecisionRow(
                round_slug=slug,
                run_id="backtest-1",
                strategy="x",
                outcome="up",
                side="BUY",
                limit_price=Decimal("0.5"),
                size=Decimal(1),
                confidence=Decimal("0.5"),
                reason="bt",
            )
        ],
    )
    tape = settings.data_dir / "tapes" / f"{slug}.parquet"
    tape.parent.mkdir(parents=True)
    tape.write_bytes(b"PAR1")

    answer = client.get(f"/rounds/{slug}", headers=as_role(Role.VIEWER))

    assert answer.status_code == 200
    detail = answer.json()
    decisions = of(DecisionRecord, rows)
    verdicts = [r for r in of(RiskEventRecord, rows) if r.kind == "verdict"]
    orders, order_events, fills = of(OrderRecord, rows), of(OrderEventRecord, rows), of(FillRecord, rows)
    [settlement] = of(SettlementRecord, rows)

    assert detail["round"]["slug"] == slug
    assert detail["round"]["status"] == "settled"
    assert detail["flow_run_id"] == detail["round"]["flow_run_id"] == "4f1c-flow-run"
    assert (detail["round"]["orders"], detail["round"]["fills"]) == (len(orders), len(fills))
    [rules] = of(VenueRulesRow, rows)
    assert detail["venue_rules"]["settlement_source"] == rules.settlement_source
    assert detail["venue_rules"]["up_token_id"] == rules.up_token_id
    assert Decimal(detail["venue_rules"]["tick_size"]) == rules.tick_size

    assert [d["id"] for d in detail["decisions"]] == sorted_ids(decisions)
    by_id = {d.id: d for d in decisions}
    for shown in detail["decisions"]:
        recorded = by_id[shown["id"]]
        assert shown["reason"] == recorded.reason
        assert shown["policy"] == recorded.policy
        assert shown["features"] == recorded.model_dump(mode="json")["features"]
        assert sorted(v["id"] for v in shown["verdicts"]) == sorted(
            v.id for v in verdicts if v.decision_id == recorded.id
        )
    shown_verdicts = [e for e in detail["risk_events"] if e["kind"] == "verdict"]
    assert {e["reason_code"] for e in shown_verdicts} == {v.reason_code for v in verdicts}
    assert len(shown_verdicts) == len(verdicts)
    assert any(not e["approved"] for e in shown_verdicts), "refusals are shown with their reasons"

    assert sorted(o["id"] for o in detail["orders"]) == sorted(o.id for o in orders)
    for order in detail["orders"]:
        assert sorted(e["id"] for e in order["events"]) == sorted(
            e.id for e in order_events if e.order_id == order["id"]
        )
        assert sorted(f["id"] for f in order["fills"]) == sorted(
            f.id for f in fills if f.order_id == order["id"]
        )

    assert Decimal(detail["pnl"]["total"]) == settlement.pnl
    assert Decimal(detail["settlement"]["pnl"]) == settlement.pnl
    assert {k: Decimal(v) for k, v in detail["pnl"]["per_strategy"].items()} == {
        k: Decimal(v) for k, v in settlement.details["per_strategy"].items()
    }
    assert sum(detail["counts"]["policy"].values()) == len(decisions)
    assert detail["headline"].startswith(f"{settlement.outcome.upper()} won")
    assert detail["tape"] == {"path": str(tape), "files": [str(tape)]}
    samples = of(TickSampleRecord, rows)
    assert samples, "the engine sampled what it saw"
    assert [s["id"] for s in detail["samples"]] == sorted_ids(samples), "the chart's series, oldest first"
    assert {s["chainlink"] is not None for s in detail["samples"]} == {True}


def of(kind: type[Row], rows: Iterable[SQLModel]) -> list[Row]:
    """The rows of exactly this record type (table rows of the same name are another type)."""
    return [row for row in rows if type(row) is kind]


def sorted_ids(records: list[Any]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.ts, r.id))]


def test_the_drill_down_of_a_round_without_records_says_so_plainly(
    viewer: Callable[..., Any], settings: Settings
) -> None:
    detail = viewer(f"/rounds/{HISTORY[2].round.slug}").json()

    assert detail["round"]["status"] == "missed_activation"
    assert (detail["decisions"], detail["orders"], detail["risk_events"]) == ([], [], [])
    assert (detail["settlement"], detail["venue_rules"], detail["pnl"]["total"]) == (None, None, None)
    assert detail["tape"] == {
        "path": str(Path(settings.data_dir) / "tapes" / f"{HISTORY[2].round.slug}.parquet"),
        "files": [],
    }
