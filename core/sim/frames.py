"""Turning what the simulated venue does into the frames Polymarket sends, with the adapters' own wire
structs (core.adapters.polymarket.wire), so the venue and the agent agree on the protocol by construction.

The market channel (`MarketChannel`) follows the real one: each `price_change` carries both tokens' level
changes once, every entry with the token's `best_bid`, `best_ask` and book `hash` after the frame; a trade
is followed by both tokens' whole `book`; a tick change by `tick_size_change`; and, for subscriptions with
the custom features, `best_bid_ask` when a token's top of book moves, `new_market` when a round is listed
and `market_resolved` at its resolution. Numbers are written as the venue writes them: "0.5", not "0.50".

The book hash is the one py-clob-client-v2 computes (`generate_orderbook_summary_hash`), which reproduces
the hash of a book the real market channel sent in 2026-08 (samples/.../ws_book_snapshot_captured.json):
sha1 of the compact JSON of {market, asset_id, timestamp, hash: "", bids, asks, min_order_size, tick_size,
neg_risk, last_trade_price}, strings as sent, levels in the frame's order (see `book_hash`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from core.adapters.polymarket import wire
from core.events import BookDelta, BookSnapshot, Level, Liquidity, Outcome, TradePrint
from core.sim.markets import TAGS, SimMarket, description, title
from core.sim.matching import MarketEvent, MatchingEngine, OrderView, Trade, VenueOrderStatus
from core.sim.ws_app import Outgoing, Subscriber

MARKET_MAKER_OWNER = "00000000-0000-4000-8000-00000000a11e"
MARKET_MAKER_ADDRESS = "0x00000000000000000000000000000000000a11ce"
LAST_TRADE_QUANTUM = Decimal("0.001")
NO_BID, NO_ASK = Decimal(0), Decimal(1)

_USER_STATUS = {
    VenueOrderStatus.LIVE: "LIVE",
    VenueOrderStatus.MATCHED: "MATCHED",
    VenueOrderStatus.DELAYED: "DELAYED",
    VenueOrderStatus.UNMATCHED: "UNMATCHED",
    VenueOrderStatus.CANCELED: "CANCELED",
}


def number(value: Decimal) -> str:
    return wire.wire_number(value)


def plain(value: Decimal) -> str:
    """A number as the market channel writes it: no exponent, no trailing zeros ("0.5", "200")."""
    return wire.wire_number(value.normalize())


def last_trade_text(price: Decimal | None) -> str:
    """A book's `last_trade_price`: three decimals as captured ("0.920"), empty before the first trade."""
    return "" if price is None else wire.wire_number(price.quantize(LAST_TRADE_QUANTUM))


