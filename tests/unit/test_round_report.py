"""The round report: a generated round traded by the real engine (fills, refusals, a halt), its rows in the
store, a feed fault in its health; every table and count checked against the rows themselves."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlmodel import SQLModel

from core.engine.assembly import build_engine
from core.engine.engine import ListSink
from core.live.round_report import load_round_report, render_markdown
from core.live.runner import round_row
from core.sim.generator import generate_round
from core.store.db import make_engine
from core.store.models import (
    DecisionRecord,
    FillRecord,
    RiskEventRecord,
    SettlementRecord,
    VenueRulesRow,
    table_of,
)
from core.store.writer import insert_rows
from tests.support import engine_runs
from tests.support.engine_runs import model_path, recipe

FEEDS = {
    "market": {
        "messages": 812,
        "reconnects": 2,
        "resyncs": 3,
        "resync_reasons": {"silence": 2, "mismatch": 1},
        "malformed": 3,
        "longest_silence_s": 8.04,
        "stale_s": 3.0,
        "stale": False,
        "last_error": "closed 1006",
    },
    "rtds": {
        "messages": 190,
        "reconnects": 0,
        "malformed": 0,
        "quarantined": 2,
        "stale": True,
        "last_error": None,
    },
}


def halted_round() -> tuple[str, ListSink]:
    """A round that traded, had orders refused, and was halted by the operator before its close."""
    path = model_path(seed=5)
    for round_ in engine_runs.rounds(16):
        sink = ListSink()
        market = engine_runs.market_of(round_, path)
        engine = build_engine(round_, market, recipe(), run_id="paper", sink=sink)
        halt_at = round_.close_ms - 40_000
        for event in generate_round(path, round_, seed=2):
            if engine.halted is None and event.ts_ms >= halt_at:
                engine.halt("halted by operator alice: venue acting up", halt_at)
            engine.on_event(event)
        engine.finish(round_.close_ms)
        engine.settle(engine_runs.winner(round_, path), path.price_at(round_.close_ms), round_.close_ms)
        refused = any(
            isinstance(r, RiskEventRecord) and not r.approved and r.kind == "verdict" for r in sink.rows
        )
        if engine.fill_count >= 2 and refused:
            rows: list[SQLModel] = [*sink.rows, round_row(round_, "halted", strike=market.strike)]
            rows.append(
                VenueRulesRow(
                    round_slug=round_.slug,
                    condition_id="0xcond",
                    up_token_id=market.up_token_id,
                    down_token_id=market.down_token_id,
                    tick_size=market.tick_size,
                    min_order_size=market.min_order_size,
                    fee_rate=market.fee_schedule.rate,
                    fee_exponent=market.fee_schedule.exponent,
                    fee_taker_only=True,
                    settlement_source=market.settlement_source.value,
                )
            )
            sink.rows = rows
            return round_.slug, sink
    raise AssertionError("no generated round had fills and refusals")


def test_the_report_counts_what_the_round_recorded(sqlite_url: str) -> None:
    slug, sink = halted_round()
    store = make_engine(sqlite_url)
    insert_rows(store, [(table_of(row), row.model_dump()) for row in sink.rows])
    report = load_round_report(store, slug, "paper", status="halted", feed_health=FEEDS, halted="operator")
    decisions = sink.of(DecisionRecord)
    verdicts = [r for r in sink.of(RiskEventRecord) if r.kind == "verdict"]
    trips = [r for r in sink.of(RiskEventRecord) if r.kind != "verdict"]
    fills = sink.of(FillRecord)
    settlement = sink.of(SettlementRecord)[0]

    assert report.policy == Counter(d.policy for d in decisions)
    assert report.verdicts == Counter(v.reason_code for v in verdicts)
    assert [(f.price, f.size, f.fee) for f in report.fills] == [(f.price, f.size, f.fee) for f in fills]
    assert report.pnl == settlement.pnl
    assert {k: str(v) for k, v in report.per_strategy.items()} == settlement.details["per_strategy"]
    assert [t.reason_code for t in report.trips] == [t.reason_code for t in trips]
    assert "kill_switch" in [t.reason_code for t in report.trips], "the operator's halt is listed"

    markdown = render_markdown(report)
    first = markdown.splitlines()[0]
    assert first.startswith(f"# {slug}: {settlement.outcome.upper()} won · P&L ")
    assert f"{len(fills)} fills · halted" in first
    for reason, count in report.policy.items():
        assert f"| {reason} | {count} |" in markdown
    for reason, count in report.verdicts.items():
        assert f"| {reason} | {count} |" in markdown
    fill_rows = [
        line for line in markdown.splitlines() if line.count("|") == 8 and ("BUY" in line or "SELL" in line)
    ]
    assert len(fill_rows) == len(fills)
    assert (
        "| market | 812 | 2 | 3 (mismatch x1, silence x2) | 3 | 8.0 s | 3.0 s | no | closed 1006 |"
        in markdown
    )
    assert "| rtds | 190 | 0 | 0 | 0 (+2 implausible) | - | - | yes |  |" in markdown


def test_prices_and_money_are_shown_at_the_venue_s_precision_with_units(sqlite_url: str) -> None:
    slug, sink = halted_round()
    store = make_engine(sqlite_url)
    insert_rows(store, [(table_of(row), row.model_dump()) for row in sink.rows])
    report = load_round_report(store, slug, "paper", status="halted")
    report.strike = Decimal("95827.44159547234")
    report.settle_price = Decimal("95830.200305670166666667")
    markdown = render_markdown(report)
    assert "| strike | 95,827.44 USD |" in markdown
    assert "| settlement price | 95,830.20 USD |" in markdown
    assert " pUSD (fees " in markdown
    for line in markdown.splitlines():
        if line.startswith("| ") and ("BUY" in line or "SELL" in line):
            price = line.split("|")[4].strip()
            assert len(price.split(".")[1]) == 2, "prices at the market's tick (0.01)"
            fee = line.split("|")[6].strip()
            assert len(fee.split(".")[1]) == 5, "fees at the venue's 5 decimals"


def test_the_run_history_lists_today_s_rounds_newest_first_with_cumulative_p_and_l(sqlite_url: str) -> None:
    from datetime import datetime

    from core.live.round_report import history_rows
    from core.market.rounds import Round

    slug, sink = halted_round()
    store = make_engine(sqlite_url)
    insert_rows(store, [(table_of(row), row.model_dump()) for row in sink.rows])
    first = Round(open_s=int(slug.rsplit("-", 1)[1]))
    untraded = Round(open_s=first.close_s)
    insert_rows(store, [("rounds", round_row(untraded, "missed_activation").model_dump())])
    pnl = sink.of(SettlementRecord)[0].pnl
    rows = history_rows(
        store, "paper", datetime.combine(first.open.date(), datetime.min.time(), first.open.tzinfo)
    )
    assert [row["slug"] for row in rows] == [untraded.slug, first.slug]
    assert rows[1]["fills"] == len(sink.of(FillRecord))
    assert rows[1]["halts"] == "kill_switch"
    assert rows[1]["pnl_pusd"] == f"{pnl.quantize(Decimal('0.01')):+,}"
    assert rows[0]["status"] == "missed_activation"
    assert rows[0]["pnl_pusd"] == "-"
    assert rows[0]["cumulative_pnl_pusd"] == rows[1]["cumulative_pnl_pusd"] == rows[1]["pnl_pusd"]
    assert history_rows(store, "live", first.open) == [], "paper rounds never show in the live history"
