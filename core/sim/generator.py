"""A fast event-stream generator for backtests and benchmarks: the rounds of a price path as the engine
would receive them (Chainlink and Binance ticks each second, both books moving around fair value, trades),
without running the whole venue. Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from decimal import Decimal

from core.engine.engine import RoundMarket
from core.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Level,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    Timer,
    TradePrint,
)
from core.market.fees import CRYPTO_FEES_V2
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.sim.fair_value import DEFAULT_SIGMA, spot_up_probability
from core.sim.prices import PricePath

CENTS = [Decimal(cents) / 100 for cents in range(100)]


def generated_market(round_: Round, path: PricePath) -> RoundMarket:
    """The venue rules of a generated round: today's fee schedule, spot settlement, strike at the open."""
    up, down = round_tokens(round_)
    return RoundMarket(
        slug=round_.slug,
        up_token_id=up,
        down_token_id=down,
        tick_size=CENTS[1],
        min_order_size=Decimal(5),
        fee_schedule=CRYPTO_FEES_V2,
        settlement_source=SettlementSource.CHAINLINK_SPOT,
        strike=path.price_at(round_.open_ms),
    )


def generated_winner(round_: Round, path: PricePath) -> Outcome:
    """The settlement rule on the path: Up iff the price at the close is at or above the strike."""
    return Outcome.UP if path.price_at(round_.close_ms) >= path.price_at(round_.open_ms) else Outcome.DOWN


def round_tokens(round_: Round) -> tuple[str, str]:
    return f"up-{round_.open_s}", f"down-{round_.open_s}"


def generate_round(
    path: PricePath, round_: Round, *, seed: int, warmup_s: int = 60, levels: int = 3, spread_ticks: int = 2
) -> Iterator[Event]:
    """Events from `warmup_s` before the round's activation (when a run wakes) to its close, in time order."""
    rng = random.Random(f"{seed}:{round_.slug}")
    up, down = round_tokens(round_)
    strike = float(path.price_at(round_.open_ms))
    start_ms = max(round_.open_ms, round_.activation_ms - warmup_s * 1000)
    previous: dict[str, tuple[int, int]] = {}
    sigma = DEFAULT_SIGMA
    last_spot: float | None = None
    for ts in range(start_ms, round_.close_ms, 1000):
        spot_decimal = path.price_at(ts)
        spot = float(spot_decimal)
        if last_spot is not None and last_spot > 0:
            r = math.log(spot / last_spot)
            sigma = math.sqrt(0.98 * sigma * sigma + 0.02 * r * r)
        last_spot = spot
        yield PriceTick(ts_ms=ts + 150, source=PriceSource.CHAINLINK, price=spot_decimal, source_ts_ms=ts)
        binance = spot_decimal * (1 + Decimal(rng.randint(-20, 20)) / 100_000)
        yield PriceTick(
            ts_ms=ts + 20, source=PriceSource.BINANCE, price=binance.quantize(CENTS[1]), source_ts_ms=ts
        )
        fair = spot_up_probability(spot, strike, max(sigma, 1e-6), (round_.close_ms - ts) / 1000)
        noisy = min(0.99, max(0.01, fair + rng.gauss(0.0, 0.01)))
        bid_cents = max(1, min(98 - spread_ticks, round(noisy * 100) - spread_ticks // 2))
        ask_cents = bid_cents + spread_ticks
        for token, (bid, ask) in ((up, (bid_cents, ask_cents)), (down, (100 - ask_cents, 100 - bid_cents))):
            yield from _book_events(token, ts + 200, (bid, ask), previous.get(token), levels=levels, rng=rng)
            previous[token] = (bid, ask)
        if rng.random() < 0.2:
            token = up if rng.random() < 0.5 else down
            bid, ask = previous[token]
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price = CENTS[ask] if side is Side.BUY else CENTS[bid]
            yield TradePrint(
                ts_ms=ts + 300, token_id=token, price=price, size=Decimal(rng.randint(5, 120)), side=side
            )
    yield Timer(ts_ms=round_.close_ms, name="close")


def _book_events(
    token: str,
    ts: int,
    quote: tuple[int, int],
    before: tuple[int, int] | None,
    *,
    levels: int,
    rng: random.Random,
) -> Iterator[Event]:
    bid, ask = quote
    if before is None:
        yield BookSnapshot(
            ts_ms=ts,
            token_id=token,
            bids=tuple(Level(CENTS[bid - i], _size(rng)) for i in range(levels) if bid - i >= 1),
            asks=tuple(Level(CENTS[ask + i], _size(rng)) for i in range(levels) if ask + i <= 99),
        )
        return
    old_bid, old_ask = before
    if (old_bid, old_ask) == (bid, ask):
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        yield BookDelta(
            ts_ms=ts,
            token_id=token,
            side=side,
            price=CENTS[bid if side is Side.BUY else ask],
            size=_size(rng),
        )
        return
    old_bids = {old_bid - i for i in range(levels) if old_bid - i >= 1}
    new_bids = {bid - i for i in range(levels) if bid - i >= 1}
    old_asks = {old_ask + i for i in range(levels) if old_ask + i <= 99}
    new_asks = {ask + i for i in range(levels) if ask + i <= 99}
    for cents in sorted(old_bids - new_bids):
        yield BookDelta(ts_ms=ts, token_id=token, side=Side.BUY, price=CENTS[cents], size=Decimal(0))
    for cents in sorted(old_asks - new_asks):
        yield BookDelta(ts_ms=ts, token_id=token, side=Side.SELL, price=CENTS[cents], size=Decimal(0))
    for cents in sorted(new_bids - old_bids):
        yield BookDelta(ts_ms=ts, token_id=token, side=Side.BUY, price=CENTS[cents], size=_size(rng))
    for cents in sorted(new_asks - old_asks):
        yield BookDelta(ts_ms=ts, token_id=token, side=Side.SELL, price=CENTS[cents], size=_size(rng))


def _size(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(20, 300))
