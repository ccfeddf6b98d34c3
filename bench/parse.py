"""Market-channel parsing throughput, against decoding the same bytes into plain dicts with orjson.

    .venv/bin/python -m bench.parse [--frames N] [--seed S] [--repeat R]

Replays a seeded, recorded-like stream of the two books of one round: a few `book` snapshots (about 20 levels
a side), mostly `price_change` frames of one or two entries (the second the mirror level of the other token),
and some `last_trade_price`. Keys are laid out as in captures (`event_type` after the payload), numbers are
strings. Prints frames/s for parsing into events and for `orjson.loads` alone, and their ratio (target >= 0.5).
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

import orjson

from core.adapters.polymarket.market_parser import MarketParser

MARKET = "0x6bd56627aa21311850825edb27e53434a0e17a4f782be0086bc07f71eee00d0d"
TICK = Decimal("0.01")
LEVELS = 20
ORDER_SIZES = (5, 10, 12.5, 20, 25, 50, 100, 150, 250, 500)


class Round:
    """Two complementary books (Up at p is Down at 1 - p) moving as orders arrive and trade."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tokens = [str(rng.getrandbits(250)), str(rng.getrandbits(250))]
        self.books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        mid = 50
        for index, token in enumerate(self.tokens):
            centre = mid if index == 0 else 100 - mid
            self.books[token] = {
                "BUY": {TICK * (centre - 1 - k): self.size() for k in range(LEVELS)},
                "SELL": {TICK * (centre + 1 + k): self.size() for k in range(LEVELS)},
            }

    def size(self) -> Decimal:
        return Decimal(self.rng.randint(500, 500_000)) / 100

    def best(self, token: str, side: str) -> Decimal:
        levels = self.books[token][side]
        return max(levels) if side == "BUY" else min(levels)

    def change(self, token: str) -> dict[str, str]:
        side = self.rng.choice(("BUY", "SELL"))
        levels = self.books[token][side]
        price = self.rng.choice(sorted(levels, reverse=side == "BUY")[:8])
        new = levels[price] + Decimal(str(self.rng.choice(ORDER_SIZES))) * self.rng.choice((-1, 1))
        # An emptied level is announced with size 0, then refilled by later orders.
        levels[price] = new if new > 0 else self.size()
        return {
            "asset_id": token,
            "price": str(price),
            "size": str(max(new, Decimal(0))),
            "side": side,
            "hash": f"{self.rng.getrandbits(160):040x}",
            "best_bid": str(self.best(token, "BUY")),
            "best_ask": str(self.best(token, "SELL")),
        }

    def mirror(self, entry: dict[str, str]) -> dict[str, str]:
        """The same resting order seen from the other token: price 1 - p on the other side."""
        token = self.tokens[1] if entry["asset_id"] == self.tokens[0] else self.tokens[0]
        side = "SELL" if entry["side"] == "BUY" else "BUY"
        price = 1 - Decimal(entry["price"])
        self.books[token][side][price] = Decimal(entry["size"])
        return {
            **entry,
            "asset_id": token,
            "price": str(price),
            "side": side,
            "best_bid": str(self.best(token, "BUY")),
            "best_ask": str(self.best(token, "SELL")),
        }

    def price_change(self, ts_ms: int) -> bytes:
        first = self.change(self.rng.choice(self.tokens))
        changes = [first, self.mirror(first)] if self.rng.random() < 0.5 else [first]
        return orjson.dumps(
            {
                "market": MARKET,
                "price_changes": changes,
                "timestamp": str(ts_ms),
                "event_type": "price_change",
            }
        )

    def book(self, token: str, ts_ms: int) -> bytes:
        levels = self.books[token]
        return orjson.dumps(
            {
                "market": MARKET,
                "asset_id": token,
                "timestamp": str(ts_ms),
                "hash": f"{self.rng.getrandbits(160):040x}",
                "bids": [{"price": str(p), "size": str(s)} for p, s in sorted(levels["BUY"].items())],
                "asks": [
                    {"price": str(p), "size": str(s)} for p, s in sorted(levels["SELL"].items(), reverse=True)
                ],
                "tick_size": str(TICK),
                "event_type": "book",
                "last_trade_price": str(self.best(token, "BUY")),
            }
        )

    def last_trade(self, ts_ms: int) -> bytes:
        token = self.rng.choice(self.tokens)
        side = self.rng.choice(("BUY", "SELL"))
        return orjson.dumps(
            {
                "market": MARKET,
                "asset_id": token,
                "price": str(self.best(token, "SELL" if side == "BUY" else "BUY")),
                "size": str(Decimal(str(self.rng.choice(ORDER_SIZES)))),
                "fee_rate_bps": "0",
                "side": side,
                "timestamp": str(ts_ms),
                "event_type": "last_trade_price",
            }
        )


def stream(frames: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    market = Round(rng)
    ts_ms = 1_786_604_072_222
    recorded = [orjson.dumps([orjson.loads(market.book(token, ts_ms)) for token in market.tokens])]
    while len(recorded) < frames:
        ts_ms += rng.randint(0, 40)
        draw = rng.random()
        if draw < 0.05:
            recorded.append(market.last_trade(ts_ms))
            recorded.append(market.book(rng.choice(market.tokens), ts_ms))
        else:
            recorded.append(market.price_change(ts_ms))
    return recorded[:frames]


def loads_seconds(frames: list[bytes]) -> float:
    loads = orjson.loads
    started = time.process_time()
    for frame in frames:
        loads(frame)
    return time.process_time() - started


def parse_seconds(frames: list[bytes]) -> float:
    """A fresh parser each run, so no cache is warm from an earlier pass over the same frames."""
    parse = MarketParser().parse
    started = time.process_time()
    for frame in frames:
        parse(frame, 0)
    return time.process_time() - started


def rates(frames: list[bytes], repeat: int) -> tuple[float, float]:
    """Frames per CPU-second of `orjson.loads` and of parsing, each the best of `repeat` interleaved runs (robust
    to a busy machine); each loop is written out, so neither pays for an extra call per frame."""
    loads = parse = float("inf")
    for _ in range(repeat):
        loads = min(loads, loads_seconds(frames))
        parse = min(parse, parse_seconds(frames))
    return len(frames) / loads, len(frames) / parse


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    frames = stream(args.frames, args.seed)
    market = MarketParser()
    events = sum(len(market.parse(frame, 0)) for frame in frames)
    assert market.malformed.total == 0, market.health()
    size_mb = sum(map(len, frames)) / 1e6
    print(f"{len(frames):,} market-channel frames ({size_mb:.1f} MB), {events:,} events")
    loads, parse = rates(frames, args.repeat)
    print(f"{'orjson.loads':<22}{loads:>14,.0f} frames/s")
    print(f"{'parse into events':<22}{parse:>14,.0f} frames/s")
    print(f"{'ratio parse/loads':<22}{parse / loads:>14.2f}   (target >= 0.5)")


if __name__ == "__main__":
    main()
