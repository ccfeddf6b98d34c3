"""The user channel's frames into OrderUpdates and Fills of our own orders.

Orders are keyed by our client order id, looked up from the venue's id in a mapping the order manager keeps
(the venue id itself when it is not there, e.g. an order placed before a restart). A trade yields one Fill per
order of ours in it: the taker order when `trader_side` is TAKER, else each maker order that carries our API
key or a venue id we know. Fees are computed from the market's fee schedule, as the venue charges them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from core.adapters.polymarket import wire
from core.adapters.polymarket.parse import (
    ZERO,
    FrameParser,
    Handler,
    Malformed,
    price,
    size,
    timestamp_ms,
)
from core.events import Fill, Liquidity, OrderStatus, OrderUpdate, Side, TradeStatus
from core.market.fees import FeeSchedule, fee_for

UserEvent = OrderUpdate | Fill

_TRADE_STATUSES = {status.value: status for status in TradeStatus} | {
    # Matched, transaction not yet broadcast: for the books, a match.
    "MATCHED_NOT_BROADCASTED": TradeStatus.MATCHED,
}
_STILL_OPEN = frozenset(
    {OrderStatus.PENDING, OrderStatus.LIVE, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN}
)
_MARKETABLE_ONLY = frozenset({"FOK", "FAK"})
_OPPOSITE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}


def order_status(
    status: str, event: str, order_type: str | None, filled: Decimal, original: Decimal
) -> tuple[OrderStatus, str | None]:
    """The agent's view of a venue order status, and the venue's words when they say more than the status."""
    venue, cancellation = status.strip().upper(), event.strip().upper() == "CANCELLATION"
    mapped: OrderStatus
    reason: str | None = status
    if venue == "LIVE":
        mapped, reason = (OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.LIVE), None
    elif venue == "MATCHED":
        mapped, reason = (OrderStatus.FILLED if filled >= original else OrderStatus.PARTIALLY_FILLED), None
    elif venue == "DELAYED":
        mapped = OrderStatus.PENDING
    elif venue == "UNMATCHED":
        # Marketable but not matched: a FOK/FAK is then dead; a resting order was placed all the same.
        mapped = OrderStatus.CANCELED if (order_type or "").upper() in _MARKETABLE_ONLY else OrderStatus.LIVE
    elif venue.startswith(("CANCELED", "CANCELLED")):
        mapped = OrderStatus.EXPIRED if "EXPIRED" in venue else OrderStatus.CANCELED
    elif venue == "INVALID":
        # The venue cancels resting orders this way too (e.g. at a market's resolution).
        mapped = OrderStatus.CANCELED if cancellation else OrderStatus.REJECTED
    else:
        mapped = OrderStatus.UNKNOWN
    if cancellation and mapped in _STILL_OPEN:
        mapped, reason = OrderStatus.CANCELED, status
    return mapped, reason


def trade_status(status: str) -> TradeStatus:
    """`TRADE_STATUS_CONFIRMED` and `CONFIRMED` alike; an unknown status makes the frame malformed."""
    venue = status.strip().upper().removeprefix("TRADE_STATUS_")
    try:
        return _TRADE_STATUSES[venue]
    except KeyError:
        raise Malformed("unknown_trade_status", f"trade status {status!r}") from None


class UserParser(FrameParser[UserEvent]):
    """Parses our user-channel frames.

    `client_ids` maps venue order ids to ours and is read at each frame, so the order manager can keep adding
    to it; `api_key` tells our maker orders from others' in a trade.
    """

    def __init__(
        self, *, api_key: str, fee_schedule: FeeSchedule, client_ids: Mapping[str, str] | None = None
    ) -> None:
        handlers: dict[type, Handler[UserEvent]] = {
            wire.OrderMessage: self._order,
            wire.TradeMessage: self._trade,
        }
        super().__init__("polymarket user channel", wire.UserFrame, handlers)
        self.api_key = api_key
        self.fee_schedule = fee_schedule
        self.client_ids: Mapping[str, str] = {} if client_ids is None else client_ids

    def trade_fills(self, trade: Mapping[str, Any], default_ms: int) -> list[Fill]:
        """The Fills of our orders in one trade as `GET /data/trades` lists it (the user channel's shape,
        without `event_type`), stamped at its match time (`default_ms` when it has none). Malformed when
        the venue's trade cannot be read."""
        try:
            msg = msgspec.convert(dict(trade), wire.TradeMessage)
        except msgspec.ValidationError as exc:
            raise Malformed("bad_trade", str(exc)) from None
        out: list[UserEvent] = []
        try:
            ts_ms = default_ms if msg.match_time is None else timestamp_ms(msg.match_time)
            self._trade(msg, ts_ms, out)
        except ArithmeticError as exc:  # a NaN compared, or an exponent beyond the context's range
            raise Malformed("bad_number", repr(exc)) from None
        return [event for event in out if isinstance(event, Fill)]

    def _order(self, msg: wire.OrderMessage, recv_ms: int, out: list[UserEvent]) -> None:
        # A killed order has been seen with an empty `size_matched`.
        filled = ZERO if msg.size_matched == "" else size(msg.size_matched)
        status, reason = order_status(msg.status, msg.type, msg.order_type, filled, size(msg.original_size))
        out.append(
            OrderUpdate(
                order_id=self.client_ids.get(msg.id, msg.id),
                status=status,
                filled_size=filled,
                venue_order_id=msg.id,
                reason=reason,
                ts_ms=recv_ms,
            )
        )

    def _trade(self, msg: wire.TradeMessage, recv_ms: int, out: list[UserEvent]) -> None:
        status = trade_status(msg.status)
        if msg.trader_side == "TAKER":
            out.append(
                self._fill(
                    msg,
                    status,
                    recv_ms,
                    venue_order_id=msg.taker_order_id,
                    token_id=msg.asset_id,
                    side=msg.side,
                    fill_price=msg.price,
                    fill_size=msg.size,
                )
            )
            return
        ours = len(out)
        for maker in msg.maker_orders:
            if maker.owner != self.api_key and maker.order_id not in self.client_ids:
                continue
            # Frames before late 2025 lack the maker's side: against the same token a maker takes the other
            # side; against the complementary token (a mint or merge) the same side.
            side = maker.side or (_OPPOSITE[msg.side] if maker.asset_id == msg.asset_id else msg.side)
            out.append(
                self._fill(
                    msg,
                    status,
                    recv_ms,
                    venue_order_id=maker.order_id,
                    token_id=maker.asset_id,
                    side=side,
                    fill_price=maker.price,
                    fill_size=maker.matched_amount,
                )
            )
        if len(out) == ours:
            raise Malformed("unattributed", "a maker trade with no maker order of ours")

    def _fill(
        self,
        msg: wire.TradeMessage,
        status: TradeStatus,
        recv_ms: int,
        *,
        venue_order_id: str,
        token_id: str,
        side: Side,
        fill_price: wire.Num,
        fill_size: wire.Num,
    ) -> Fill:
        exact_price, exact_size = price(fill_price), size(fill_size)
        taker = msg.trader_side == "TAKER"
        return Fill(
            order_id=self.client_ids.get(venue_order_id, venue_order_id),
            trade_id=msg.id,
            token_id=token_id,
            side=side,
            price=exact_price,
            size=exact_size,
            fee=fee_for(exact_size, exact_price, self.fee_schedule, is_taker=taker),
            liquidity=Liquidity.TAKER if taker else Liquidity.MAKER,
            status=status,
            ts_ms=recv_ms,
        )
