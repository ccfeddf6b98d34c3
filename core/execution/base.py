"""The executor's contract: order intents in, venue-shaped order updates and fills out.

Paper and live executors are interchangeable behind it; the engine records what they report exactly the
same way, so a paper fill and a live fill look alike in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from core.errors import ErrorCategory
from core.events import Event, Fill, OrderType, OrderUpdate, Outcome, Side
from core.market.venue_rules import OrderTerms
from core.risk.verdict import RiskVerdict


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the engine wants to place; it reaches an executor only inside an `ApprovedOrder`."""

    order_id: str
    round_slug: str
    token_id: str
    outcome: Outcome
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType
    decision_id: str | None
    strategy: str | None
    post_only: bool = False
    expires_ms: int | None = None

    @property
    def never_rests(self) -> bool:
        """FOK and FAK: what does not fill on arrival is cancelled."""
        return self.order_type in (OrderType.FOK, OrderType.FAK)

    def terms(self, *, crosses: bool) -> OrderTerms:
        """The order as the venue's rules read it; `crosses`: the book reaches its price on arrival."""
        return OrderTerms(self.order_id, self.side, self.price, self.size, self.order_type, crosses=crosses)


@dataclass(frozen=True, slots=True)
class ApprovedOrder:
    """An intent with the passing verdict that approved it: the only thing an executor accepts."""

    intent: OrderIntent
    verdict: RiskVerdict

    def __post_init__(self) -> None:
        if not self.verdict.approved or self.verdict.order_id != self.intent.order_id:
            raise ValueError(
                f"order {self.intent.order_id} has no passing verdict of its own "
                f"(verdict {self.verdict.verdict_id}: {self.verdict.reason})"
            )


ExecutionEvent = OrderUpdate | Fill


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """A failed submit or cancel, as a value: the engine counts bursts of these for the kill switch."""

    order_id: str
    category: ErrorCategory
    reason: str
    message: str


class Executor(Protocol):
    """Paper or live. Calls never block on the network inside the engine: live work happens off-thread and
    its results come back as events through `poll`."""

    @property
    def mode(self) -> str: ...

    def submit(self, order: ApprovedOrder, now_ms: int) -> list[ExecutionEvent | ExecutionError]: ...

    def cancel(self, order_id: str, now_ms: int) -> list[ExecutionEvent | ExecutionError]: ...

    def cancel_all(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]: ...

    def observe(self, event: Event) -> list[ExecutionEvent | ExecutionError]:
        """Market data as it arrives: a paper executor fills resting orders the market trades through."""
        ...

    def poll(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        """Everything that happened since the last call (delayed paper fills, live user-channel events)."""
        ...
