"""The CLOB's public market-data answers besides `/book` (frames.MarketChannel.book): `/midpoint`, `/price`,
`/spread`, `/last-trade-price` and `/markets/{condition_id}`, shaped as Polymarket shapes them
(../shared/reference/polymarket.md section 7; the official SDKs' parsers, py-sdk `_internal/actions/clob.py`;
a captured `/markets` answer, samples/nautilus_trader/later_commits/clob_market_response.json).

Prices are the venue's strings; `/markets` sends JSON numbers where the venue does. An empty side of the book
counts as 0 (bids) or 1 (asks), as in the market channel's `best_bid_ask`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.events import BookSnapshot, Outcome, Side
from core.money import ONE, ZERO
from core.sim.frames import plain
from core.sim.markets import TAGS, SimMarket, description, title

NO_ORDERBOOK = "No orderbook exists for the requested token id"
NO_TRADE_PRICE = Decimal("0.5")
"""`/last-trade-price` of a token that never traded, as documented (with an empty side)."""


def best_bid(snapshot: BookSnapshot) -> Decimal:
    return max((level.price for level in snapshot.bids), default=ZERO)


def best_ask(snapshot: BookSnapshot) -> Decimal:
    return min((level.price for level in snapshot.asks), default=ONE)


def midpoint(snapshot: BookSnapshot) -> str:
    return plain((best_bid(snapshot) + best_ask(snapshot)) / 2)


def price(snapshot: BookSnapshot, side: Side) -> str:
    """`/price`: the best bid for BUY, the best ask for SELL, as documented."""
    return plain(best_bid(snapshot) if side is Side.BUY else best_ask(snapshot))


def spread(snapshot: BookSnapshot) -> str:
    return plain(best_ask(snapshot) - best_bid(snapshot))


def last_trade(last: tuple[Decimal, Side] | None) -> dict[str, str]:
    """`/last-trade-price`: the latest trade's price and taker side; "0.5" and "" before any trade."""
    if last is None:
        return {"price": plain(NO_TRADE_PRICE), "side": ""}
    return {"price": plain(last[0]), "side": last[1].value}


def market_json(
    market: SimMarket, *, now: datetime, tick_size: Decimal, up_price: Decimal, winner: Outcome | None
) -> dict[str, Any]:
    """`/markets/{condition_id}`: the CLOB's own description of a market (not Gamma's)."""
    round_ = market.round
    closed = winner is not None
    prices = {Outcome.UP: up_price, Outcome.DOWN: ONE - up_price}
    return {
        "enable_order_book": True,
        "active": True,
        "closed": closed,
        "archived": False,
        "accepting_orders": not closed and now < round_.close,
        "accepting_order_timestamp": _iso(round_.open - timedelta(days=1)),
        "minimum_order_size": int(market.min_order_size),
        "minimum_tick_size": float(tick_size),
        "condition_id": market.condition_id,
        "question_id": market.question_id,
        "question": title(round_),
        "description": description(market),
        "market_slug": market.slug,
        "end_date_iso": _iso(round_.close),
        "game_start_time": None,
        "seconds_delay": 0,
        "fpmm": "",
        "maker_base_fee": 1000,
        "taker_base_fee": 1000,
        "notifications_enabled": True,
        "neg_risk": False,
        "neg_risk_market_id": "",
        "neg_risk_request_id": "",
        "icon": "",
        "image": "",
        "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
        "is_50_50_outcome": False,
        "tokens": [
            {
                "token_id": market.token_of(outcome),
                "outcome": outcome.value.capitalize(),
                "price": float(prices[outcome]),
                "winner": winner is outcome,
            }
            for outcome in (Outcome.UP, Outcome.DOWN)
        ],
        "tags": list(TAGS),
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
