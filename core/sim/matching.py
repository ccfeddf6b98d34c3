"""The simulated venue's matching engine: our orders against the market-maker model's book.

It is the exchange of the simulation: it owns each market's book (core.sim.book), applies the market
maker's quotes, executes other participants' takers, and keeps our accounts (collateral, positions).
Validation and error strings follow the venue's (../shared/reference/polymarket.md section 7).

Fill rule for our resting orders: they fill only when the market trades through them. A resting order
joins the back of its level's queue; a taker (ours or the model's) walks the book best price first and
each level first come first served, so our order fills only after the volume ahead of it is gone. The
market maker never quotes through our resting orders (such levels are withheld), and informed model
takers pick off orders that are far from fair value. A quote moving through our price never fills us.

No HTTP or JSON here: the simulated server turns results into wire frames.
"""

from __future__ import annotations

import hashlib
import heapq
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from itertools import count
from typing import Protocol

from core.events import BookDelta, BookSnapshot, Liquidity, OrderType, Outcome, Side, TradePrint, TradeStatus
from core.market import venue_rules
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule, fee_for, taker_fee
from core.market.venue_rules import (
    OrderTerms,
    VenueMinimums,
    check_notional,
    check_price,
    check_size,
)
from core.money import ONE, ZERO
from core.sim.book import MARKET_MAKER, Entry, Match, PairBook, to_canonical
from core.sim.market_maker import Ladder, TakerIntent

NOT_ENOUGH_BALANCE = "not enough balance / allowance"
FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_KILLED = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
INVALID_EXPIRATION = "invalid expiration"
MARKET_NOT_READY = "the market is not yet ready to process new orders"
ALREADY_CLOSED = "already canceled or matched"
# Wording of our own: the venue's exact text for these is not known.
POST_ONLY_TYPE = "invalid post-only order: only GTC and GTD orders can be post-only"
MARKET_NOT_FOUND = "market not found"
ORDER_NOT_FOUND = "order not found"
DELAYED_NOT_CANCELABLE = "order is delayed and cannot be canceled until it is matched"

MarketEvent = BookDelta | TradePrint


def duplicate_error(order_id: str) -> str:
    return f"order {order_id} is invalid. Duplicated."


class VenueOrderStatus(StrEnum):
    """The venue's order statuses (POST /order and order queries)."""

    LIVE = "live"
    MATCHED = "matched"
    DELAYED = "delayed"
    UNMATCHED = "unmatched"
    CANCELED = "canceled"


class CancelReason(StrEnum):
    """Why an order stopped resting, for the user channel's CANCELED_* variants."""

    USER = "user"
    EXPIRED = "expired"
    MARKET_RESOLVED = "market_resolved"
    UNFILLED_REMAINDER = "unfilled_remainder"


class MarketRules(Protocol):
    """What the engine needs of a market (core.sim.markets.SimMarket has it)."""

    @property
    def condition_id(self) -> str: ...

    @property
    def up_token_id(self) -> str: ...

    @property
    def down_token_id(self) -> str: ...

    @property
    def tick_size(self) -> Decimal: ...

    @property
    def min_order_size(self) -> Decimal: ...

    @property
    def fee_schedule(self) -> FeeSchedule: ...


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Plain market rules, as Gamma would publish them."""

    condition_id: str
    up_token_id: str
    down_token_id: str
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    fee_schedule: FeeSchedule = CRYPTO_FEES_V2


@dataclass(frozen=True, slots=True)
class TradeDelays:
    """How long after the match a trade is reported MINED and CONFIRMED."""

    mined_ms: int = 2_000
    confirmed_ms: int = 6_000

    def __post_init__(self) -> None:
        if not 0 <= self.mined_ms <= self.confirmed_ms:
            raise ValueError("delays must satisfy 0 <= mined <= confirmed")


@dataclass(frozen=True, slots=True)
class SimOrder:
    """An order as the server decoded it: `size` in shares, `price` the limit (worst) price."""

    order_id: str
    owner: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expiration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order's state at one instant."""

    order_id: str
    owner: str
    market: str
    token_id: str
    outcome: Outcome
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: VenueOrderStatus
    order_type: OrderType
    created_ms: int
    expiration_ms: int | None
    trade_ids: tuple[str, ...]
    cancel_reason: CancelReason | None = None

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched


