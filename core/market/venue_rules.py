"""The venue's order rules, in one place for everyone who checks them: the risk rule, the paper executor,
the order port's pre-check and the simulated venue, so paper and the venue refuse the same orders.

- price: on the market's tick grid, within [tick, 1 - tick];
- size: positive and finite; a resting order type (GTC, GTD) at least the market's minimum (5 shares);
- notional: a marketable BUY worth at least $1, where marketable is FOK/FAK, or a GTC/GTD that crosses the
  book on arrival (its taking part is a market order to the venue).
Messages are the venue's own words (../shared/reference/polymarket.md section 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from core.events import OrderType, Side
from core.money import ONE, ZERO

RESTING_TYPES = frozenset({OrderType.GTC, OrderType.GTD})


class Breach(StrEnum):
    """Which rule an order breaks; the values are the reason codes executors and the order port report."""

    TICK_GRID = "tick_grid"
    SIZE = "size"
    MIN_SIZE = "min_size"
    MIN_NOTIONAL = "min_notional"


@dataclass(frozen=True, slots=True)
class VenueMinimums:
    """A market's minimums, as Gamma publishes them (`orderMinSize`) and the venue enforces them."""

    min_order_size: Decimal = Decimal(5)
    """Smallest GTC/GTD order, in shares."""
    min_marketable_buy: Decimal = ONE
    """Smallest marketable BUY, in collateral."""


UP_DOWN_MINIMUMS = VenueMinimums()
"""The minimums of Polymarket's crypto Up/Down markets."""


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What the rules read of an order. `crosses`: the book's opposite side reaches its price on arrival."""

    order_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType
    crosses: bool = False

    @property
    def resting(self) -> bool:
        return self.order_type in RESTING_TYPES

    @property
    def marketable(self) -> bool:
        return self.crosses or not self.resting


@dataclass(frozen=True, slots=True)
class RuleBreach:
    """A refusal: the rule, the venue's message, and JSON-safe details (Decimals as strings)."""

    breach: Breach
    message: str
    details: dict[str, str] = field(default_factory=dict)


def crosses(side: Side, price: Decimal, *, best_bid: Decimal | None, best_ask: Decimal | None) -> bool:
    """Whether an order at `price` would trade on arrival against a book with this best bid and ask."""
    if not price.is_finite():
        return False  # refused for its price anyway; a NaN must not reach a comparison
    if side is Side.BUY:
        return best_ask is not None and best_ask <= price
    return best_bid is not None and best_bid >= price


def on_grid(price: Decimal, tick: Decimal) -> bool:
    return price.is_finite() and tick <= price <= ONE - tick and price % tick == ZERO


def check_price(order: OrderTerms, tick: Decimal) -> RuleBreach | None:
    if on_grid(order.price, tick):
        return None
    return RuleBreach(
        Breach.TICK_GRID,
        tick_error(order.order_id, order.price, tick),
        {"price": str(order.price), "tick": str(tick)},
    )


def check_size(order: OrderTerms, minimums: VenueMinimums) -> RuleBreach | None:
    size, minimum = order.size, minimums.min_order_size
    if not (size.is_finite() and size > ZERO):
        return RuleBreach(Breach.SIZE, size_error(order.order_id, size, minimum), {"size": str(size)})
    if order.resting and size < minimum:
        return RuleBreach(
            Breach.MIN_SIZE,
            size_error(order.order_id, size, minimum),
            {"size": str(size), "min_order_size": str(minimum)},
        )
    return None


def check_notional(order: OrderTerms, minimums: VenueMinimums) -> RuleBreach | None:
    """Run after `check_size`: the size is then positive and finite."""
    notional, minimum = order.size * order.price, minimums.min_marketable_buy
    if order.side is Side.BUY and order.marketable and notional < minimum:
        return RuleBreach(
            Breach.MIN_NOTIONAL,
            min_buy_error(notional, minimum),
            {"notional": str(notional), "min_notional": str(minimum)},
        )
    return None


def check(order: OrderTerms, tick: Decimal, minimums: VenueMinimums) -> RuleBreach | None:
    """The first rule the order breaks, in the venue's order (price, size, notional); None if it passes."""
    return check_price(order, tick) or check_size(order, minimums) or check_notional(order, minimums)


def tick_error(order_id: str, price: Decimal, tick: Decimal) -> str:
    return f"order {order_id} is invalid. Price ({price}) breaks minimum tick size rule: {tick}"


def size_error(order_id: str, size: Decimal, minimum: Decimal) -> str:
    return f"order {order_id} is invalid. Size ({size}) lower than the minimum: {minimum}"


def min_buy_error(amount: Decimal, minimum: Decimal) -> str:
    return f"invalid amount for a marketable BUY order (${_plain(amount)}), min size: ${_plain(minimum)}"


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value.is_finite() else str(value)
