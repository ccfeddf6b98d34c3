"""Records of three runs, written the way the agent writes them: the real engine trades generated rounds as
the paper run, the live run and a backtest's variant, and the outbox's writer inserts what it recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from sqlmodel import SQLModel

from core.engine.engine import ListSink
from core.store.models import FillRecord, OrderRecord, SettlementRecord, TickSampleRecord
from tests.support import engine_runs

BACKTEST_RUN = "backtest-0123abcd/v0"
OWN_RUNS = ("paper", "live")
PAIR = ("momentum", "mean_reversion")
DEFAULT = ("fair_value", "momentum", "mean_reversion")

Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class Traded:
    run_id: str
    strategies: tuple[str, ...]
    round_index: int
    """Into `engine_runs.rounds(50)`, generated from `engine_runs.model_path(seed=5)`."""


PLAN = (
    Traded("paper", PAIR, 3),  # both strategies fill
    Traded("paper", PAIR, 11),  # an entry_price_cap refusal
    Traded("paper", PAIR, 37),  # settles at 00:00:00 UTC on 2026-09-22
    Traded("live", DEFAULT, 4),
    Traded("live", PAIR, 44),  # 2026-09-22
    Traded(BACKTEST_RUN, DEFAULT, 3),
)


@cache
def agent_rows() -> tuple[SQLModel, ...]:
    """The records of PLAN's rounds (decisions, verdicts, orders, order events, fills, settlements; no tick
    samples, which no history route shows); the live run's carry mode `live` as the live executor's do."""
    path = engine_runs.model_path(seed=5)
    rounds = engine_runs.rounds(50)
    rows: list[SQLModel] = []
    for traded in PLAN:
        sink = ListSink()
        recipe = engine_runs.recipe(strategies=traded.strategies)
        engine_runs.run_round(rounds[traded.round_index], path, sink, run_id=traded.run_id, recipe_=recipe)
        assert sink.of(FillRecord), f"{traded} traded"
        rows += [_in_mode(row, traded.run_id) for row in sink.rows if not isinstance(row, TickSampleRecord)]
    return tuple(rows)


def _in_mode(row: SQLModel, run_id: str) -> SQLModel:
    if run_id == "live" and isinstance(row, OrderRecord | FillRecord | SettlementRecord):
        return row.model_copy(update={"mode": "live"})
    return row


def of(kind: type[Row], rows: Iterable[SQLModel] | None = None) -> list[Row]:
    """The records of exactly this type (table rows of the same name are another type)."""
    return [row for row in (agent_rows() if rows is None else rows) if type(row) is kind]
