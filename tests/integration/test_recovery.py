"""What the next run does with what a dead run left: spools drained, closed rounds settled or aborted.

The dead run's records are the engine's own, written as its outbox would have; its holder is a real
process killed with SIGKILL. SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session, select

from core.clock import ms_to_datetime
from core.engine.assembly import build_engine
from core.engine.engine import ListSink, RoundEngine
from core.events import Outcome
from core.live.recovery import drain_spools, finish_unfinished_rounds, load_history
from core.live.runner import round_row
from core.market.rounds import Round
from core.sim.generator import generate_round
from core.store.claims import Holder, claim_round, process_started
from core.store.db import make_engine
from core.store.models import (
    RoundClaimRow,
    RoundRow,
    SettlementRecord,
    SettlementRow,
    VenueRulesRow,
    table_of,
)
from core.store.outbox import Outbox
from core.store.writer import insert_rows
from tests.support import engine_runs
from tests.support.engine_runs import model_path, recipe


def traded_round() -> tuple[Round, RoundEngine, ListSink, Outcome]:
    """A generated round the engine traded, up to its close but not settled: what a run that died at the
    close leaves behind."""
    path = model_path(seed=5)
    for round_ in engine_runs.rounds(12):
        sink = ListSink()
        engine = build_engine(
            round_, engine_runs.market_of(round_, path), recipe(), run_id="paper", sink=sink
        )
        engine.run(generate_round(path, round_, seed=2))
        engine.finish(round_.close_ms)
        if engine.fill_count:
            return round_, engine, sink, engine_runs.winner(round_, path)
    raise AssertionError("no generated round traded")


def leave_behind(store_url: str, round_: Round, engine: RoundEngine, sink: ListSink) -> Holder:
    """The dead run's records in the store, its round `active`, its claim held by a SIGKILLed process."""
    market = engine.market
    rows = [row for row in sink.rows if not isinstance(row, SettlementRecord)]
    rows.append(round_row(round_, "active", strike=market.strike))
    rows.append(
        VenueRulesRow(
            round_slug=round_.slug,
            condition_id=market.condition_id or "0xcond",
            up_token_id=market.up_token_id,
            down_token_id=market.down_token_id,
            tick_size=market.tick_size,
            min_order_size=market.min_order_size,
            fee_rate=market.fee_schedule.rate,
            fee_exponent=market.fee_schedule.exponent,
            fee_taker_only=market.fee_schedule.taker_only,
            settlement_source=market.settlement_source.value,
        )
    )
    store = make_engine(store_url)
    insert_rows(store, [(table_of(row), row.model_dump()) for row in rows])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = Holder("dead", Holder.this_process().host, child.pid, process_started(child.pid))
    child.kill()
    child.wait()
    claim_round(store, round_.slug, dead, ms_to_datetime(round_.open_ms))
    return dead


def finish(store_url: str, round_: Round, winner: Outcome | None) -> list[str]:
    async def official(slug: str) -> Outcome | None:
        assert slug == round_.slug
        return winner

    done = asyncio.run(
        finish_unfinished_rounds(
            make_engine(store_url),
            Holder.this_process(),
            recipe(),
            mode="paper",
            official=official,
            now=ms_to_datetime(round_.close_ms) + timedelta(minutes=2),
        )
    )
    return [f"{item.slug}:{item.status}" for item in done]


def test_a_round_a_dead_run_left_active_is_settled_on_the_official_outcome_by_the_next_run(
    store_url: str,
) -> None:
    round_, engine, sink, winner = traded_round()
    leave_behind(store_url, round_, engine, sink)
    expected = engine.settle(winner, None, round_.close_ms).pnl
    assert finish(store_url, round_, winner) == [f"{round_.slug}:settled"]
    store = make_engine(store_url)
    with Session(store) as session:
        settlements = session.exec(select(SettlementRow)).all()
        stored_round = session.get(RoundRow, round_.slug)
        claim = session.get(RoundClaimRow, round_.slug)
    assert [(s.round_slug, s.pnl, s.mode, s.outcome) for s in settlements] == [
        (round_.slug, expected, "paper", winner.value)
    ]
    assert stored_round is not None
    assert stored_round.status == "settled"
    assert stored_round.reason is not None
    assert "settled on the venue's outcome" in stored_round.reason
    assert claim is not None
    assert claim.released
    assert finish(store_url, round_, winner) == [], "a settled round is never settled twice"


def test_without_an_official_outcome_the_round_stays_unsettled_and_the_next_run_tries_again(
    store_url: str,
) -> None:
    round_, engine, sink, winner = traded_round()
    leave_behind(store_url, round_, engine, sink)
    assert finish(store_url, round_, None) == [f"{round_.slug}:unsettled"]
    with Session(make_engine(store_url)) as session:
        assert session.exec(select(SettlementRow)).all() == []
        claim = session.get(RoundClaimRow, round_.slug)
    assert claim is not None
    assert not claim.released, "the position still needs settling: the claim stays open"
    # The run that tried is this test's process, alive: a later run in another process takes over.
    _make_holder_dead(store_url, round_.slug)
    assert finish(store_url, round_, winner) == [f"{round_.slug}:settled"]


def _make_holder_dead(store_url: str, slug: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.kill()
    child.wait()
    store = make_engine(store_url)
    with Session(store) as session:
        claim = session.get(RoundClaimRow, slug)
        assert claim is not None
        claim.pid, claim.pid_started = child.pid, "0"
        session.add(claim)
        session.commit()


def test_a_dead_round_that_traded_nothing_is_aborted_with_its_reason(store_url: str) -> None:
    round_, engine, _, winner = traded_round()
    nothing = ListSink()
    leave_behind(store_url, round_, engine, nothing)
    assert finish(store_url, round_, winner) == [f"{round_.slug}:aborted"]
    with Session(make_engine(store_url)) as session:
        stored_round = session.get(RoundRow, round_.slug)
    assert stored_round is not None
    assert (
        stored_round.reason == "its run ended without finishing it; nothing was traded, so nothing to settle"
    )


def test_spools_of_dead_processes_are_drained_at_start_and_live_ones_left_alone(
    store_url: str, tmp_path: Path
) -> None:
    round_ = traded_round()[0]
    root = tmp_path / "spool"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from core.store.outbox import Outbox\n"
            "from core.live.runner import round_row\n"
            "from core.market.rounds import Round\n"
            "outbox = Outbox(__import__('pathlib').Path(sys.argv[1]), 'sqlite:////nonexistent/x.sqlite')\n"
            f"outbox.put(round_row(Round(open_s={round_.open_s}), 'active'), sync=True)\n"
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n",
            str(root / "dead-run"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert child.returncode == -9
    live = Outbox(root / "live-run", store_url)
    try:
        report = drain_spools(root, store_url, timeout_s=10)
    finally:
        live.close()
    assert report.drained == ["dead-run"]
    assert report.busy == ["live-run"]
    assert not (root / "dead-run").exists()
    with Session(make_engine(store_url)) as session:
        assert session.get(RoundRow, round_.slug) is not None


def test_history_reads_back_a_round_s_orders_and_fills_for_its_mode_only(store_url: str) -> None:
    round_, engine, sink, _ = traded_round()
    leave_behind(store_url, round_, engine, sink)
    history = load_history(make_engine(store_url), round_.slug, "paper")
    assert len(history.orders) == engine.stats.orders
    assert len(history.fills) == engine.fill_count
    assert sum((f.size for f in history.fills), Decimal(0)) > 0
    assert load_history(make_engine(store_url), round_.slug, "live").orders == ()
