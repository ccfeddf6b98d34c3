"""One token's order book as the agent sees it, kept from snapshots and level changes.

Shared by the feature state (best prices, depth, imbalance) and the paper executor (walking the depth), so
both see the same book. Prices and sizes stay Decimal: paper fills are money.
"""

from __future__ import annotations

from decimal import Decimal

from core.events import BookDelta, BookSnapshot, Side

ZERO = Decimal(0)


class TokenBook:
    """Levels per side as {price: total size}; the best price of each side is cached."""

    __slots__ = ("asks", "best_ask", "best_bid", "bids", "tick", "token_id", "updated_ms")

    def __init__(self, token_id: str, tick: Decimal = Decimal("0.01")) -> None:
        self.token_id = token_id
        self.tick = tick
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.best_bid: Decimal | None = None
        self.best_ask: Decimal | None = None
        self.updated_ms = 0

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        self.bids = {level.price: level.size for level in snapshot.bids if level.size > 0}
        self.asks = {level.price: level.size for level in snapshot.asks if level.size > 0}
        self.best_bid = max(self.bids) if self.bids else None
        self.best_ask = min(self.asks) if self.asks else None
        if snapshot.tick_size is not None:
            self.tick = snapshot.tick_size
        self.updated_ms = snapshot.ts_ms

    def apply_delta(self, delta: BookDelta) -> None:
        """A level's new total size; 0 removes it. The cached best is rescanned only when it left."""
        price, size = delta.price, delta.size
        self.updated_ms = delta.ts_ms
        if delta.side is Side.BUY:
            if size > 0:
                self.bids[price] = size
                if self.best_bid is None or price > self.best_bid:
                    self.best_bid = price
            elif self.bids.pop(price, None) is not None and price == self.best_bid:
                self.best_bid = max(self.bids) if self.bids else None
        elif size > 0:
            self.asks[price] = size
            if self.best_ask is None or price < self.best_ask:
                self.best_ask = price
        elif self.asks.pop(price, None) is not None and price == self.best_ask:
            self.best_ask = min(self.asks) if self.asks else None

    def take(self, side: Side, price: Decimal, size: Decimal) -> None:
        """Remove liquidity we consumed (a paper fill), until the venue's next update says otherwise."""
        levels = self.asks if side is Side.BUY else self.bids
        left = levels.get(price, ZERO) - size
        delta_side = Side.SELL if side is Side.BUY else Side.BUY
        self.apply_delta(
            BookDelta(
                ts_ms=self.updated_ms,
                token_id=self.token_id,
                side=delta_side,
                price=price,
                size=max(left, ZERO),
            )
        )

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    @property
    def spread(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    def depth(self, side: Side, within_ticks: int) -> Decimal:
        """Total size on one side (BUY = bids) within `within_ticks` of that side's best price."""
        if side is Side.BUY:
            if self.best_bid is None:
                return ZERO
            floor = self.best_bid - self.tick * within_ticks
            return sum((size for price, size in self.bids.items() if price >= floor), ZERO)
        if self.best_ask is None:
            return ZERO
        ceiling = self.best_ask + self.tick * within_ticks
        return sum((size for price, size in self.asks.items() if price <= ceiling), ZERO)

    def walk(self, side: Side, limit: Decimal, size: Decimal) -> list[tuple[Decimal, Decimal]]:
        """What a marketable order of `side` up to `limit` would take, best price first: (price, size)."""
        if side is Side.BUY:
            prices = sorted(price for price in self.asks if price <= limit)
            levels = self.asks
        else:
            prices = sorted((price for price in self.bids if price >= limit), reverse=True)
            levels = self.bids
        taken: list[tuple[Decimal, Decimal]] = []
        left = size
        for price in prices:
            if left <= 0:
                break
            part = min(left, levels[price])
            taken.append((price, part))
            left -= part
        return taken