def book_hash(book: wire.BookMessage, *, min_order_size: str, neg_risk: bool = False) -> str:
    """The content hash of a book summary: sha1 of its compact JSON with `hash` empty, in this key order.

    `min_order_size` and `neg_risk` count although the market channel's `book` does not carry them (the
    REST /book does); a client holding the market's rules and the book can recompute it."""
    payload = {
        "market": book.market,
        "asset_id": book.asset_id,
        "timestamp": book.timestamp,
        "hash": "",
        "bids": [{"price": level.price, "size": level.size} for level in book.bids],
        "asks": [{"price": level.price, "size": level.size} for level in book.asks],
        "min_order_size": min_order_size,
        "tick_size": book.tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": book.last_trade_price,
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def book_frame(
    market: SimMarket, snapshot: BookSnapshot, tick_size: Decimal, last_trade: Decimal | None
) -> wire.BookMessage:
    """A token's `book` as captured: bids ascending and asks descending (best level last), with its hash."""
    summary = wire.BookMessage(
        market=market.condition_id,
        asset_id=snapshot.token_id,
        timestamp=str(snapshot.ts_ms),
        bids=_levels(reversed(snapshot.bids)),
        asks=_levels(reversed(snapshot.asks)),
        tick_size=plain(tick_size),
        last_trade_price=last_trade_text(last_trade),
    )
    return msgspec.structs.replace(
        summary, hash=book_hash(summary, min_order_size=plain(market.min_order_size))
    )


def _levels(levels: Iterable[Level]) -> list[wire.OrderSummary]:
    return [wire.OrderSummary(plain(level.price), plain(level.size)) for level in levels]


def _top(snapshot: BookSnapshot) -> tuple[Decimal, Decimal]:
    """Best bid and ask, 0 and 1 standing for an empty side (as in the venue's documented example)."""
    bid = snapshot.bids[0].price if snapshot.bids else NO_BID
    ask = snapshot.asks[0].price if snapshot.asks else NO_ASK
    return bid, ask


@dataclass(slots=True)
class _Batch:
    """One market's share of a report: its level changes and its trades, in order."""

    market: SimMarket
    deltas: list[BookDelta] = field(default_factory=list)
    prints: list[TradePrint] = field(default_factory=list)


class MarketChannel:
    """What the market channel says about the venue's markets (books, ticks and last trades are the matching
    engine's), and what it must remember to say it: the tick each market last announced, and the top of
    book each token last reported (for `best_bid_ask`)."""

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine
        self._markets: dict[str, SimMarket] = {}
        self._by_token: dict[str, SimMarket] = {}
        self._announced_tick: dict[str, Decimal] = {}
        self._top: dict[str, tuple[Decimal, Decimal]] = {}

    def listed(self, market: SimMarket, now_ms: int) -> Outgoing:
        """A round's market is listed (and in the engine): remember it, and announce it (`new_market`)."""
        self._markets[market.condition_id] = market
        self._announced_tick[market.condition_id] = self._engine.tick_size(market.condition_id)
        for token in market.token_ids:
            self._by_token[token] = market
        return Outgoing(_new_market(market, now_ms).decode(), keys=None, custom=True)

    def book(self, token_id: str, now_ms: int) -> wire.BookMessage:
        return self._book(self._by_token[token_id], self._engine.book_snapshot(token_id, now_ms))

    def _book(self, market: SimMarket, snapshot: BookSnapshot) -> wire.BookMessage:
        last = self._engine.last_trade(snapshot.token_id)
        tick = self._engine.tick_size(market.condition_id)
        return book_frame(market, snapshot, tick, None if last is None else last[0])

    def books(self, token_ids: Iterable[str], now_ms: int) -> str | None:
        """The `book` of every known token, as one array frame (what a subscription is answered with)."""
        books = [self.book(token, now_ms) for token in token_ids if token in self._by_token]
        return wire.encode(books).decode() if books else None

    def frames(self, events: Sequence[MarketEvent], now_ms: int) -> list[Outgoing]:
        """The frames an engine report makes: tick changes, trade prints, one `price_change` per market, the
        books the trades changed, and the tops of book that moved."""
        out = self._tick_changes(now_ms)
        batches: dict[str, _Batch] = {}
        for event in events:
            market = self._by_token.get(event.token_id)
            if market is None:
                continue
            batch = batches.setdefault(market.condition_id, _Batch(market))
            if isinstance(event, BookDelta):
                batch.deltas.append(event)
            elif isinstance(event, TradePrint):
                batch.prints.append(event)
        for batch in batches.values():
            out.extend(self._market_frames(batch, now_ms))
        return out

    def resolved(
        self, market: SimMarket, winning_token_id: str, winning_outcome: Outcome, ts_ms: int
    ) -> Outgoing:
        """`market_resolved` (custom feature); the market's tick is settled too, no longer watched."""
        self._markets.pop(market.condition_id, None)
        self._announced_tick.pop(market.condition_id, None)
        frame = wire.MarketResolvedMessage(
            id=market.gamma_id,
            market=market.condition_id,
            assets_ids=list(market.token_ids),
            winning_asset_id=winning_token_id,
            winning_outcome=winning_outcome.value.capitalize(),
            timestamp=str(ts_ms),
            tags=list(TAGS),
        )
        return Outgoing(wire.encode(frame).decode(), keys=frozenset(market.token_ids), custom=True)

    def _tick_changes(self, now_ms: int) -> list[Outgoing]:
        out = []
        for condition_id, market in self._markets.items():
            old, new = self._announced_tick[condition_id], self._engine.tick_size(condition_id)
            if new == old:
                continue
            self._announced_tick[condition_id] = new
            for token in market.token_ids:
                frame = wire.TickSizeChangeMessage(
                    market=condition_id,
                    asset_id=token,
                    old_tick_size=plain(old),
                    new_tick_size=plain(new),
                    timestamp=str(now_ms),
                )
                out.append(Outgoing(wire.encode(frame).decode(), keys=frozenset((token,))))
        return out

    def _market_frames(self, batch: _Batch, now_ms: int) -> list[Outgoing]:
        market = batch.market
        out = []
        for trade in batch.prints:
            out.append(Outgoing(_last_trade(market, trade).decode(), keys=frozenset((trade.token_id,))))
        ts_ms = batch.deltas[-1].ts_ms if batch.deltas else now_ms
        snapshots = {token: self._engine.book_snapshot(token, ts_ms) for token in market.token_ids}
        books = {token: self._book(market, snapshot) for token, snapshot in snapshots.items()}
        if batch.deltas:
            frame = wire.encode_price_change(
                market=market.condition_id,
                timestamp_ms=ts_ms,
                changes=[
                    _entry(delta, snapshots[delta.token_id], books[delta.token_id]) for delta in batch.deltas
                ],
            )
            out.append(Outgoing(frame.decode(), keys=frozenset(market.token_ids)))
        if batch.prints:
            out.extend(
                Outgoing(wire.encode(book).decode(), keys=frozenset((token,)))
                for token, book in books.items()
            )
        for token, snapshot in snapshots.items():
            top = _top(snapshot)
            if self._top.get(token) != top:
                self._top[token] = top
                frame = _best_bid_ask(market, token, top, ts_ms)
                out.append(Outgoing(frame.decode(), keys=frozenset((token,)), custom=True))
        return out


def _entry(delta: BookDelta, after: BookSnapshot, book: wire.BookMessage) -> wire.PriceChangeEntry:
    """A level's new total, with the token's top of book and book hash once the whole frame is applied."""
    best_bid, best_ask = _top(after)
    return wire.price_change_entry(
        delta.token_id,
        delta.side,
        delta.price.normalize(),
        delta.size.normalize(),
        best_bid=best_bid.normalize(),
        best_ask=best_ask.normalize(),
        hash=book.hash,
    )


def _best_bid_ask(market: SimMarket, token_id: str, top: tuple[Decimal, Decimal], ts_ms: int) -> bytes:
    bid, ask = top
    return wire.encode(
        wire.BestBidAskMessage(
            market=market.condition_id,
            asset_id=token_id,
            best_bid=plain(bid),
            best_ask=plain(ask),
            spread=plain(ask - bid),
            timestamp=str(ts_ms),
        )
    )


def _new_market(market: SimMarket, ts_ms: int) -> bytes:
    """`new_market` in the captured shape; the sports-only fields, empty here, are not in the wire struct."""
    question, rules = title(market.round), description(market)
    schedule = market.fee_schedule
    message = wire.NewMarketMessage(
        id=market.gamma_id,
        question=question,
        market=market.condition_id,
        slug=market.slug,
        description=rules,
        assets_ids=list(market.token_ids),
        outcomes=["Up", "Down"],
        event_message=wire.EventMessage(
            id=market.event_id, ticker=market.slug, slug=market.slug, title=question, description=rules
        ),
        timestamp=str(ts_ms),
        tags=list(TAGS),
        condition_id=market.condition_id,
        active=True,
        clob_token_ids=list(market.token_ids),
        order_price_min_tick_size=plain(market.tick_size),
        group_item_title="",
        taker_base_fee=1000,
        fees_enabled=True,
        fee_schedule=wire.FeeScheduleMessage(
            exponent=schedule.exponent,
            rate=float(schedule.rate),
            takerOnly=schedule.taker_only,
            rebateRate=float(schedule.rebate_rate),
        ),
    )
    body: dict[str, object] = {}
    for key, value in msgspec.to_builtins(message).items():
        if key == "order_price_min_tick_size":
            body.update(sports_market_type="", line="", game_start_time="")
        body[key] = value
    return msgspec.json.encode(body)


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


def rtds_update(
    topic: str, symbol: str, price: Decimal, *, source_ts_ms: int, sent_ms: int
) -> Callable[[Subscriber], str]:
    """An RTDS `update` as each connection gets it: its envelope names the connection (`connection_id`)."""

    def frame(subscriber: Subscriber) -> str:
        return wire.encode_rtds_price(
            topic=topic,
            symbol=symbol,
            price=price,
            source_ts_ms=source_ts_ms,
            sent_ms=sent_ms,
            connection_id=subscriber.connection_id,
        ).decode()

    return frame


def _last_trade(market: SimMarket, trade: TradePrint) -> bytes:
    return wire.encode_last_trade_price(
        market=market.condition_id,
        asset_id=trade.token_id,
        timestamp_ms=trade.ts_ms,
        price=trade.price.normalize(),
        size=trade.size.normalize(),
        side=trade.side,
        fee_rate_bps=int(market.fee_schedule.rate * 10_000),
    )
