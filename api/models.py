"""What the API takes and gives: request bodies, query models and public responses. No response model has a
field for a password hash or a token digest; a token itself is shown once, in the answer that made it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import SQLModel

from api.auth import MAX_PASSWORD, NAME_PATTERN
from core.live.state import LiveState
from core.store.auth import ApiTokenBase, Role, UserBase
from core.store.models import (
    DecisionRecord,
    FillRecord,
    OrderEventRecord,
    OrderRecord,
    RiskEventRecord,
    SettlementRecord,
    TickSampleRecord,
    VenueRulesRow,
)

Mode = Literal["paper", "live"]


class Message(BaseModel):
    message: str


class Problem(BaseModel):
    """Every refusal: 401, 403, 404, 409 and 503 with a sentence; 422 lists each bad field with its reason."""

    detail: str


# --- auth --------------------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=128)


class TokenPair(BaseModel):
    """A login: a short-lived access token to send as `Authorization: Bearer`, and a refresh token that
    buys the next pair once (POST /auth/refresh)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid, if not used before.")


class UserPublic(UserBase):
    id: str
    role: Role
    created_at: datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class Me(UserPublic):
    """The caller, and how they are acting now (an API token may act with less than its owner's role)."""

    acting_role: Role
    via: Literal["session", "api_token"]


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    role: Role = Role.VIEWER
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        description="Days until it stops working; at most api_token_max_days (default 365).",
    )


class ApiTokenPublic(ApiTokenBase):
    id: str
    role: Role
    owner: str
    prefix: str = Field(description="The token's first characters, to recognise it; never the token.")
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = Field(default=None, description="Last request it made (to the minute).")


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The token itself: shown this once, only its digest is kept.")


class ApiTokensPublic(BaseModel):
    data: list[ApiTokenPublic]
    count: int


# --- operations ----------------------------------------------------------------------------------------


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    name: str
    status: Literal["ok", "failed", "skipped"]
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


class RoundTimer(BaseModel):
    """The round the schedule says is on now, and how long until it acts and closes."""

    slug: str
    open_at: datetime
    close_at: datetime
    wake_at: datetime
    activation_at: datetime
    phase: Literal["waiting", "warmup", "active"] = Field(
        description="By the schedule: before the run wakes, warming feeds, or trading."
    )
    seconds_to_activation: float
    seconds_to_close: float
    stored_status: str | None = Field(description="The round's status in the store, if a run recorded it.")


class KillSwitchPublic(BaseModel):
    engaged: bool
    reason: str
    source: str | None
    code: str | None
    since: datetime | None
    set_by: str | None


class DayPnl(BaseModel):
    mode: Mode
    day: str
    rounds_settled: int
    pnl: Decimal = Field(description="pUSD, net of fees.")
    fees: Decimal


class RecentDecision(BaseModel):
    round_slug: str
    at: datetime
    mode: str
    strategy: str
    outcome: str
    side: str
    limit_price: Decimal
    size: Decimal
    policy: str
    reason: str


class Status(BaseModel):
    """The agent at a glance. A part the API cannot know is null, with the reason beside it."""

    at: datetime
    mode: Mode
    live_trading_allowed: bool
    round: RoundTimer
    kill_switch: KillSwitchPublic | None
    kill_switch_unavailable: str | None = None
    pnl_today: list[DayPnl]
    latest_decision: RecentDecision | None
    live: LiveState | None = Field(
        description="The running round's own report (feeds, books, position), from its latest heartbeat."
    )
    live_unavailable: str | None = Field(description="Why `live` is null.")
    live_source: Literal["redis", "store"] = Field(
        description="Where `live` was read: Redis when configured (and answering), else the store."
    )


# --- history -------------------------------------------------------------------------------------------


class RoundStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    SETTLED = "settled"
    HALTED = "halted"
    UNSETTLED = "unsettled"
    ABORTED = "aborted"
    MISSED_ACTIVATION = "missed_activation"
    CLOSED_BEFORE_START = "closed_before_start"


MAX_PAGE = 200


def utc_instant(value: datetime | None) -> datetime | None:
    """A filter's instant in UTC (one without a zone is UTC); far-off instants are a 422, never a 500."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range in UTC") from None


def check_ordered(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ValueError("since must be before until")


class RoundQuery(BaseModel):
    """Filters and page of GET /rounds; `since` and `until` bound the round's open time, UTC if no zone."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    status: RoundStatus | None = None
    since: datetime | None = Field(default=None, description="Rounds opening at or after this instant.")
    until: datetime | None = Field(default=None, description="Rounds opening before this instant.")
    traded: bool | None = Field(default=None, description="Only rounds with (true) or without (false) fills.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value)

    @model_validator(mode="after")
    def _ordered(self) -> RoundQuery:
        check_ordered(self.since, self.until)
        return self


class RoundSummary(BaseModel):
    slug: str
    mode: str
    status: str
    reason: str | None
    open_at: datetime
    close_at: datetime
    length_s: int
    strike: Decimal | None
    flow_run_id: str | None
    winner: str | None
    settle_price: Decimal | None
    pnl: Decimal | None = Field(description="pUSD net of fees; null until settled.")
    fees: Decimal | None
    orders: int
    fills: int


class RoundPage(BaseModel):
    data: list[RoundSummary]
    count: int = Field(description="Rounds matching the filters, over all pages.")
    limit: int
    offset: int


class DecisionPublic(DecisionRecord):
    """A strategy's proposal with the features it saw (`features`), the policy's answer and the risk
    guard's verdicts on the orders it led to."""

    verdicts: list[RiskEventRecord]


class OrderPublic(OrderRecord):
    events: list[OrderEventRecord]
    fills: list[FillRecord]


class VenueRulesPublic(SQLModel):
    condition_id: str
    up_token_id: str
    down_token_id: str
    tick_size: Decimal
    min_order_size: Decimal
    fee_rate: Decimal
    fee_exponent: int
    fee_taker_only: bool
    resolution_source: str | None
    settlement_source: str
    market_version: str | None
    captured_at: datetime

    @classmethod
    def of(cls, row: VenueRulesRow) -> VenueRulesPublic:
        return cls.model_validate(row.model_dump())


class Pnl(BaseModel):
    total: Decimal | None = Field(description="pUSD net of fees; null until settled.")
    fees: Decimal
    per_strategy: dict[str, Decimal]


class Tape(BaseModel):
    path: str = Field(description="Where the round's tape is recorded, under the data directory.")
    files: list[str] = Field(description="Its files on this host (segments); empty if it is not here.")


class Counts(BaseModel):
    policy: dict[str, int] = Field(description="Decisions by the policy's answer.")
    verdicts: dict[str, int] = Field(description="Risk verdicts by reason code.")


class RoundDetail(BaseModel):
    """One round from the store: what the venue said, what was decided and why, what was ordered and
    filled, how it settled, and where its tape and Prefect flow run are."""

    round: RoundSummary
    headline: str
    venue_rules: VenueRulesPublic | None
    settlement: SettlementRecord | None
    pnl: Pnl
    counts: Counts
    decisions: list[DecisionPublic]
    risk_events: list[RiskEventRecord] = Field(description="Every verdict, trip and alert of the round.")
    orders: list[OrderPublic]
    tape: Tape
    flow_run_id: str | None
    samples: list[TickSampleRecord] = Field(
        default_factory=list,
        description="What the round saw every 5 s, oldest first: BTC (Chainlink, its TWAP, Binance) and the "
        "top of both books; the round page's chart.",
    )
