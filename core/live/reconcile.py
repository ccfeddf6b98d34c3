"""A resumed live round squares the store with the venue before it trades, and trusts the venue.

`trust_the_venue` asks the live session to reconcile (cancel what an earlier attempt left resting, read
the venue's trades of the market), then records what it found: each cancelled order of ours as an order
event, each trade the store lacked as a fill (the store then holds what the venue holds), and each
difference as a risk event (`kind="reconcile"`, `reason_code="venue_store_mismatch"`, one line saying what
differed). The history the round resumes from is the venue's: fills the venue lacks are dropped, the ones
the store lacked are added. Differences are logged at WARNING in an operator's words; agreement in one
INFO line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine

from core.clock import ms_to_datetime
from core.engine.engine import RecordSink
from core.events import Fill, OrderStatus
from core.ids import IdFactory
from core.live.recovery import RoundHistory, venue_order_ids
from core.store.models import FillRecord, OrderEventRecord, RiskEventRecord, utc_now

if TYPE_CHECKING:
    from core.live.venue_session import LiveVenueSession, Reconciliation

Logger = logging.Logger | logging.LoggerAdapter[Any]
T = TypeVar("T")

KIND = "reconcile"
MISMATCH = "venue_store_mismatch"
_SHOWN = 5
_MESSAGE_MAX = 500


async def trust_the_venue(
    session: LiveVenueSession,
    store: Engine,
    history: RoundHistory,
    sink: RecordSink,
    *,
    slug: str,
    mode: str,
    attempt: int,
    logger: Logger,
) -> RoundHistory:
    """Reconcile a resumed round with the venue; the history to resume from, as the venue has it."""
    found = await session.reconcile(history, venue_order_ids(store, slug, mode))
    return apply_reconciliation(
        found, history, sink, slug=slug, mode=mode, attempt=attempt, logger=logger, now=utc_now()
    )


def apply_reconciliation(
    found: Reconciliation,
    history: RoundHistory,
    sink: RecordSink,
    *,
    slug: str,
    mode: str,
    attempt: int,
    logger: Logger,
    now: datetime,
) -> RoundHistory:
    """Record what `found` says (cancels, the fills the store lacked, one risk event per difference),
    log it, and return `history` with the venue's fills."""
    ids = IdFactory(f"{mode}:{slug}:reconcile:attempt-{attempt}")
    outcomes = {order.order_id: order.outcome for order in history.orders}

    def risk(difference: str, message: str, fill: Fill | None = None, **extra: str) -> None:
        details: dict[str, Any] = {"difference": difference, "attempt": attempt, **extra}
        if fill is not None:
            details |= _fill_details(fill)
        sink.put(
            RiskEventRecord(
                id=ids.next("risk_event"),
                round_slug=slug,
                run_id=mode,
                ts=now,
                kind=KIND,
                approved=False,
                reason_code=MISMATCH,
                message=message[:_MESSAGE_MAX],
                order_id=fill.order_id if fill is not None and fill.order_id in outcomes else None,
                details=details,
            )
        )

    for venue_id, order_id in found.cancelled.items():
        if order_id is not None:
            sink.put(
                OrderEventRecord(
                    id=ids.next("order_event"),
                    order_id=order_id,
                    ts=now,
                    status=OrderStatus.CANCELED.value,
                    filled_size=Decimal(0),
                    venue_order_id=venue_id,
                    reason="cancelled on resume: an earlier attempt left it resting",
                )
            )
    for fill in found.missing_fills:
        sink.put(
            FillRecord(
                id=ids.next("fill"),
                order_id=fill.order_id,
                round_slug=slug,
                run_id=mode,
                ts=ms_to_datetime(fill.ts_ms),
                trade_id=fill.trade_id,
                token_id=fill.token_id,
                outcome=outcomes[fill.order_id].value,
                side=fill.side.value,
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
                liquidity=fill.liquidity.value,
                status=fill.status.value,
                mode=mode,
            )
        )
        risk(
            "missing_fill",
            f"the venue has trade {fill.trade_id} of order {fill.order_id} ({_trade(fill)}) that the "
            "store lacked; booked as the venue has it",
            fill,
        )
    for fill in found.unconfirmed_fills:
        risk(
            "unconfirmed_fill",
            f"the store has fill {fill.trade_id} of order {fill.order_id} ({_trade(fill)}) that the venue "
            "does not list; no longer counted",
            fill,
        )
    for fill in found.unknown_trades:
        risk(
            "unknown_trade",
            f"the venue has trade {fill.trade_id} of venue order {fill.order_id} ({_trade(fill)}, token "
            f"{fill.token_id}) that no order of this round names; not booked",
            fill,
            venue_order_id=fill.order_id,
        )
    for trade_id in found.unreadable_trades:
        risk(
            "unreadable_trade", f"the venue lists trade {trade_id} that could not be read", trade_id=trade_id
        )

    _log(found, history, slug, logger)
    unconfirmed = {(fill.trade_id, fill.order_id) for fill in found.unconfirmed_fills}
    kept = tuple(fill for fill in history.fills if (fill.trade_id, fill.order_id) not in unconfirmed)
    return replace(history, fills=kept + found.missing_fills)


def _log(found: Reconciliation, history: RoundHistory, slug: str, logger: Logger) -> None:
    cancelled = (
        f"; cancelled {_count(len(found.cancelled), 'order')} an earlier attempt left resting "
        f"({_listed(found.cancelled, lambda venue_id: found.cancelled[venue_id] or venue_id)})"
        if found.cancelled
        else ""
    )
    if found.agrees:
        logger.info(
            "%s: venue and store agree on this round's %s%s",
            slug,
            _count(len(history.fills), "fill"),
            cancelled,
        )
        return
    if found.cancelled:
        logger.info("%s: reconciling with the venue%s", slug, cancelled)
    if found.missing_fills:
        logger.warning(
            "%s: the venue has %s of this round the store lacked (%s); trusting the venue: booked as "
            "the venue has them, and recorded",
            slug,
            _count(len(found.missing_fills), "trade"),
            _listed(found.missing_fills, _named),
        )
    if found.unconfirmed_fills:
        logger.warning(
            "%s: the store has %s of this round the venue does not list (%s); trusting the venue: not "
            "counted toward the position",
            slug,
            _count(len(found.unconfirmed_fills), "fill"),
            _listed(found.unconfirmed_fills, _named),
        )
    if found.unknown_trades:
        logger.warning(
            "%s: the venue has %s of ours on this market for orders no record of this round names (%s); "
            "not booked: check the wallet's position at the venue",
            slug,
            _count(len(found.unknown_trades), "trade"),
            _listed(found.unknown_trades, _named),
        )
    if found.unreadable_trades:
        logger.warning(
            "%s: %s the venue lists could not be read (%s); check them at the venue",
            slug,
            _count(len(found.unreadable_trades), "trade"),
            _listed(found.unreadable_trades, str),
        )


def _fill_details(fill: Fill) -> dict[str, str]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "liquidity": fill.liquidity.value,
        "status": fill.status.value,
    }


def _trade(fill: Fill) -> str:
    return f"{fill.side.value} {fill.size} @ {fill.price}, fee {fill.fee}"


def _named(fill: Fill) -> str:
    return f"trade {fill.trade_id} of order {fill.order_id}: {_trade(fill)}"


def _listed(items: Collection[T], name: Callable[[T], str]) -> str:
    shown = [name(item) for item in list(items)[:_SHOWN]]
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


__all__ = ["apply_reconciliation", "trust_the_venue"]
