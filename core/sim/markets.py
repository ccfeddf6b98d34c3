"""The simulated venue's markets: one per round of its schedule, with stable ids derived from the seed,
described exactly as Gamma describes the real ones (string-encoded arrays and all).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from core.events import Outcome
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule
from core.market.rounds import Round
from core.market.settlement import TWAP_CUTOVER

COARSE_TICK = Decimal("0.01")
FINE_TICK = Decimal("0.001")
FINE_ABOVE = Decimal("0.96")
FINE_BELOW = Decimal("0.04")
TAGS = ("crypto", "bitcoin", "up-or-down")
SPOT_SOURCE = "https://data.chain.link/streams/btc-usd"
TWAP_SOURCE = "https://data.chain.link/streams/btc-usd-twap-60s-streams"
_EASTERN = ZoneInfo("America/New_York")


def tick_for(tick: Decimal, best_bid: Decimal | None, best_ask: Decimal | None) -> Decimal:
    """A market's tick given the top of its book (in either token's prices): listed at 0.01, it becomes
    0.001 once a best bid or ask is above 0.96 or below 0.04, and stays so. Every captured
    `tick_size_change` goes to a finer tick, none back; and a coarser tick would strand orders resting
    between its steps."""
    extreme = any(p is not None and not FINE_BELOW <= p <= FINE_ABOVE for p in (best_bid, best_ask))
    return min(tick, FINE_TICK) if extreme else tick


@dataclass(frozen=True, slots=True)
class SimMarket:
    """A round's market as the venue lists it. `tick_size` is the listing tick, which Gamma goes on showing;
    the live tick is the matching engine's (it follows the book, `tick_for`)."""

    round: Round
    condition_id: str
    question_id: str
    up_token_id: str
    down_token_id: str
    fee_schedule: FeeSchedule = CRYPTO_FEES_V2
    tick_size: Decimal = COARSE_TICK
    min_order_size: Decimal = Decimal(5)
    twap: bool = False

    @property
    def slug(self) -> str:
        return self.round.slug

    @property
    def gamma_id(self) -> str:
        """The market's numeric id on Gamma (also the `id` of `new_market` and `market_resolved`)."""
        return str(int(self.condition_id[2:14], 16))

    @property
    def event_id(self) -> str:
        return str(int(self.question_id[2:14], 16))

    @property
    def token_ids(self) -> tuple[str, str]:
        return self.up_token_id, self.down_token_id

    def outcome_of(self, token_id: str) -> Outcome:
        return Outcome.UP if token_id == self.up_token_id else Outcome.DOWN

    def token_of(self, outcome: Outcome) -> str:
        return self.up_token_id if outcome is Outcome.UP else self.down_token_id


def make_market(round_: Round, seed: int, *, twap: bool | None = None) -> SimMarket:
    """The market of a round: ids are hashes of (seed, slug), so every run of a seed agrees on them."""

    def digest(label: str) -> bytes:
        return hashlib.sha256(f"{seed}:{round_.slug}:{label}".encode()).digest()

    return SimMarket(
        round=round_,
        condition_id="0x" + digest("condition").hex(),
        question_id="0x" + digest("question").hex(),
        up_token_id=str(int.from_bytes(digest("up")[:32], "big")),
        down_token_id=str(int.from_bytes(digest("down")[:32], "big")),
        twap=round_.open >= TWAP_CUTOVER if twap is None else twap,
    )


def title(round_: Round) -> str:
    """`Bitcoin Up or Down - May 10, 2:30PM-2:45PM ET`: the venue titles rounds in US Eastern time."""
    start, end = round_.open.astimezone(_EASTERN), round_.close.astimezone(_EASTERN)

    def clock(at: datetime) -> str:
        return at.strftime("%I:%M%p").lstrip("0")

    return f"Bitcoin Up or Down - {start.strftime('%B')} {start.day}, {clock(start)}-{clock(end)} ET"


