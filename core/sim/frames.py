"""Turning what the simulated venue does into the frames Polymarket sends, with the adapters' own wire
structs (core.adapters.polymarket.wire), so the venue and the agent agree on the protocol by construction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

import msgspec

from core.adapters.polymarket import wire
from core.events import BookDelta, BookSnapshot, Liquidity, TradePrint
from core.sim.markets import SimMarket
from core.sim.matching import MarketEvent, OrderView, Trade, VenueOrderStatus

MARKET_MAKER_OWNER = "00000000-0000-4000-8000-00000000a11e"
MARKET_MAKER_ADDRESS = "0x00000000000000000000000000000000000a11ce"

_USER_STATUS = {
    VenueOrderStatus.LIVE: "LIVE",
    VenueOrderStatus.MATCHED: "MATCHED",
    VenueOrderStatus.DELAYED: "DELAYED",
    VenueOrderStatus.UNMATCHED: "UNMATCHED",
    VenueOrderStatus.CANCELED: "CANCELED",
}


def number(value: Decimal) -> str:
    return wire.wire_number(value)


def book_frame(market: SimMarket, snapshot: BookSnapshot) -> wire.BookMessage:
    return wire.book_message(
        market=market.condition_id,
        asset_id=snapshot.token_id,
        timestamp_ms=snapshot.ts_ms,
        bids=[(level.price, level.size) for level in snapshot.bids],
        asks=[(level.price, level.size) for level in snapshot.asks],
        tick_size=market.tick_size,
        hash=_hash(snapshot.token_id, snapshot.ts_ms),
    )


def market_frames(
    events: Iterable[MarketEvent], market_of: Callable[[str], SimMarket | None]
) -> list[tuple[str, bytes]]:
    """(token id, frame) pairs: level changes grouped per market into `price_change`, trades as prints."""
    changes: dict[str, list[BookDelta]] = defaultdict(list)
    frames: list[tuple[str, bytes]] = []
    for event in events:
        market = market_of(event.token_id)
        if market is None:
            continue
        if isinstance(event, BookDelta):
            changes[market.condition_id].append(event)
        elif isinstance(event, TradePrint):
            frames.append((event.token_id, _last_trade(market, event)))
    for condition_id, deltas in changes.items():
        frame = wire.encode_price_change(
            market=condition_id,
            timestamp_ms=deltas[-1].ts_ms,
            changes=[wire.price_change_entry(d.token_id, d.side, d.price, d.size) for d in deltas],
        )
        for token_id in {delta.token_id for delta in deltas}:
            frames.append((token_id, frame))
    return frames


def resolved_frame(market: SimMarket, winning_token_id: str, winning_outcome: str, ts_ms: int) -> bytes:
    return wire.encode(
        wire.MarketResolvedMessage(
            id=market.condition_id[2:14],
            market=market.condition_id,
            assets_ids=[market.up_token_id, market.down_token_id],
            winning_asset_id=winning_token_id,
            winning_outcome=winning_outcome.capitalize(),
            timestamp=str(ts_ms),
        )
    )


def order_json(order: OrderView, market: SimMarket, address: str) -> dict[str, object]:
    """An order as `/data/order` and `/data/orders` return it."""
    return {
        "id": order.order_id,
        "status": _USER_STATUS[order.status],
        "owner": order.owner,
        "maker_address": address,
        "market": order.market,
        "asset_id": order.token_id,
        "side": order.side.value,
        "original_size": number(order.original_size),
        "size_matched": number(order.size_matched),
        "price": number(order.price),
        "outcome": order.outcome.value.capitalize(),
        "order_type": order.order_type.value,
        "expiration": str(order.expiration_ms // 1000) if order.expiration_ms else "0",
        "associate_trades": list(order.trade_ids),
        "created_at": order.created_ms // 1000,
    }


def order_frame(order: OrderView, address: str, ts_ms: int) -> bytes:
    """A user-channel `order` event."""
    kind = (
        "CANCELLATION"
        if order.status is VenueOrderStatus.CANCELED
        else "UPDATE"
        if order.size_matched
        else "PLACEMENT"
    )
    return wire.encode(
        wire.OrderMessage(
            id=order.order_id,
            owner=order.owner,
            market=order.market,
            asset_id=order.token_id,
            side=order.side,
            original_size=number(order.original_size),
            size_matched=number(order.size_matched),
            price=number(order.price),
            associate_trades=list(order.trade_ids),
            outcome=order.outcome.value.capitalize(),
            type=kind,
            created_at=str(order.created_ms // 1000),
            expiration=str(order.expiration_ms // 1000) if order.expiration_ms else "0",
            order_type=order.order_type.value,
            status=_USER_STATUS[order.status],
            maker_address=address,
            order_owner=order.owner,
            timestamp=str(ts_ms),
        )
    )


def trade_json(trade: Trade, fee_rate_bps: int, address: str) -> dict[str, object]:
    """A trade as `/data/trades` returns it and the user channel sends it."""
    ours_is_taker = trade.liquidity is Liquidity.TAKER
    our_entry = {
        "order_id": trade.order_id,
        "owner": trade.owner,
        "maker_address": address,
        "matched_amount": number(trade.size),
        "price": number(trade.price),
        "fee_rate_bps": "0",
        "asset_id": trade.token_id,
        "outcome": trade.outcome.value.capitalize(),
        "side": trade.side.value,
    }
    counterparty = {
        **our_entry,
        "order_id": "0x" + hashlib.sha256(f"mm:{trade.trade_id}".encode()).hexdigest(),
        "owner": MARKET_MAKER_OWNER,
        "maker_address": MARKET_MAKER_ADDRESS,
        "side": "SELL" if trade.side.value == "BUY" else "BUY",
    }
    settled = trade.status.value in ("MINED", "CONFIRMED")
    return {
        "id": trade.trade_id,
        "taker_order_id": trade.order_id if ours_is_taker else trade.taker_order_id,
        "market": trade.market,
        "asset_id": trade.token_id,
        "side": trade.side.value,
        "size": number(trade.size),
        "fee_rate_bps": str(fee_rate_bps if ours_is_taker else 0),
        "price": number(trade.price),
        "status": trade.status.value,
        "match_time": str(trade.match_ms // 1000),
        "last_update": str(trade.updated_ms // 1000),
        "outcome": trade.outcome.value.capitalize(),
        "bucket_index": 0,
        "owner": trade.owner,
        "trade_owner": trade.owner,
        "maker_address": address,
        "transaction_hash": "0x" + hashlib.sha256(trade.trade_id.encode()).hexdigest() if settled else "",
        "maker_orders": [counterparty] if ours_is_taker else [our_entry],
        "trader_side": "TAKER" if ours_is_taker else "MAKER",
        "type": "TRADE",
        "timestamp": str(trade.updated_ms),
    }


def trade_frame(trade: Trade, fee_rate_bps: int, address: str) -> bytes:
    body = {"event_type": "trade", **trade_json(trade, fee_rate_bps, address)}
    return wire.encode(msgspec.convert(body, wire.TradeMessage))


def _last_trade(market: SimMarket, trade: TradePrint) -> bytes:
    return wire.encode_last_trade_price(
        market=market.condition_id,
        asset_id=trade.token_id,
        timestamp_ms=trade.ts_ms,
        price=trade.price,
        size=trade.size,
        side=trade.side,
        fee_rate_bps=int(market.fee_schedule.rate * 10_000),
    )


def _hash(token_id: str, ts_ms: int) -> str:
    return "0x" + hashlib.sha256(f"{token_id}:{ts_ms}".encode()).hexdigest()[:40]
