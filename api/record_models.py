"""What the history routes take and give beyond rounds: query models (bounded pages, validated filters) and
public pages of decisions, orders, fills, risk events, operator actions, alerts, P&L and backtests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.models import MAX_PAGE, DecisionPublic, Mode, OrderPublic, check_ordered, utc_instant
from core.engine.policy import PolicyReason
from core.events import OrderStatus
from core.store.models import AlertRecord, FillRecord, OperatorActionRecord, RiskEventRecord

SLUG_PATTERN = r"^[a-z0-9]+-updown-\d+[ms]-\d+$"
CODE_PATTERN = r"^[a-z0-9_]{1,64}$"
"""Strategy names, reason codes, kinds and severities: lowercase words joined by underscores."""
RUN_PATTERN = r"^backtest-[a-z0-9]{1,32}$"
"""A backtest run (`backtest-<first 8 characters of its flow run id>`); its variants are `<run>/v<i>`."""
RUN_ID_PATTERN = r"^(paper|live|backtest-[a-z0-9]{1,32}/v\d{1,4})$"
MAX_PNL_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
"""The days a P&L query may name: far enough from the ends of the calendar that no range overflows it."""


class Window(BaseModel):
    """A page (`limit` from `offset`, newest first) of records at or after `since` and before `until`;
    instants without a zone are UTC."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="Records at or after this instant.")
    until: datetime | None = Field(default=None, description="Records before this instant.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        check_ordered(self.since, self.until)
        return self


class RunWindow(Window):
    """A window over the records of one kind of run: the agent's own (`mode`, both by default) or any run
    by its id, such as a backtest's variant (`run_id=backtest-1a2b3c4d/v0`)."""

    mode: Mode | None = Field(default=None, description="The agent's own runs in this mode only.")
    run_id: str | None = Field(
        default=None,
        pattern=RUN_ID_PATTERN,
        description="Exactly this run: `paper`, `live` or a backtest variant `backtest-<run>/v<i>`.",
    )
    round: str | None = Field(
        default=None, max_length=64, pattern=SLUG_PATTERN, description="A round's slug."
    )

    @model_validator(mode="after")
    def _one_run(self) -> RunWindow:
        if self.mode is not None and self.run_id is not None:
            raise ValueError("give mode or run_id, not both")
        return self


class DecisionQuery(RunWindow):
    strategy: str | None = Field(default=None, pattern=CODE_PATTERN)
    side: Literal["BUY", "SELL"] | None = None
    outcome: Literal["up", "down"] | None = None
    accepted: bool | None = Field(default=None, description="Proposals the policy acted on (or not).")
    policy: PolicyReason | None = Field(default=None, description="The policy's answer.")
    risk_reason: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        description="Decisions with a risk verdict of this reason code on one of their orders (`ok`: passed).",
    )


class OrderQuery(RunWindow):
    status: OrderStatus | None = Field(default=None, description="The order's latest status.")
    strategy: str | None = Field(default=None, pattern=CODE_PATTERN, description="The deciding strategy.")


class FillQuery(RunWindow):
    strategy: str | None = Field(default=None, pattern=CODE_PATTERN, description="The deciding strategy.")


class RiskEventQuery(RunWindow):
    kind: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        description="`verdict`, `trip`, `reset`, `alert`, `reconcile`, `control`, ...",
    )
    reason: str | None = Field(default=None, pattern=CODE_PATTERN, description="The reason code.")
    approved: bool | None = None


class OperatorActionQuery(Window):
    actor: str | None = Field(default=None, min_length=1, max_length=64)
    action: str | None = Field(default=None, min_length=1, max_length=64)


class AlertQuery(Window):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    severity: str | None = Field(default=None, pattern=CODE_PATTERN)
    round: str | None = Field(
        default=None, max_length=64, pattern=SLUG_PATTERN, description="A round's slug."
    )


class DecisionPage(BaseModel):
    data: list[DecisionPublic]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


class OrderSummary(OrderPublic):
    """An order with its status changes and fills, the strategy that decided it and where it stands now."""

    strategy: str | None = Field(description="The strategy whose decision led to it; null for none.")
    status: str | None = Field(description="Its latest status; null before the first event.")
    filled_size: Decimal


class OrderPage(BaseModel):
    data: list[OrderSummary]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


class FillPublic(FillRecord):
    strategy: str | None = Field(description="The strategy whose decision led to the order; null for none.")


