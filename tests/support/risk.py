"""A fake FeatureView and a healthy risk scenario that every rule passes, for the risk guard's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.events import BookSnapshot, Level, OrderType, Outcome, Side
from core.execution.base import OrderIntent
from core.ids import IdFactory
from core.market.book import TokenBook
from core.market.settlement import SettlementSource
from core.risk.context import RiskContext, VenueTerms
from core.risk.guard import RiskGuard
from core.risk.limits import RiskLimits
from core.risk.state import AccountState, RoundExposure, utc_day
from core.risk.verdict import RiskVerdict

SLUG = "btc-updown-15m-1778437800"
OPEN_MS = 1_778_437_800_000
CLOSE_MS = OPEN_MS + 900_000
ACTIVATION_MS = CLOSE_MS - 180_000
CUTOFF_MS = CLOSE_MS - 20_000
NOW_MS = ACTIVATION_MS + 60_000
TODAY = utc_day(NOW_MS)
TOKENS = {Outcome.UP: "111", Outcome.DOWN: "222"}


def make_book(
    token_id: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    tick: str = "0.01",
) -> TokenBook:
    book = TokenBook(token_id)
    book.apply_snapshot(
        BookSnapshot(
            ts_ms=NOW_MS,
            token_id=token_id,
            bids=tuple(Level(Decimal(p), Decimal(s)) for p, s in bids),
            asks=tuple(Level(Decimal(p), Decimal(s)) for p, s in asks),
            tick_size=Decimal(tick),
        )
    )
    return book


def healthy_books() -> dict[Outcome, TokenBook]:
    return {
        Outcome.UP: make_book("111", [("0.49", "40"), ("0.48", "40")], [("0.50", "30"), ("0.51", "30")]),
        Outcome.DOWN: make_book("222", [("0.49", "40"), ("0.48", "40")], [("0.51", "30"), ("0.52", "30")]),
    }


@dataclass
class FakeFeatures:
    """Just enough of FeatureView for the guard: what it reads is set per test, the rest is plausible."""

    now_ms: int = NOW_MS
    round_slug: str = SLUG
    open_ms: int = OPEN_MS
    close_ms: int = CLOSE_MS
    settlement_source: SettlementSource = SettlementSource.CHAINLINK_SPOT
    strike: float | None = 100_000.0
    chainlink: float | None = 100_050.0
    chainlink_twap: float | None = 100_040.0
    binance: float | None = 100_100.0
    settlement_estimate: float | None = 100_050.0
    divergence_bps: float | None = 5.0
    settlement_window_mean: float | None = None
    volatility: float | None = 0.0001
    resolved: Outcome | None = None
    books: dict[Outcome, TokenBook] = field(default_factory=healthy_books)
    ages: dict[str, float | None] = field(
        default_factory=lambda: {"market": 0.5, "chainlink": 1.0, "binance": 0.4}
    )
    stale: set[str] = field(default_factory=set)

    @property
    def time_left_s(self) -> float:
        return (self.close_ms - self.now_ms) / 1000

    def log_return(self, horizon_s: int) -> float | None:
        return 0.0

    def book(self, outcome: Outcome) -> TokenBook:
        return self.books[outcome]

    def token_id(self, outcome: Outcome) -> str:
        return TOKENS[outcome]

    def imbalance(self, outcome: Outcome, within_ticks: int = 3) -> float | None:
        return 0.0

    def last_trade(self, outcome: Outcome) -> float | None:
        return None

    def feed_age_s(self, feed: str) -> float | None:
        return self.ages.get(feed)

    def feed_stale(self, feed: str) -> bool:
        return feed in self.stale


def buy(**changes: object) -> OrderIntent:
    """A marketable BUY of 10 Up at 0.50: $5, well inside every default limit."""
    values: dict[str, object] = {
        "order_id": "order-1",
        "round_slug": SLUG,
        "token_id": TOKENS[Outcome.UP],
        "outcome": Outcome.UP,
        "side": Side.BUY,
        "price": Decimal("0.50"),
        "size": Decimal(10),
        "order_type": OrderType.FAK,
        "decision_id": "decision-1",
        "strategy": "fair_value",
    }
    values.update(changes)
    return OrderIntent(**values)  # type: ignore[arg-type]


@dataclass
class Scenario:
    """An order and everything the guard sees; the defaults pass every rule (edge 0.0825 after fees)."""

    intent: OrderIntent = field(default_factory=buy)
    features: FakeFeatures = field(default_factory=FakeFeatures)
    exposure: RoundExposure = field(default_factory=RoundExposure)
    account: AccountState = field(default_factory=lambda: AccountState(day=TODAY))
    limits: RiskLimits = field(default_factory=RiskLimits)
    activation_ms: int = ACTIVATION_MS
    cutoff_ms: int = CUTOFF_MS
    late_start: bool = False
    fair_probability: float | None = 0.60
    now_ms: int = NOW_MS
    venue: VenueTerms = field(default_factory=VenueTerms)

    def context(self) -> RiskContext:
        return RiskContext(
            features=self.features,
            exposure=self.exposure,
            account=self.account,
            activation_ms=self.activation_ms,
            cutoff_ms=self.cutoff_ms,
            late_start=self.late_start,
            fair_probability=self.fair_probability,
            now_ms=self.now_ms,
            venue=self.venue,
        )

    def guard(self) -> RiskGuard:
        return RiskGuard(self.limits, id_factory=IdFactory("test"), account=self.account)

    def verdict(self) -> RiskVerdict:
        return self.guard().check(self.intent, self.context())
