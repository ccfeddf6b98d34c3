"""Rounds in the store, written the way the agent writes them: rows built by the runner's own `round_row`
and the engine's records, inserted by the outbox's writer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlmodel import SQLModel

from core.adapters.polymarket.feed import FeedHealth
from core.engine.assembly import build_engine
from core.engine.engine import ListSink
from core.live.runner import round_row
from core.live.state import Latency, LiveState, live_state
from core.market.rounds import Round
from core.store.models import (
    FillRecord,
    FillRow,
    RiskEventRecord,
    SettlementRow,
    VenueRulesRow,
    table_of,
)
from core.store.outbox import OutboxStats
from core.store.writer import insert_rows
from tests.support import engine_runs

BASE_OPEN_S = 1_778_437_800  # btc-updown-15m-1778437800: 2026-05-10 18:30 UTC


def insert(store: Engine, rows: Iterable[SQLModel]) -> None:
    insert_rows(store, [(table_of(row), row.model_dump()) for row in rows])


@dataclass(frozen=True)
class Spec:
    """One round of the history fixture: how it ended, in which mode, whether it traded, what it made."""

    index: int
    status: str
    mode: str = "paper"
    traded: bool = False
    pnl: Decimal | None = None

    @property
    def round(self) -> Round:
        return Round(BASE_OPEN_S - self.index * 900)


HISTORY = [
    Spec(0, "settled", traded=True, pnl=Decimal("4.52564")),
    Spec(1, "settled", mode="live", traded=True, pnl=Decimal("-2.5")),
    Spec(2, "missed_activation"),
    Spec(3, "halted", traded=True, pnl=Decimal("1.25")),
    Spec(4, "settled", mode="live", traded=True, pnl=Decimal("0.75")),
    Spec(5, "unsettled", traded=False),
    Spec(6, "aborted"),
    Spec(7, "settled", mode="live", traded=True, pnl=Decimal("-1")),
    Spec(8, "closed_before_start"),
    Spec(9, "settled", pnl=Decimal(0)),
]


def history_rows() -> list[SQLModel]:
    """HISTORY as rows, plus a backtest's fill on an untraded round (which must never count as traded)."""
    rows: list[SQLModel] = []
    for spec in HISTORY:
        round_ = spec.round
        rows.append(
            round_row(
                round_, spec.status, strike=Decimal(95000), mode=spec.mode, flow_run_id=f"flow-{spec.index}"
            )
        )
        if spec.traded:
            rows.append(fill(round_, run_id=spec.mode, trade=f"t-{spec.index}"))
        if spec.pnl is not None:
            rows.append(SettlementRow(**settlement_of(spec)))
    rows.append(fill(HISTORY[2].round, run_id="backtest-1", trade="bt-1"))
    return rows


def settlement_of(spec: Spec) -> dict[str, Any]:
    """The fields of a settled spec's settlement (its mode's run, at the close, Up won)."""
    return {
        "round_slug": spec.round.slug,
        "run_id": spec.mode,
        "mode": spec.mode,
        "ts": spec.round.close,
        "outcome": "up",
        "strike": Decimal(95000),
        "settle_price": Decimal("95010.5"),
        "source": "chainlink_spot",
        "pnl": spec.pnl,
        "fees": Decimal("0.17436"),
    }


def fill(round_: Round, *, run_id: str, trade: str) -> FillRow:
    return FillRow(
        order_id=f"order-{trade}",
        round_slug=round_.slug,
        run_id=run_id,
        ts=round_.activation,
        trade_id=trade,
        token_id="111",
        outcome="up",
        side="BUY",
        price=Decimal("0.53"),
        size=Decimal(10),
        fee=Decimal("0.17436"),
        liquidity="taker",
        status="MATCHED",
        mode="live" if run_id == "live" else "paper",
    )


@cache
def traded_round() -> tuple[str, tuple[SQLModel, ...]]:
    """A generated round the real engine traded on paper: fills, refused orders and a settlement, with its
    venue rules and round row as the round task writes them."""
    path = engine_runs.model_path(seed=5)
    for round_ in engine_runs.rounds(16):
        sink = ListSink()
        engine = engine_runs.run_round(round_, path, sink, run_id="paper")
        refused = [r for r in sink.of(RiskEventRecord) if r.kind == "verdict" and not r.approved]
        if len(sink.of(FillRecord)) >= 2 and refused:
            market = engine.market
            rules = VenueRulesRow(
                round_slug=round_.slug,
                condition_id="0xcond",
                up_token_id=market.up_token_id,
                down_token_id=market.down_token_id,
                tick_size=market.tick_size,
                min_order_size=market.min_order_size,
                fee_rate=market.fee_schedule.rate,
                fee_exponent=market.fee_schedule.exponent,
                settlement_source=market.settlement_source.value,
            )
            row = round_row(
                round_, "settled", strike=market.strike, flow_run_id="4f1c-flow-run", mode="paper"
            )
            return round_.slug, (*sink.rows, rules, row)
    raise AssertionError("no generated round had fills and refusals")


def round_state(
    at_ms: int, *, latency: Latency | None = None, outbox: OutboxStats | None = None
) -> LiveState:
    """What a running round publishes, made by its own `live_state` from a real engine, one feed up."""
    path = engine_runs.model_path()
    round_ = engine_runs.rounds(1)[0]
    engine = build_engine(
        round_, engine_runs.market_of(round_, path), engine_runs.recipe(), run_id="paper", sink=ListSink()
    )
    market = FeedHealth(
        feed="market",
        connected=True,
        stale=False,
        last_message_age_s=0.2,
        messages=120,
        reconnects=1,
        consecutive_failures=0,
        next_retry_s=None,
        malformed=0,
        callback_errors=0,
        last_error=None,
    )
    return live_state(engine, {"market": market}, mode="paper", now_ms=at_ms, latency=latency, outbox=outbox)