class FillPage(BaseModel):
    data: list[FillPublic]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


class RiskEventPage(BaseModel):
    data: list[RiskEventRecord]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


class OperatorActionPage(BaseModel):
    data: list[OperatorActionRecord]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


class AlertPage(BaseModel):
    data: list[AlertRecord]
    count: int = Field(description="Records matching the filters, over all pages.")
    limit: int
    offset: int


# --- P&L ---------------------------------------------------------------------------------------------------


class PnlQuery(BaseModel):
    """UTC days of settlement, both ends included: by default the 30 up to today; at most MAX_PNL_DAYS
    (checked against today's date by `api.pnl.resolve`)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = Field(default=None, description="One mode; both by default.")
    first_day: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description="Default: 29 days before last_day."
    )
    last_day: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description="Default: today (UTC)."
    )


class PnlDay(BaseModel):
    day: date
    mode: Mode
    rounds_settled: int
    pnl: Decimal = Field(description="pUSD, net of fees.")
    fees: Decimal
    per_strategy: dict[str, Decimal] = Field(
        description="The day's P&L split by strategy, net of fees (`unattributed`: what settlements did "
        "not split)."
    )


class PnlTotal(BaseModel):
    mode: Mode
    rounds_settled: int
    pnl: Decimal = Field(description="pUSD, net of fees.")
    fees: Decimal


class PnlDays(BaseModel):
    """Days with settlements, newest first, and the totals over the range per mode."""

    first_day: date
    last_day: date
    data: list[PnlDay]
    totals: list[PnlTotal]


class StrategyPnl(BaseModel):
    mode: Mode
    strategy: str
    rounds: int = Field(description="Settled rounds in which it had a position.")
    wins: int = Field(description="Those in which it made money.")
    pnl: Decimal = Field(description="pUSD, net of fees.")


class PnlStrategies(BaseModel):
    """Each strategy's P&L per mode over the range, best first within a mode."""

    first_day: date
    last_day: date
    data: list[StrategyPnl]


# --- backtests ---------------------------------------------------------------------------------------------


class BacktestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ReportFile(BaseModel):
    name: str = Field(description="GET /backtests/{run_id}/files/{name} serves it.")
    size: int = Field(description="Bytes.")
    media_type: str


class BacktestVariant(BaseModel):
    """One variant of the grid. Its figures come from the run's report; without one, from the store."""

    run_id: str = Field(description="The run id of its rows in the store (`/decisions?run_id=...`).")
    tag: str
    name: str | None = Field(description="The grid's combination, e.g. `fair_value.margin=0.02`.")
    rounds: int
    traded: int = Field(description="Rounds with a fill.")
    wins: int | None
    win_rate: float | None
    pnl: Decimal | None = Field(description="pUSD, net of fees.")
    fees: Decimal | None
    max_drawdown: Decimal | None
    per_strategy: dict[str, Decimal]
    stored_rounds: int = Field(description="Its settled rounds in the store (0: rows not written here).")


class SummarySource(StrEnum):
    REPORT = "report"
    STORE = "store"


class BacktestSummary(BaseModel):
    run_id: str
    written_at: datetime | None = Field(description="When its report was written; null without one.")
    title: str | None
    source: str | None = Field(description="`generated` or `tapes`.")
    start: datetime | None
    end: datetime | None
    seed: int | None
    rounds_planned: int | None
    best: str | None = Field(description="The tag of the variant with the highest P&L.")
    variants: list[BacktestVariant]
    files: list[ReportFile]
    summary_from: SummarySource = Field(description="Where the figures come from: its report, or the store.")
    summary_problem: str | None = Field(description="Why the report's summary could not be read, if not.")


class BacktestPage(BaseModel):
    data: list[BacktestSummary]
    count: int = Field(description="Backtest runs, over all pages.")
    limit: int
    offset: int


class BacktestDetail(BacktestSummary):
    """A run as its report states it: what ran (data, strategies, settings) and the results per variant."""

    data_source: str | None = Field(description="The price file or tape folder the rounds came from.")
    strategies: list[str]
    rounds_missing: int | None = Field(description="Rounds skipped for want of a tape.")
    brier: float | None = Field(description="Brier score of the fair-value probability at activation.")
    settings: dict[str, dict[str, str]] = Field(description="The run's settings by section, as the report.")