@dataclass(frozen=True, slots=True)
class Trade:
    """One of our executions: one per order and price level; the price is in the order's own token."""

    trade_id: str
    order_id: str
    owner: str
    market: str
    token_id: str
    outcome: Outcome
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    status: TradeStatus
    match_ms: int
    updated_ms: int
    taker_order_id: str


@dataclass(frozen=True, slots=True)
class EngineReport:
    """What one call changed: market-channel events, and our orders and trades for the user channel."""

    market_events: tuple[MarketEvent, ...] = ()
    orders: tuple[OrderView, ...] = ()
    trades: tuple[Trade, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to POST /order.

    `status`: None when validation refused the order, `unmatched` for a killed FOK/FAK, `matched` when it
    traded on arrival (a GTC remainder then rests), `delayed` for a taker held back before matching (the
    outcome then comes as order and trade updates), else `live`.
    """

    order_id: str
    accepted: bool
    error: str
    status: VenueOrderStatus | None
    making_amount: Decimal = ZERO
    taking_amount: Decimal = ZERO
    report: EngineReport = EngineReport()

    @property
    def trade_ids(self) -> tuple[str, ...]:
        return tuple(t.trade_id for t in self.report.trades if t.status is TradeStatus.MATCHED)


@dataclass(frozen=True, slots=True)
class CancelResult:
    canceled: tuple[str, ...]
    not_canceled: Mapping[str, str]
    report: EngineReport


@dataclass(slots=True)
class _Order:
    spec: SimOrder
    market: MarketRules
    outcome: Outcome
    created_ms: int
    size_matched: Decimal = ZERO
    status: VenueOrderStatus = VenueOrderStatus.LIVE
    trade_ids: list[str] = field(default_factory=list)
    cancel_reason: CancelReason | None = None
    level: tuple[Side, Decimal] | None = None
    """Where it rests on the canonical book, once it does."""

    @property
    def remaining(self) -> Decimal:
        return self.spec.size - self.size_matched

    def canonical(self, tick: Decimal) -> tuple[Side, Decimal]:
        """Where the order sits on the canonical book; one spelling per level ("0.5" rests at 0.50)."""
        side, price = to_canonical(self.outcome, self.spec.side, self.spec.price)
        return side, price.quantize(tick)

    def terms(self, crosses: bool) -> OrderTerms:
        s = self.spec
        return OrderTerms(s.order_id, s.side, s.price, s.size, s.order_type, crosses=crosses)

    def view(self) -> OrderView:
        s = self.spec
        return OrderView(
            order_id=s.order_id,
            owner=s.owner,
            market=self.market.condition_id,
            token_id=s.token_id,
            outcome=self.outcome,
            side=s.side,
            price=s.price,
            original_size=s.size,
            size_matched=self.size_matched,
            status=self.status,
            order_type=s.order_type,
            created_ms=self.created_ms,
            expiration_ms=s.expiration_ms if s.order_type is OrderType.GTD else None,
            trade_ids=tuple(self.trade_ids),
            cancel_reason=self.cancel_reason,
        )


@dataclass(slots=True)
class _Account:
    collateral: Decimal = ZERO
    positions: dict[str, Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class _Report:
    events: list[MarketEvent] = field(default_factory=list)
    orders: list[OrderView] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)

    def freeze(self) -> EngineReport:
        return EngineReport(tuple(self.events), tuple(self.orders), tuple(self.trades))


@dataclass(frozen=True, slots=True)
class _Taker:
    """Whoever takes liquidity in one execution: one of our orders, or a model taker."""

    order_id: str
    outcome: Outcome
    side: Side
    order: _Order | None


class MatchingEngine:
    """The venue: books per market, our accounts, order lifecycle and trade settlement progress.

    Time is passed in and must not go backwards; every call first catches up on due GTD expiries, delayed
    takers and trade status changes, and reports them with its own changes.

    `taker_delay_ms`: as on the venue's crypto Up/Down markets, an order of ours that would take liquidity
    (FOK, FAK, or a GTC/GTD crossing the book) is answered `delayed` and matched that much later against
    the book as it is then; it cannot be cancelled meanwhile. 0 matches on arrival.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        delays: TradeDelays | None = None,
        min_marketable_buy: Decimal = ONE,
        taker_delay_ms: int = 0,
    ) -> None:
        if taker_delay_ms < 0:
            raise ValueError(f"taker_delay_ms must not be negative, got {taker_delay_ms}")
        self._seed = seed
        self._delays = delays or TradeDelays()
        self._min_marketable_buy = min_marketable_buy
        self._taker_delay_ms = taker_delay_ms
        self._ids = count()
        self._markets: dict[str, MarketRules] = {}
        self._books: dict[str, PairBook] = {}
        self._closed: set[str] = set()
        self._token_market: dict[str, str] = {}
        self._accounts: dict[str, _Account] = {}
        self._orders: dict[str, _Order] = {}
        self._open: dict[str, _Order] = {}
        self._delayed: dict[str, _Order] = {}
        self._trades: dict[str, Trade] = {}
        self._expiries: list[tuple[int, int, str]] = []
        self._releases: list[tuple[int, int, str]] = []
        self._last_trades: dict[str, tuple[Decimal, Side]] = {}
        self._progress: list[tuple[int, int, str, TradeStatus]] = []
        self._now_ms: int | None = None
        self._dirty: dict[str, None] = {}

    # --- markets and accounts -------------------------------------------------------------------

    def add_market(self, market: MarketRules) -> PairBook:
        if market.condition_id in self._markets:
            raise ValueError(f"market {market.condition_id} already exists")
        book = PairBook(market.up_token_id, market.down_token_id, market.tick_size)
        self._markets[market.condition_id] = market
        self._books[market.condition_id] = book
        self._token_market[market.up_token_id] = market.condition_id
        self._token_market[market.down_token_id] = market.condition_id
        return book

    def has_market(self, condition_id: str) -> bool:
        return condition_id in self._markets

    def market(self, condition_id: str) -> MarketRules:
        return self._markets[condition_id]

    def market_of_token(self, token_id: str) -> MarketRules | None:
        condition_id = self._token_market.get(token_id)
        return None if condition_id is None else self._markets[condition_id]

    def book(self, condition_id: str) -> PairBook:
        return self._books[condition_id]

    def book_snapshot(self, token_id: str, now_ms: int) -> BookSnapshot:
        return self._books[self._token_market[token_id]].snapshot(token_id, now_ms)

    def tick_size(self, condition_id: str) -> Decimal:
        """The market's tick now: prices of new orders must be on its grid."""
        return self._books[condition_id].tick_size

    def change_tick(self, condition_id: str, tick: Decimal) -> Decimal:
        """Set the market's tick (the venue refines it near the extremes); returns the one it replaces.
        Orders already resting keep their prices."""
        book = self._books[condition_id]
        old, book.tick_size = book.tick_size, tick
        return old

    def last_trade(self, token_id: str) -> tuple[Decimal, Side] | None:
        """The price and taker side of the token's latest trade, if it has traded."""
        return self._last_trades.get(token_id)

    def open_account(self, owner: str, collateral: Decimal) -> None:
        """Create or top up an account's collateral (pUSD)."""
        self._account(owner).collateral += collateral

    def collateral(self, owner: str) -> Decimal:
        return self._account(owner).collateral

    def available_collateral(self, owner: str) -> Decimal:
        """Collateral not promised to open BUY orders, nor to delayed BUYs (with their taker fee)."""
        resting = sum(
            (o.remaining * o.spec.price for o in self._open_of(owner) if o.spec.side is Side.BUY), ZERO
        )
        delayed = sum(
            (
                o.spec.size * o.spec.price + taker_fee(o.spec.size, o.spec.price, o.market.fee_schedule)
                for o in self._delayed_of(owner)
                if o.spec.side is Side.BUY
            ),
            ZERO,
        )
        return self._account(owner).collateral - resting - delayed

    def position(self, owner: str, token_id: str) -> Decimal:
        return self._account(owner).positions.get(token_id, ZERO)

    def available_shares(self, owner: str, token_id: str) -> Decimal:
        """Shares not promised to open or delayed SELL orders."""
        reserved = sum(
            (
                o.remaining
                for o in (*self._open_of(owner), *self._delayed_of(owner))
                if o.spec.side is Side.SELL and o.spec.token_id == token_id
            ),
            ZERO,
        )
        return self.position(owner, token_id) - reserved

    # --- queries ----------------------------------------------------------------------------------

    def order(self, order_id: str) -> OrderView | None:
        found = self._orders.get(order_id)
        return None if found is None else found.view()

    def orders_of(self, owner: str) -> list[OrderView]:
        """Every order of `owner` that passed validation (killed FOK/FAK orders too), whatever became of it:
        the venue's ledger of our orders, in arrival order."""
        return [o.view() for o in self._orders.values() if o.spec.owner == owner]

    def open_orders(
        self, owner: str, *, condition_id: str | None = None, token_id: str | None = None
    ) -> list[OrderView]:
        return [
            o.view()
            for o in self._open_of(owner)
            if _selected(o.market.condition_id, o.spec.token_id, condition_id, token_id)
        ]

    def trades(
        self, owner: str, *, condition_id: str | None = None, token_id: str | None = None
    ) -> list[Trade]:
        return [
            t
            for t in self._trades.values()
            if t.owner == owner and _selected(t.market, t.token_id, condition_id, token_id)
        ]

    # --- our orders ---------------------------------------------------------------------------------

    def submit(self, order: SimOrder, now_ms: int) -> SubmitResult:
        """Validate, then hold a taker back (`taker_delay_ms`) or match what crosses and rest what a GTC/GTD
        leaves; FOK/FAK never rest."""
        report = self._begin(now_ms)
        market = self.market_of_token(order.token_id)
        if market is None:
            return self._refuse(order, MARKET_NOT_FOUND, report, now_ms)
        book = self._books[market.condition_id]
        entry = _Order(order, market, book.outcome_of(order.token_id), now_ms)
        crosses = self._crosses(book, *entry.canonical(book.tick_size))
        error = self._validate(entry, now_ms, crosses)
        if error is not None:
            return self._refuse(order, error, report, now_ms)
        self._orders[order.order_id] = entry
        if self._taker_delay_ms and entry.terms(crosses).marketable:
            entry.status = VenueOrderStatus.DELAYED
            self._delayed[order.order_id] = entry
            release_ms = now_ms + self._taker_delay_ms
            heapq.heappush(self._releases, (release_ms, next(self._ids), order.order_id))
            report.orders.append(entry.view())
            return SubmitResult(
                order.order_id,
                True,
                "",
                VenueOrderStatus.DELAYED,
                report=self._finish(report, now_ms, market.condition_id),
            )
        killed, fills = self._match(entry, now_ms, report)
        finished = self._finish(report, now_ms, market.condition_id)
        if killed:
            return SubmitResult(order.order_id, False, killed, VenueOrderStatus.UNMATCHED, report=finished)
        filled = sum((t.size for t in fills), ZERO)
        paid = sum((t.size * t.price for t in fills), ZERO)
        buy = order.side is Side.BUY
        return SubmitResult(
            order_id=order.order_id,
            accepted=True,
            error="",
            status=VenueOrderStatus.MATCHED if fills else VenueOrderStatus.LIVE,
            making_amount=paid if buy else filled,
            taking_amount=filled if buy else paid,
            report=finished,
        )

    def _match(self, entry: _Order, now_ms: int, report: _Report) -> tuple[str, list[Trade]]:
        """Match an accepted order against the book now: the venue's message if it was killed (else ""),
        and its taker trades. What a GTC/GTD leaves rests at the back of its level."""
        order = entry.spec
        book = self._books[entry.market.condition_id]
        self._dirty[entry.market.condition_id] = None
        side, price = entry.canonical(book.tick_size)
        crosses = self._crosses(book, side, price)
        killed = ""
        if order.order_type is OrderType.FOK and book.fillable(side, price, order.size) < order.size:
            killed = FOK_KILLED
        elif order.order_type is OrderType.FAK and not crosses:
            killed = FAK_KILLED
        if killed:
            self._close(entry, VenueOrderStatus.UNMATCHED, None)
            report.orders.append(entry.view())
            return killed, []
        taker = _Taker(order.order_id, entry.outcome, order.side, entry)
        fills = self._execute(book, taker, order.size, now_ms, report) if crosses else []
        if entry.remaining and order.order_type in (OrderType.GTC, OrderType.GTD):
            book.add(side, price, Entry(order.owner, entry.remaining, order.order_id))
            entry.level = (side, price)
            self._open[order.order_id] = entry
            if order.order_type is OrderType.GTD:
                assert order.expiration_ms is not None
                heapq.heappush(self._expiries, (order.expiration_ms, next(self._ids), order.order_id))
        elif entry.remaining:
            self._close(entry, VenueOrderStatus.CANCELED, CancelReason.UNFILLED_REMAINDER)
        report.orders.append(entry.view())
        return "", fills

    def cancel(self, owner: str, order_id: str, now_ms: int) -> CancelResult:
        return self.cancel_orders(owner, [order_id], now_ms)

    def cancel_orders(self, owner: str, order_ids: Iterable[str], now_ms: int) -> CancelResult:
        report = self._begin(now_ms)
        canceled: list[str] = []
        refused: dict[str, str] = {}
        for order_id in order_ids:
            found = self._orders.get(order_id)
            if found is None or found.spec.owner != owner:
                refused[order_id] = ORDER_NOT_FOUND
            elif order_id in self._delayed:
                refused[order_id] = DELAYED_NOT_CANCELABLE
            elif order_id not in self._open:
                refused[order_id] = ALREADY_CLOSED
            else:
                self._cancel_open(found, CancelReason.USER, report)
                canceled.append(order_id)
        return CancelResult(tuple(canceled), refused, self._finish(report, now_ms))

    def cancel_all(self, owner: str, now_ms: int) -> CancelResult:
        return self.cancel_market(owner, now_ms)

    def cancel_market(
        self, owner: str, now_ms: int, *, condition_id: str | None = None, token_id: str | None = None
    ) -> CancelResult:
        """Cancel what rests; delayed orders are named among those not cancelled."""
        ids = [
            o.spec.order_id
            for o in (*self._open_of(owner), *self._delayed_of(owner))
            if _selected(o.market.condition_id, o.spec.token_id, condition_id, token_id)
        ]
        return self.cancel_orders(owner, ids, now_ms)

    # --- the market model ------------------------------------------------------------------------

    def apply_quotes(self, condition_id: str, ladder: Ladder, now_ms: int) -> EngineReport:
        """Set the market maker's levels; levels that would cross our resting orders are withheld."""
        report = self._begin(now_ms)
        book = self._books[condition_id]
        if condition_id in self._closed:
            return self._finish(report, now_ms)
        our_bid = book.best_excluding(MARKET_MAKER, Side.BUY)
        our_ask = book.best_excluding(MARKET_MAKER, Side.SELL)
        wanted = {
            key: size
            for key, size in ladder.items()
            if not (key[0] is Side.SELL and our_bid is not None and key[1] <= our_bid)
            and not (key[0] is Side.BUY and our_ask is not None and key[1] >= our_ask)
        }
        for side in (Side.BUY, Side.SELL):
            for price in book.owner_prices(MARKET_MAKER, side):
                if (side, price) not in wanted:
                    book.set_owner_total(MARKET_MAKER, side, price, ZERO)
        for (side, price), size in wanted.items():
            book.set_owner_total(MARKET_MAKER, side, price, size)
        return self._finish(report, now_ms, condition_id)

    def execute_taker(self, condition_id: str, intent: TakerIntent, now_ms: int) -> EngineReport:
        """Another participant's fill-and-kill order: it may fill our resting orders."""
        report = self._begin(now_ms)
        book = self._books[condition_id]
        if condition_id in self._closed:
            return self._finish(report, now_ms)
        taker = _Taker(self._new_order_id(), intent.outcome, intent.side, None)
        self._execute(book, taker, intent.size, now_ms, report, limit=intent.limit_price)
        return self._finish(report, now_ms, condition_id)

    def advance(self, now_ms: int) -> EngineReport:
        """Bring time forward: GTD expiries and MATCHED -> MINED -> CONFIRMED progress that fell due."""
        return self._finish(self._begin(now_ms), now_ms)

    def resolve(
        self, condition_id: str, winner: Outcome, now_ms: int, *, redeem: bool = True
    ) -> EngineReport:
        """Close a market: cancel what rests, clear the book, and pay 1 per winning share if `redeem`."""
        report = self._begin(now_ms)
        book = self._books[condition_id]
        self._closed.add(condition_id)
        for order in [o for o in self._open.values() if o.market.condition_id == condition_id]:
            self._cancel_open(order, CancelReason.MARKET_RESOLVED, report)
        for order in [o for o in self._delayed.values() if o.market.condition_id == condition_id]:
            del self._delayed[order.spec.order_id]
            self._close(order, VenueOrderStatus.CANCELED, CancelReason.MARKET_RESOLVED)
            report.orders.append(order.view())
        for side in (Side.BUY, Side.SELL):
            for price in book.owner_prices(MARKET_MAKER, side):
                book.set_owner_total(MARKET_MAKER, side, price, ZERO)
        if redeem:
            winning = book.token_of(winner)
            for account in self._accounts.values():
                account.collateral += account.positions.pop(winning, ZERO)
                account.positions.pop(book.token_of(flip_outcome(winner)), None)
        return self._finish(report, now_ms, condition_id)

    # --- internals --------------------------------------------------------------------------------

    def _validate(self, entry: _Order, now_ms: int, crosses: bool) -> str | None:
        """The first of the venue's refusals that applies, checked in a fixed order; None to accept."""
        return next(self._refusals(entry, now_ms, crosses), None)

    def _refusals(self, entry: _Order, now_ms: int, crosses: bool) -> Iterator[str]:
        # A generator, so that later checks (fees need a valid price) only run once earlier ones pass.
        # The price, size and notional rules come from core.market.venue_rules, shared with paper and risk.
        order, market = entry.spec, entry.market
        terms = entry.terms(crosses)
        minimums = VenueMinimums(market.min_order_size, self._min_marketable_buy)
        if market.condition_id in self._closed:
            yield MARKET_NOT_READY
        if order.order_id in self._orders:
            yield duplicate_error(order.order_id)
        if breach := check_price(terms, self._books[market.condition_id].tick_size):
            yield breach.message
        if order.post_only and not terms.resting:
            yield POST_ONLY_TYPE
        if order.order_type is OrderType.GTD and (order.expiration_ms or 0) <= now_ms:
            yield INVALID_EXPIRATION
        if breach := check_size(terms, minimums):
            yield breach.message
        if order.post_only and crosses:
            yield POST_ONLY_CROSSES
        if breach := check_notional(terms, minimums):
            yield breach.message
        if not self._affordable(entry, terms.marketable):
            yield NOT_ENOUGH_BALANCE

    def _affordable(self, entry: _Order, marketable: bool) -> bool:
        order = entry.spec
        if order.side is Side.SELL:
            return self.available_shares(order.owner, order.token_id) >= order.size
        # Notional plus fee per share rises with the price, so the limit price bounds the cost of any fill.
        fee = taker_fee(order.size, order.price, entry.market.fee_schedule) if marketable else ZERO
        return self.available_collateral(order.owner) >= order.size * order.price + fee

    @staticmethod
    def _crosses(book: PairBook, side: Side, price: Decimal) -> bool:
        return venue_rules.crosses(side, price, best_bid=book.best(Side.BUY), best_ask=book.best(Side.SELL))

    def _execute(
        self,
        book: PairBook,
        taker: _Taker,
        size: Decimal,
        now_ms: int,
        report: _Report,
        *,
        limit: Decimal | None = None,
    ) -> list[Trade]:
        """Walk the book for a taker; returns the taker's trades if it is one of our orders."""
        if taker.order is not None:
            limit = taker.order.spec.price
        assert limit is not None
        side, canonical_limit = to_canonical(taker.outcome, taker.side, limit)
        matches = book.take(side, canonical_limit, size)
        token_id = book.token_of(taker.outcome)
        taker_trades: list[Trade] = []
        for level_price, level in _by_price(matches):
            _, price = to_canonical(taker.outcome, side, level_price)
            filled = sum((m.size for m in level), ZERO)
            report.events.append(
                TradePrint(ts_ms=now_ms, token_id=token_id, price=price, size=filled, side=taker.side)
            )
            self._last_trades[token_id] = (price, taker.side)
            if taker.order is not None:
                taker_trades.append(
                    self._fill(
                        taker.order,
                        price,
                        filled,
                        liquidity=Liquidity.TAKER,
                        taker_order_id=taker.order_id,
                        now_ms=now_ms,
                        report=report,
                    )
                )
            for match in level:
                maker = self._orders.get(match.order_id) if match.order_id else None
                if maker is not None:
                    self._fill(
                        maker,
                        maker.spec.price,
                        match.size,
                        liquidity=Liquidity.MAKER,
                        taker_order_id=taker.order_id,
                        now_ms=now_ms,
                        report=report,
                    )
                    report.orders.append(maker.view())
        return taker_trades

    def _fill(
        self,
        order: _Order,
        price: Decimal,
        size: Decimal,
        *,
        liquidity: Liquidity,
        taker_order_id: str,
        now_ms: int,
        report: _Report,
    ) -> Trade:
        """Book one execution of our order: account, order progress, trade record and its settlement."""
        spec = order.spec
        fee = fee_for(size, price, order.market.fee_schedule, is_taker=liquidity is Liquidity.TAKER)
        account = self._account(spec.owner)
        held = account.positions.get(spec.token_id, ZERO)
        if spec.side is Side.BUY:
            account.collateral -= size * price + fee
            account.positions[spec.token_id] = held + size
        else:
            account.collateral += size * price - fee
            account.positions[spec.token_id] = held - size
        order.size_matched += size
        trade = Trade(
            trade_id=self._new_trade_id(),
            order_id=spec.order_id,
            owner=spec.owner,
            market=order.market.condition_id,
            token_id=spec.token_id,
            outcome=order.outcome,
            side=spec.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            status=TradeStatus.MATCHED,
            match_ms=now_ms,
            updated_ms=now_ms,
            taker_order_id=taker_order_id,
        )
        order.trade_ids.append(trade.trade_id)
        if not order.remaining:
            self._close(order, VenueOrderStatus.MATCHED, None)
        self._trades[trade.trade_id] = trade
        for delay, status in (
            (self._delays.mined_ms, TradeStatus.MINED),
            (self._delays.confirmed_ms, TradeStatus.CONFIRMED),
        ):
            heapq.heappush(self._progress, (now_ms + delay, next(self._ids), trade.trade_id, status))
        report.trades.append(trade)
        return trade

    def _refuse(self, order: SimOrder, error: str, report: _Report, now_ms: int) -> SubmitResult:
        return SubmitResult(order.order_id, False, error, None, report=self._finish(report, now_ms))

    def _cancel_open(self, order: _Order, reason: CancelReason, report: _Report) -> None:
        assert order.level is not None
        self._books[order.market.condition_id].remove_order(*order.level, order.spec.order_id)
        self._dirty[order.market.condition_id] = None
        self._close(order, VenueOrderStatus.CANCELED, reason)
        report.orders.append(order.view())

    def _close(self, order: _Order, status: VenueOrderStatus, reason: CancelReason | None) -> None:
        order.status = status
        order.cancel_reason = reason
        self._open.pop(order.spec.order_id, None)

    def _begin(self, now_ms: int) -> _Report:
        if self._now_ms is not None and now_ms < self._now_ms:
            raise ValueError(f"time went backwards: {now_ms} < {self._now_ms}")
        self._now_ms = now_ms
        report = _Report()
        while self._expiries and self._expiries[0][0] <= now_ms:
            _, _, order_id = heapq.heappop(self._expiries)
            expired = self._open.get(order_id)
            if expired is not None:
                self._cancel_open(expired, CancelReason.EXPIRED, report)
        while self._releases and self._releases[0][0] <= now_ms:
            _, _, order_id = heapq.heappop(self._releases)
            released = self._delayed.pop(order_id, None)
            if released is not None:
                released.status = VenueOrderStatus.LIVE
                self._match(released, now_ms, report)
        while self._progress and self._progress[0][0] <= now_ms:
            due_ms, _, trade_id, status = heapq.heappop(self._progress)
            trade = replace(self._trades[trade_id], status=status, updated_ms=due_ms)
            self._trades[trade_id] = trade
            report.trades.append(trade)
        return report

    def _finish(self, report: _Report, now_ms: int, condition_id: str | None = None) -> EngineReport:
        if condition_id is not None:
            self._dirty[condition_id] = None
        for dirty in self._dirty:
            report.events.extend(self._books[dirty].drain_deltas(now_ms))
        self._dirty.clear()
        return report.freeze()

    def _account(self, owner: str) -> _Account:
        return self._accounts.setdefault(owner, _Account())

    def _open_of(self, owner: str) -> list[_Order]:
        return [o for o in self._open.values() if o.spec.owner == owner]

    def _delayed_of(self, owner: str) -> list[_Order]:
        return [o for o in self._delayed.values() if o.spec.owner == owner]

    def _digest(self, kind: str) -> bytes:
        return hashlib.blake2b(f"{self._seed}:{kind}:{next(self._ids)}".encode(), digest_size=32).digest()

    def _new_trade_id(self) -> str:
        return str(uuid.UUID(bytes=self._digest("trade")[:16]))

    def _new_order_id(self) -> str:
        return "0x" + self._digest("order").hex()


def merge_reports(reports: Iterable[EngineReport]) -> EngineReport:
    """Several reports as one, in order."""
    events: list[MarketEvent] = []
    orders: list[OrderView] = []
    trades: list[Trade] = []
    for report in reports:
        events.extend(report.market_events)
        orders.extend(report.orders)
        trades.extend(report.trades)
    return EngineReport(tuple(events), tuple(orders), tuple(trades))


def flip_outcome(outcome: Outcome) -> Outcome:
    return Outcome.DOWN if outcome is Outcome.UP else Outcome.UP


def _selected(market: str, token_id: str, condition_id: str | None, wanted_token: str | None) -> bool:
    return (condition_id is None or market == condition_id) and (
        wanted_token is None or token_id == wanted_token
    )


def _by_price(matches: list[Match]) -> list[tuple[Decimal, list[Match]]]:
    groups: dict[Decimal, list[Match]] = {}
    for match in matches:
        groups.setdefault(match.price, []).append(match)
    return list(groups.items())
