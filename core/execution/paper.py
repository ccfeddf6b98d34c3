"""Paper execution: our orders filled against the live book, with depth, fees and latency.

The executor reads the very TokenBooks the feature state keeps. Marketable orders (FOK, FAK, and the crossing
part of a GTC/GTD) walk the book up to their limit at each level's price and remove what they take, so a
second order cannot fill against the same shares until the venue's next update restores them. Resting orders
never enter the shared book, since the real market cannot see them.

Resting-fill rule. Our queue position is unknown beyond what the book showed, so the rule is conservative:
- on placement the order joins the back of its level: `ahead` = the size then visible on our side at our price;
- only a TradePrint on the same token whose taker is on the other side counts. Book deltas never move us up
  the queue: a delta cannot tell a cancel from a fill, and prints and deltas arrive in no fixed order, so
  crediting both would count one trade twice;
- a print at our price first uses up `ahead`; only what is left of it fills us;
- a print strictly through our price (a SELL below our bid, a BUY above our ask) cleared our level: `ahead`
  drops to 0 and the print fills us up to its size;
- one print is shared out over the orders of ours it reaches, best price first, then first placed, so it never
  fills more than its size. Maker fills are at our own price and pay the maker fee (0 when taker-only).

Time. Every event carries the execution instant as `ts_ms`: a delayed submit or cancel runs at `now +
latency` on the first `poll`/`observe`/`submit`/`cancel` at or after it, against the books as they are then.
Call `observe(event)` before the event is applied to the books, so delayed orders see the book of their instant.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import count

from core.errors import ErrorCategory
from core.events import (
    Event,
    Fill,
    Liquidity,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TradePrint,
    TradeStatus,
)
from core.execution.base import ApprovedOrder, ExecutionError, ExecutionEvent, OrderIntent
from core.market import venue_rules
from core.market.book import TokenBook
from core.market.fees import FeeSchedule, fee_for, taker_fee
from core.market.venue_rules import UP_DOWN_MINIMUMS, OrderTerms, RuleBreach, VenueMinimums
from core.money import ZERO

Results = list[ExecutionEvent | ExecutionError]


class Reason(StrEnum):
    """Reason codes on OrderUpdates and ExecutionErrors (the venue's own words go in the error's message)."""

    MARKET_NOT_FOUND = "market_not_found"
    DUPLICATE = "duplicate"
    TICK_GRID = "tick_grid"
    SIZE = "size"
    MIN_SIZE = "min_size"
    MIN_NOTIONAL = "min_notional"
    POST_ONLY = "post_only"
    POST_ONLY_CROSSES = "post_only_crosses"
    INVALID_EXPIRATION = "invalid_expiration"
    NOT_ENOUGH_BALANCE = "not_enough_balance"
    FOK_UNFILLED = "fok_unfilled"
    FAK_UNFILLED = "fak_unfilled"
    UNFILLED_REMAINDER = "unfilled_remainder"
    USER = "user"
    EXPIRED = "expired"
    ORDER_NOT_FOUND = "order_not_found"
    ALREADY_CLOSED = "already_closed"


# The venue's words (../shared/reference/polymarket.md section 7), as the simulated venue also speaks them.
_MESSAGES = {
    Reason.MARKET_NOT_FOUND: "market not found",
    Reason.POST_ONLY: "invalid post-only order: only GTC and GTD orders can be post-only",
    Reason.POST_ONLY_CROSSES: "invalid post-only order: order crosses book",
    Reason.INVALID_EXPIRATION: "invalid expiration",
    Reason.NOT_ENOUGH_BALANCE: "not enough balance / allowance",
    Reason.FOK_UNFILLED: "order couldn't be fully filled. FOK orders are fully filled or killed.",
    Reason.FAK_UNFILLED: (
        "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
    ),
    Reason.ORDER_NOT_FOUND: "order not found",
    Reason.ALREADY_CLOSED: "already canceled or matched",
}


@dataclass(slots=True)
class _Order:
    """An accepted order: its fills so far and, while it rests, the visible volume queued ahead of it."""

    intent: OrderIntent
    venue_order_id: str
    filled: Decimal = ZERO
    ahead: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.intent.size - self.filled


@dataclass(frozen=True, slots=True)
class _Submit:
    order: ApprovedOrder


@dataclass(frozen=True, slots=True)
class _Cancel:
    order_id: str | None
    """None cancels every open order."""


class PaperExecutor:
    """The Executor for paper trading; `collateral`, when given, is tracked and BUYs it cannot pay refused.
    It refuses what the venue refuses (core.market.venue_rules), with the venue's words."""

    def __init__(
        self,
        books: Mapping[str, TokenBook],
        fee_schedule: FeeSchedule,
        *,
        latency_ms: int = 0,
        id_prefix: str,
        collateral: Decimal | None = None,
        minimums: VenueMinimums = UP_DOWN_MINIMUMS,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {latency_ms}")
        if collateral is not None and not (collateral.is_finite() and collateral >= 0):
            raise ValueError(f"collateral must be a non-negative amount, got {collateral}")
        self._books = books
        self._fees = fee_schedule
        self._minimums = minimums
        self._latency_ms = latency_ms
        self._prefix = id_prefix
        self._cash = collateral
        self._positions: dict[str, Decimal] = {}
        self._open: dict[str, _Order] = {}
        self._accepted: set[str] = set()
        self._actions: list[tuple[int, int, _Submit | _Cancel]] = []
        self._expiries: list[tuple[int, int, str]] = []
        self._seq = count()
        self._order_numbers = count(1)
        self._trade_numbers = count(1)

    @property
    def mode(self) -> str:
        return "paper"

    @property
    def collateral(self) -> Decimal | None:
        """Cash left, or None when collateral is not tracked."""
        return self._cash

    @property
    def available_collateral(self) -> Decimal | None:
        """Cash not promised to resting BUYs."""
        if self._cash is None:
            return None
        reserved = sum(
            (o.remaining * o.intent.price for o in self._open.values() if o.intent.side is Side.BUY), ZERO
        )
        return self._cash - reserved

    def position(self, token_id: str) -> Decimal:
        """Shares held, from our fills (tracked with or without collateral)."""
        return self._positions.get(token_id, ZERO)

    def open_order_ids(self) -> list[str]:
        """Resting orders, in the order they were placed."""
        return list(self._open)

    def submit(self, order: ApprovedOrder, now_ms: int) -> Results:
        return self._schedule(_Submit(order), now_ms)

    def cancel(self, order_id: str, now_ms: int) -> Results:
        return self._schedule(_Cancel(order_id), now_ms)

    def cancel_all(self, now_ms: int) -> Results:
        return self._schedule(_Cancel(None), now_ms)

    def observe(self, event: Event) -> Results:
        out = self._advance(event.ts_ms)
        if isinstance(event, TradePrint):
            out += self._on_print(event)
        return out

    def poll(self, now_ms: int) -> Results:
        return self._advance(now_ms)

    # --- time -------------------------------------------------------------------------------------

    def _schedule(self, action: _Submit | _Cancel, now_ms: int) -> Results:
        out = self._advance(now_ms)
        if self._latency_ms == 0:
            return out + self._run(action, now_ms)
        heapq.heappush(self._actions, (now_ms + self._latency_ms, next(self._seq), action))
        return out

    def _advance(self, now_ms: int) -> Results:
        """Run what fell due up to `now_ms`, in time order; an expiry goes before an action of its instant."""
        out: Results = []
        while True:
            expiry_ms = self._expiries[0][0] if self._expiries else None
            action_ms = self._actions[0][0] if self._actions else None
            if (
                expiry_ms is not None
                and expiry_ms <= now_ms
                and (action_ms is None or expiry_ms <= action_ms)
            ):
                _, _, order_id = heapq.heappop(self._expiries)
                out += self._expire(order_id, expiry_ms)
            elif action_ms is not None and action_ms <= now_ms:
                _, _, action = heapq.heappop(self._actions)
                out += self._run(action, action_ms)
            else:
                return out

    def _run(self, action: _Submit | _Cancel, now_ms: int) -> Results:
        if isinstance(action, _Submit):
            return self._execute(action.order.intent, now_ms)
        if action.order_id is None:
            return [
                self._close(o, OrderStatus.CANCELED, Reason.USER, now_ms) for o in list(self._open.values())
            ]
        found = self._open.get(action.order_id)
        if found is not None:
            return [self._close(found, OrderStatus.CANCELED, Reason.USER, now_ms)]
        reason = Reason.ALREADY_CLOSED if action.order_id in self._accepted else Reason.ORDER_NOT_FOUND
        return [_error(action.order_id, reason)]

    def _expire(self, order_id: str, now_ms: int) -> Results:
        found = self._open.get(order_id)
        return [] if found is None else [self._close(found, OrderStatus.EXPIRED, Reason.EXPIRED, now_ms)]

    # --- our orders -------------------------------------------------------------------------------

    def _execute(self, intent: OrderIntent, now_ms: int) -> Results:
        if intent.order_id in self._accepted:
            # No OrderUpdate: it would be read as news of the order that already holds this id.
            message = f"order {intent.order_id} is invalid. Duplicated."
            return [ExecutionError(intent.order_id, ErrorCategory.REJECTED, Reason.DUPLICATE.value, message)]
        book = self._books.get(intent.token_id)
        if book is None:
            return self._reject(intent, Reason.MARKET_NOT_FOUND, now_ms=now_ms)
        terms = intent.terms(
            crosses=venue_rules.crosses(
                intent.side, intent.price, best_bid=book.best_bid, best_ask=book.best_ask
            )
        )
        refusal = _static_refusal(intent, terms, book.tick, self._minimums, now_ms)
        plan = [] if refusal is not None else book.walk(intent.side, intent.price, intent.size)
        refusal = refusal or self._book_refusal(intent, terms, plan)
        if refusal is not None:
            return self._reject(intent, *refusal, now_ms=now_ms)
        order = _Order(intent, f"{self._prefix}-o{next(self._order_numbers)}")
        self._accepted.add(intent.order_id)
        killed = _kill_reason(intent, plan)
        if killed is not None:
            return [self._update(order, OrderStatus.CANCELED, now_ms, killed)]
        out: Results = []
        for price, size in plan:
            book.take(intent.side, price, size)
            out.append(self._fill(order, price, size, Liquidity.TAKER, now_ms))
        out.append(self._after_taking(order, book, now_ms))
        return out

    def _book_refusal(
        self, intent: OrderIntent, terms: OrderTerms, plan: list[tuple[Decimal, Decimal]]
    ) -> tuple[Reason, str | None] | None:
        """The venue's checks that depend on the book and our balance, in its order."""
        if intent.post_only and terms.crosses:
            return Reason.POST_ONLY_CROSSES, None
        if breach := venue_rules.check_notional(terms, self._minimums):
            return _breach(breach)
        if not self._affordable(intent, terms, plan):
            return Reason.NOT_ENOUGH_BALANCE, None
        return None

    def _after_taking(self, order: _Order, book: TokenBook, now_ms: int) -> OrderUpdate:
        """Done, a marketable remainder cancelled, or the remainder resting at the back of its level."""
        intent = order.intent
        if not order.remaining:
            return self._update(order, OrderStatus.FILLED, now_ms)
        if intent.never_rests:
            return self._update(order, OrderStatus.CANCELED, now_ms, Reason.UNFILLED_REMAINDER)
        own_side = book.bids if intent.side is Side.BUY else book.asks
        order.ahead = own_side.get(intent.price, ZERO)
        self._open[intent.order_id] = order
        if intent.order_type is OrderType.GTD:
            assert intent.expires_ms is not None
            heapq.heappush(self._expiries, (intent.expires_ms, next(self._seq), intent.order_id))
        status = OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.LIVE
        return self._update(order, status, now_ms)

    def _affordable(
        self, intent: OrderIntent, terms: OrderTerms, plan: list[tuple[Decimal, Decimal]]
    ) -> bool:
        if self._cash is None:
            return True
        if intent.side is Side.SELL:
            promised = sum(
                (
                    o.remaining
                    for o in self._open.values()
                    if o.intent.side is Side.SELL and o.intent.token_id == intent.token_id
                ),
                ZERO,
            )
            return self.position(intent.token_id) - promised >= intent.size
        available = self.available_collateral
        assert available is not None
        # The venue's check: the whole size at the limit, plus the taker fee when the order trades on arrival.
        fee = taker_fee(intent.size, intent.price, self._fees) if terms.marketable else ZERO
        venue_needs = intent.size * intent.price + fee
        # What this walk spends plus what a resting remainder reserves; fee flooring per level can put it a
        # hair above the venue's figure, and paper cash must never go negative.
        taken = sum((size for _, size in plan), ZERO)
        spend = sum((p * s + taker_fee(s, p, self._fees) for p, s in plan), ZERO)
        if not intent.never_rests:
            spend += (intent.size - taken) * intent.price
        return available >= max(venue_needs, spend)

    def _on_print(self, trade: TradePrint) -> Results:
        reached = [
            o
            for o in self._open.values()
            if o.intent.token_id == trade.token_id
            and o.intent.side is not trade.side
            and (
                trade.price <= o.intent.price if o.intent.side is Side.BUY else trade.price >= o.intent.price
            )
        ]
        # All reached orders are on one side; the sort is stable, so placement order breaks ties.
        reached.sort(key=lambda o: o.intent.price, reverse=trade.side is Side.SELL)
        budget = trade.size
        out: Results = []
        for order in reached:
            if order.intent.price == trade.price:
                passed = min(order.ahead, budget)
                order.ahead -= passed
                budget -= passed
            else:
                order.ahead = ZERO
            size = min(order.remaining, budget)
            if size <= 0:
                continue
            budget -= size
            out.append(self._fill(order, order.intent.price, size, Liquidity.MAKER, trade.ts_ms))
            if order.remaining:
                out.append(self._update(order, OrderStatus.PARTIALLY_FILLED, trade.ts_ms))
            else:
                del self._open[order.intent.order_id]
                out.append(self._update(order, OrderStatus.FILLED, trade.ts_ms))
        return out

    def _fill(self, order: _Order, price: Decimal, size: Decimal, liquidity: Liquidity, now_ms: int) -> Fill:
        intent = order.intent
        fee = fee_for(size, price, self._fees, is_taker=liquidity is Liquidity.TAKER)
        order.filled += size
        signed = size if intent.side is Side.BUY else -size
        self._positions[intent.token_id] = self.position(intent.token_id) + signed
        if self._cash is not None:
            self._cash -= signed * price + fee
        return Fill(
            ts_ms=now_ms,
            order_id=intent.order_id,
            trade_id=f"{self._prefix}-t{next(self._trade_numbers)}",
            token_id=intent.token_id,
            side=intent.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            status=TradeStatus.MATCHED,
        )

    def _close(self, order: _Order, status: OrderStatus, reason: Reason, now_ms: int) -> OrderUpdate:
        del self._open[order.intent.order_id]
        return self._update(order, status, now_ms, reason)

    @staticmethod
    def _update(order: _Order, status: OrderStatus, now_ms: int, reason: Reason | None = None) -> OrderUpdate:
        return OrderUpdate(
            ts_ms=now_ms,
            order_id=order.intent.order_id,
            status=status,
            filled_size=order.filled,
            venue_order_id=order.venue_order_id,
            reason=None if reason is None else reason.value,
        )

    @staticmethod
    def _reject(intent: OrderIntent, reason: Reason, message: str | None = None, *, now_ms: int) -> Results:
        update = OrderUpdate(
            ts_ms=now_ms, order_id=intent.order_id, status=OrderStatus.REJECTED, reason=reason.value
        )
        return [update, _error(intent.order_id, reason, message)]


def _error(order_id: str, reason: Reason, message: str | None = None) -> ExecutionError:
    # As the live adapter classifies it: a venue that says "not enough balance" means stop trading.
    category = ErrorCategory.FATAL if reason is Reason.NOT_ENOUGH_BALANCE else ErrorCategory.REJECTED
    return ExecutionError(order_id, category, reason.value, message or _MESSAGES[reason])


def _kill_reason(intent: OrderIntent, plan: list[tuple[Decimal, Decimal]]) -> Reason | None:
    """Why an accepted FOK/FAK dies without a fill: the book cannot fill all of a FOK, or none of a FAK."""
    if intent.order_type is OrderType.FOK and sum((size for _, size in plan), ZERO) < intent.size:
        return Reason.FOK_UNFILLED
    if intent.order_type is OrderType.FAK and not plan:
        return Reason.FAK_UNFILLED
    return None


def _static_refusal(
    intent: OrderIntent, terms: OrderTerms, tick: Decimal, minimums: VenueMinimums, now_ms: int
) -> tuple[Reason, str | None] | None:
    """The venue's checks that do not depend on the book's depth or our balance, in its order."""
    if breach := venue_rules.check_price(terms, tick):
        return _breach(breach)
    if intent.post_only and intent.never_rests:
        return Reason.POST_ONLY, None
    if intent.order_type is OrderType.GTD and (intent.expires_ms is None or intent.expires_ms <= now_ms):
        return Reason.INVALID_EXPIRATION, None
    if breach := venue_rules.check_size(terms, minimums):
        return _breach(breach)
    return None


def _breach(breach: RuleBreach) -> tuple[Reason, str]:
    return Reason(breach.breach.value), breach.message
