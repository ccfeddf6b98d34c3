"""Hand-built engine inputs for feature and strategy tests: a round, its tokens, Chainlink ticks, books."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from core.engine.features import FeatureState
from core.events import BookSnapshot, Level, PriceSource, PriceTick
from core.market.rounds import Round
from core.market.settlement import SettlementSource

ROUND = Round(open_s=1_780_000_200)
UP_TOKEN = "up-token"
DOWN_TOKEN = "down-token"
OPEN_MS = ROUND.open_ms
CLOSE_MS = ROUND.close_ms


def make_state(source: SettlementSource = SettlementSource.CHAINLINK_SPOT, **kwargs: Any) -> FeatureState:
    return FeatureState(ROUND, UP_TOKEN, DOWN_TOKEN, source, **kwargs)


def tick(
    ts_ms: int,
    price: float | str,
    *,
    stamp_ms: int | None = None,
    source: PriceSource = PriceSource.CHAINLINK,
) -> PriceTick:
    """A price observed at `ts_ms`, stamped by its feed at `stamp_ms` (default: the same instant)."""
    return PriceTick(
        ts_ms=ts_ms,
        source=source,
        price=Decimal(str(price)),
        source_ts_ms=ts_ms if stamp_ms is None else stamp_ms,
    )


def per_second(start_ms: int, prices: Iterable[float]) -> list[PriceTick]:
    """One Chainlink report per second from `start_ms`, stamped on the second, like the real feed."""
    return [tick(start_ms + i * 1000, f"{price:.8f}") for i, price in enumerate(prices)]


def book(
    token_id: str, ts_ms: int, *, bids: Sequence[tuple[str, str]] = (), asks: Sequence[tuple[str, str]] = ()
) -> BookSnapshot:
    return BookSnapshot(
        ts_ms=ts_ms,
        token_id=token_id,
        bids=tuple(Level(Decimal(price), Decimal(size)) for price, size in bids),
        asks=tuple(Level(Decimal(price), Decimal(size)) for price, size in asks),
    )


def quotes(ts_ms: int, *, up_ask: str, down_ask: str, size: str = "100") -> list[BookSnapshot]:
    """Both books with one ask each and a bid one cent below it."""
    return [
        book(token, ts_ms, bids=[(str(Decimal(ask) - Decimal("0.01")), size)], asks=[(ask, size)])
        for token, ask in ((UP_TOKEN, up_ask), (DOWN_TOKEN, down_ask))
    ]


def feed(state: FeatureState, events: Iterable[Any]) -> FeatureState:
    for event in events:
        state.apply(event)
    return state