def description(market: SimMarket) -> str:
    """The market's rules in a sentence or two, as `new_market` carries them."""
    source = "60-second TWAP of the Chainlink BTC/USD stream" if market.twap else "Chainlink BTC/USD stream"
    return (
        'Resolves "Up" if the price of Bitcoin at the end of the window in the title is at least its price '
        f'at the start of the window, else "Down". Prices are read from the {source}.'
    )


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def gamma_market(
    market: SimMarket,
    *,
    now: datetime,
    outcome_prices: tuple[Decimal, Decimal] | None = None,
    winner: Outcome | None = None,
) -> dict[str, Any]:
    """A Gamma `market` object with the venue's real field names and encodings."""
    round_ = market.round
    closed = winner is not None
    prices = ("1", "0") if winner is Outcome.UP else ("0", "1") if winner is Outcome.DOWN else None
    if prices is None:
        up = outcome_prices[0] if outcome_prices else Decimal("0.5")
        prices = (str(up), str(Decimal(1) - up))
    duration = f"{round_.length_s // 60}m" if round_.length_s % 60 == 0 else f"{round_.length_s}s"
    market_json: dict[str, Any] = {
        "id": market.gamma_id,
        "question": title(round_),
        "conditionId": market.condition_id,
        "questionID": market.question_id,
        "slug": market.slug,
        "resolutionSource": TWAP_SOURCE if market.twap else SPOT_SOURCE,
        "startDate": _iso(round_.open - timedelta(days=1)),
        "eventStartTime": _iso(round_.open),
        "endDate": _iso(round_.close),
        "outcomes": json.dumps(["Up", "Down"]),
        "outcomePrices": json.dumps(list(prices)),
        "clobTokenIds": json.dumps([market.up_token_id, market.down_token_id]),
        "active": True,
        "closed": closed,
        "acceptingOrders": not closed and now < round_.close,
        "enableOrderBook": True,
        # The listing tick, also once the live one changed (NautilusTrader #4896: a Gamma refresh "restores
        # the old tick"); the CLOB's /tick-size and the market channel carry the live one.
        "orderPriceMinTickSize": float(market.tick_size),
        "orderMinSize": int(market.min_order_size),
        "negRisk": False,
        "feesEnabled": True,
        "feeType": "crypto_fees_v2",
        "feeSchedule": {
            "exponent": market.fee_schedule.exponent,
            "rate": float(market.fee_schedule.rate),
            "takerOnly": market.fee_schedule.taker_only,
            "rebateRate": float(market.fee_schedule.rebate_rate),
        },
        "makerBaseFee": 1000,
        "takerBaseFee": 1000,
    }
    if market.twap:
        market_json["cryptoMarketConfig"] = {
            "id": f"btc-{duration}-twap-60",
            "asset": "btc",
            "duration": duration,
            "twapEnabled": True,
            "twapLookbackSeconds": 60,
        }
    return market_json


def gamma_event(
    market: SimMarket,
    *,
    now: datetime,
    strike: Decimal | None,
    final_price: Decimal | None = None,
    outcome_prices: tuple[Decimal, Decimal] | None = None,
    winner: Outcome | None = None,
) -> dict[str, Any]:
    """A Gamma `event` wrapping the market, with `eventMetadata.priceToBeat` once the strike is fixed."""
    event: dict[str, Any] = {
        "id": market.event_id,
        "ticker": market.slug,
        "slug": market.slug,
        "title": title(market.round),
        "startTime": _iso(market.round.open),
        "endDate": _iso(market.round.close),
        "active": True,
        "closed": winner is not None,
        "markets": [gamma_market(market, now=now, outcome_prices=outcome_prices, winner=winner)],
    }
    # Exact decimal strings (Gamma sends these as numbers or strings): a float would cut the strike.
    metadata: dict[str, str] = {}
    if strike is not None:
        metadata["priceToBeat"] = format(strike, "f")
    if final_price is not None:
        metadata["finalPrice"] = format(final_price, "f")
    if metadata:
        event["eventMetadata"] = metadata
    return event
