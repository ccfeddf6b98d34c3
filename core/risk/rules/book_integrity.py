"""Book integrity: never trade on a book the feed cannot vouch for. A token's book is unsynchronised from a
reconnect, a silence or a lasting crossing until the venue's next snapshot; crossed or locked (best bid at or
above best ask) it is no market at all, whatever its sync state. Both books of the round are checked: the
decision priced one outcome against the other's book too."""

from __future__ import annotations

from core.events import Outcome
from core.execution.base import OrderIntent
from core.risk.context import RiskContext
from core.risk.limits import RiskLimits
from core.risk.rules.base import Refusal, Rule
from core.risk.verdict import ReasonCode

SHORT_DESC = (
    "Refuses orders while either token's book is unsynchronised (awaiting a snapshot), crossed or locked."
)


def check(intent: OrderIntent, ctx: RiskContext, limits: RiskLimits) -> Refusal | None:
    for outcome in (intent.outcome, *(o for o in Outcome if o is not intent.outcome)):
        book = ctx.features.book(outcome)
        if not book.synced:
            return Refusal(
                ReasonCode.BOOK_UNSYNCED,
                f"{outcome.value} book is not synchronised ({book.desync_reason}); waiting for a snapshot",
                {"outcome": outcome.value, "why": book.desync_reason},
            )
        if book.crossed:
            return Refusal(
                ReasonCode.BOOK_CROSSED,
                f"{outcome.value} book is crossed or locked: bid {book.best_bid} >= ask {book.best_ask}",
                {"outcome": outcome.value, "best_bid": str(book.best_bid), "best_ask": str(book.best_ask)},
            )
    return None


RULE = Rule("book_integrity", SHORT_DESC, check)
