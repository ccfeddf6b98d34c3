"""One token's order book as the agent sees it, kept from snapshots and level changes.

Shared by the feature state (best prices, depth, imbalance) and the paper executor (walking the depth), so
both see the same book. Prices and sizes stay Decimal: paper fills are money.
"""

from __future__ import annotations

from decimal import Decimal

from core.events import BookDelta, BookSnapshot, Side

ZERO = Decimal(0)


class TokenBook:
    """Levels per side as {price: total size}; the best price of each side is cached.

    Integrity: the book is `synced` only from a snapshot on. It loses that when the feed says so (`reset`:
    a reconnect, a silence, a resync), when it stays crossed or locked past the frame that made it so
    (one frame's changes may cross it for an instant; the venue never rests a crossed book), or when a
    change states best prices that are not ours. Deltas are still applied to an unsynced book; only a
    snapshot makes it trusted again."""

    __slots__ = (
        "_crossed_ms",
        "asks",
        "best_ask",
        "best_bid",
        "bids",
        "desync_reason",
        "synced",
        "tick",
        "token_id",
        "updated_ms",
    )

    def __init__(self, token_id: str, tick: Decimal = Decimal("0.01")) -> None:
        self.token_id = token_id
        self.tick = tick
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.best_bid: Decimal | None = None
        self.best_ask: Decimal | None = None
        self.updated_ms = 0
        self.synced = False
        self.desync_reason: str | None = "no_snapshot"
        self._crossed_ms: int | None = None

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        self.bids = {level.price: level.size for level in snapshot.bids if level.size > 0}
        self.asks = {level.price: level.size for level in snapshot.asks if level.size > 0}
        self.best_bid = max(self.bids) if self.bids else None
        self.best_ask = min(self.asks) if self.asks else None
        if snapshot.tick_size is not None:
            self.tick = snapshot.tick_size
        self.updated_ms = snapshot.ts_ms
        self._crossed_ms = snapshot.ts_ms if self.crossed else None
        self.synced = self._crossed_ms is None
        self.desync_reason = None if self.synced else "crossed"

    def reset(self, reason: str) -> None:
        """Untrusted until the next snapshot; the levels stay, for display and for paper's depth."""
        if self.synced:
            self.synced = False
            self.desync_reason = reason

    @property
    def crossed(self) -> bool:
        """Crossed or locked: the best bid at or above the best ask."""
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask

    def apply_delta(self, delta: BookDelta) -> None:
        """A level's new total size; 0 removes it. The cached best is rescanned only when it left."""
        price, size = delta.price, delta.size
        ts = self.updated_ms = delta.ts_ms
        crossed_ms = self._crossed_ms
        if crossed_ms is not None and ts > crossed_ms:
            self.reset("crossed")  # the crossing outlived the frame that made it
        self._apply_level(delta.side, price, size)
        if self.best_bid is not None and self.best_ask is not None and self.best_bid >= self.best_ask:
            if crossed_ms is None or ts > crossed_ms:
                self._crossed_ms = ts
        else:
            self._crossed_ms = None
        if (delta.best_bid is not None and delta.best_bid != self.best_bid) or (
            delta.best_ask is not None and delta.best_ask != self.best_ask
        ):
            self.reset("mismatch")  # the venue's best prices are not ours: we missed something

    def _apply_level(self, side: Side, price: Decimal, size: Decimal) -> None:
        if side is Side.BUY:
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
