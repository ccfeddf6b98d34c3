"""The simulated venue's order book of one market, kept once for both outcome tokens.

Up and Down are complements: a bid for Up at p is an offer of Down at 1 - p. So there is one canonical book
in Up prices, and the Down book is its mirror (Down bids = 1 - Up asks, Down asks = 1 - Up bids); the two
can never disagree. Each price level is a FIFO queue of entries tagged with their owner: the market maker's
volume is held as plain entries, ours as orders, so price-time priority between them falls out of the queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from core.events import BookDelta, BookSnapshot, Level, Outcome, Side
from core.money import ONE, ZERO

MARKET_MAKER = "sim-market-maker"
"""Owner of the market-maker model's liquidity."""


def flip(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


def to_canonical(outcome: Outcome, side: Side, price: Decimal) -> tuple[Side, Decimal]:
    """An order on either token as an order on the canonical (Up) book; the mapping is its own inverse."""
    if outcome is Outcome.UP:
        return side, price
    return flip(side), ONE - price


@dataclass(slots=True, eq=False)
class Entry:
    """Volume queued at one price: an order of ours (`order_id` set) or market-maker volume."""

    owner: str
    remaining: Decimal
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A taker consumed `size` of one entry at the canonical `price`."""

    price: Decimal
    size: Decimal
    owner: str
    order_id: str | None


class PairBook:
    """Canonical book of one market; `side` below is a canonical side: BUY = Up bids, SELL = Up asks."""

    def __init__(self, up_token_id: str, down_token_id: str, tick_size: Decimal) -> None:
        self.up_token_id = up_token_id
        self.down_token_id = down_token_id
        self.tick_size = tick_size
        self._levels: dict[Side, dict[Decimal, deque[Entry]]] = {Side.BUY: {}, Side.SELL: {}}
        self._touched: dict[tuple[Side, Decimal], None] = {}
        self._published: dict[tuple[Side, Decimal], Decimal] = {}

    def outcome_of(self, token_id: str) -> Outcome:
        if token_id == self.up_token_id:
            return Outcome.UP
        if token_id == self.down_token_id:
            return Outcome.DOWN
        raise KeyError(f"token {token_id} is not in this market")

    def token_of(self, outcome: Outcome) -> str:
        return self.up_token_id if outcome is Outcome.UP else self.down_token_id

    def prices(self, side: Side) -> list[Decimal]:
        """Non-empty canonical levels, best first."""
        return sorted(self._levels[side], reverse=side is Side.BUY)

    def best(self, side: Side) -> Decimal | None:
        levels = self._levels[side]
        if not levels:
            return None
        return max(levels) if side is Side.BUY else min(levels)

    def total(self, side: Side, price: Decimal) -> Decimal:
        return sum((entry.remaining for entry in self._levels[side].get(price, ())), ZERO)

    def depth(self, side: Side) -> Decimal:
        return sum((self.total(side, price) for price in self._levels[side]), ZERO)

    def owner_total(self, owner: str, side: Side, price: Decimal) -> Decimal:
        """`owner`'s plain volume (not orders) at a level."""
        entries = self._levels[side].get(price, ())
        return sum((e.remaining for e in entries if e.owner == owner and e.order_id is None), ZERO)

    def owner_prices(self, owner: str, side: Side) -> list[Decimal]:
        """Levels holding plain volume of `owner`."""
        return [
            price
            for price, queue in self._levels[side].items()
            if any(e.owner == owner and e.order_id is None for e in queue)
        ]

    def best_excluding(self, owner: str, side: Side) -> Decimal | None:
        """The best level holding volume of anyone but `owner`."""
        for price in self.prices(side):
            if any(entry.owner != owner for entry in self._levels[side][price]):
                return price
        return None

    def add(self, side: Side, price: Decimal, entry: Entry) -> None:
        """Queue an entry at the back of its level (it is behind everything already there)."""
        self._levels[side].setdefault(price, deque()).append(entry)
        self._touch(side, price)

    def remove_order(self, side: Side, price: Decimal, order_id: str) -> Decimal:
        """Take an order out of the book; returns what was left of it (0 if it was not there)."""
        queue = self._levels[side].get(price)
        if queue is None:
            return ZERO
        for entry in queue:
            if entry.order_id == order_id:
                queue.remove(entry)
                self._drop_if_empty(side, price)
                self._touch(side, price)
                return entry.remaining
        return ZERO

    def set_owner_total(self, owner: str, side: Side, price: Decimal, size: Decimal) -> None:
        """Make `owner`'s plain volume at a level `size`: growth queues at the back, cuts come off the back."""
        current = self.owner_total(owner, side, price)
        if size > current:
            self.add(side, price, Entry(owner, size - current))
            return
        cut = current - size
        queue = self._levels[side].get(price)
        if queue is None or not cut:
            return
        for entry in reversed(list(queue)):
            if not cut:
                break
            if entry.owner == owner and entry.order_id is None:
                taken = min(cut, entry.remaining)
                entry.remaining -= taken
                cut -= taken
                if not entry.remaining:
                    queue.remove(entry)
        self._drop_if_empty(side, price)
        self._touch(side, price)

    def fillable(self, taker_side: Side, limit: Decimal, size: Decimal) -> Decimal:
        """How much of `size` a canonical taker with this limit could fill now."""
        available = ZERO
        for price in self._crossing(taker_side, limit):
            available += self.total(flip(taker_side), price)
            if available >= size:
                return size
        return available

    def take(self, taker_side: Side, limit: Decimal, size: Decimal) -> list[Match]:
        """Fill a canonical taker against resting volume: best price first, then first come first served."""
        matches: list[Match] = []
        maker_side = flip(taker_side)
        for price in self._crossing(taker_side, limit):
            queue = self._levels[maker_side][price]
            while queue and size:
                entry = queue[0]
                taken = min(size, entry.remaining)
                entry.remaining -= taken
                size -= taken
                matches.append(Match(price, taken, entry.owner, entry.order_id))
                if not entry.remaining:
                    queue.popleft()
            self._drop_if_empty(maker_side, price)
            self._touch(maker_side, price)
            if not size:
                break
        return matches

    def _crossing(self, taker_side: Side, limit: Decimal) -> list[Decimal]:
        maker_side = flip(taker_side)
        if taker_side is Side.BUY:
            return [price for price in self.prices(maker_side) if price <= limit]
        return [price for price in self.prices(maker_side) if price >= limit]

    def snapshot(self, token_id: str, ts_ms: int) -> BookSnapshot:
        """The book as one token sees it, best level first on both sides."""
        up_bids = [Level(price, self.total(Side.BUY, price)) for price in self.prices(Side.BUY)]
        up_asks = [Level(price, self.total(Side.SELL, price)) for price in self.prices(Side.SELL)]
        if self.outcome_of(token_id) is Outcome.UP:
            bids, asks = up_bids, up_asks
        else:
            bids = [Level(ONE - level.price, level.size) for level in up_asks]
            asks = [Level(ONE - level.price, level.size) for level in up_bids]
        return BookSnapshot(
            ts_ms=ts_ms, token_id=token_id, bids=tuple(bids), asks=tuple(asks), tick_size=self.tick_size
        )

    def drain_deltas(self, ts_ms: int) -> list[BookDelta]:
        """New totals of the levels changed since the last drain, for both tokens (0 = level gone)."""
        deltas: list[BookDelta] = []
        for side, price in self._touched:
            size = self.total(side, price)
            if size == self._published.get((side, price), ZERO):
                continue
            if size:
                self._published[(side, price)] = size
            else:
                del self._published[(side, price)]
            deltas.append(
                BookDelta(ts_ms=ts_ms, token_id=self.up_token_id, side=side, price=price, size=size)
            )
            deltas.append(
                BookDelta(
                    ts_ms=ts_ms, token_id=self.down_token_id, side=flip(side), price=ONE - price, size=size
                )
            )
        self._touched.clear()
        return deltas

    def _touch(self, side: Side, price: Decimal) -> None:
        self._touched[(side, price)] = None

    def _drop_if_empty(self, side: Side, price: Decimal) -> None:
        queue = self._levels[side].get(price)
        if queue is not None and not queue:
            del self._levels[side][price]
