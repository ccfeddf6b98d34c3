"""Tape throughput and size: writing and reading a round-like stream, against plain JSON lines.

    .venv/bin/python -m bench.tape [--events N] [--seed S]

The stream is seeded and shaped like a recorded round: mostly book deltas of both tokens (the mirror level
of the other token after each), Chainlink and Binance ticks, trades, a book snapshot now and then, and a
few order updates and fills. Prints events/s for `TapeWriter.append`+`close` and for `read_tape`, and bytes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from core.engine.tape import TapeMeta, TapeWriter, read_tape
from core.events import (
    AnyEvent,
    BookDelta,
    BookSnapshot,
    Fill,
    Level,
    Liquidity,
    OrderStatus,
    OrderUpdate,
    PriceSource,
    PriceTick,
    Side,
    Timer,
    TradePrint,
    encode_event,
)
from core.market.fees import CRYPTO_FEES_V2

UP = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
DOWN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
OPEN_MS = 1_800_000_000_000


def meta() -> TapeMeta:
    return TapeMeta(
        slug=f"btc-updown-15m-{OPEN_MS // 1000}",
        open_ms=OPEN_MS,
        close_ms=OPEN_MS + 900_000,
        up_token_id=UP,
        down_token_id=DOWN,
        tick_size=Decimal("0.01"),
        fee_schedule=CRYPTO_FEES_V2,
        settlement_source="chainlink btc/usd 60s twap",
        condition_id="0x" + "ab" * 32,
        min_order_size=Decimal(5),
        strike=Decimal("104250.1234"),
    )


def stream(count: int, seed: int) -> list[AnyEvent]:
    rng = random.Random(seed)
    ts, btc = OPEN_MS, Decimal("104250.00")
    out: list[AnyEvent] = []
    cents = [Decimal(k) / 100 for k in range(1, 100)]
    while len(out) < count:
        ts += rng.randint(0, 2)
        roll = rng.random()
        if roll < 0.62:
            k = rng.randint(30, 69)
            side = rng.choice((Side.BUY, Side.SELL))
            size = Decimal(rng.randint(0, 400_000)) / 100
            out.append(BookDelta(ts_ms=ts, token_id=UP, side=side, price=cents[k], size=size))
            mirror = Side.SELL if side is Side.BUY else Side.BUY
            out.append(BookDelta(ts_ms=ts, token_id=DOWN, side=mirror, price=cents[98 - k], size=size))
        elif roll < 0.87:
            btc += Decimal(rng.randint(-500, 500)) / 100
            source = rng.choice((PriceSource.CHAINLINK, PriceSource.BINANCE))
            exact = btc + Decimal(rng.randint(0, 10**12)) / 10**16 if source is PriceSource.CHAINLINK else btc
            out.append(PriceTick(ts_ms=ts, source=source, price=exact, source_ts_ms=ts - rng.randint(5, 900)))
        elif roll < 0.95:
            token = rng.choice((UP, DOWN))
            out.append(
                TradePrint(
                    ts_ms=ts,
                    token_id=token,
                    price=cents[rng.randint(30, 69)],
                    size=Decimal(rng.randint(500, 50_000)) / 100,
                    side=rng.choice((Side.BUY, Side.SELL)),
                )
            )
        elif roll < 0.96:
            levels = [Level(cents[k], Decimal(rng.randint(100, 90_000)) / 100) for k in range(30, 70)]
            out.append(
                BookSnapshot(
                    ts_ms=ts,
                    token_id=rng.choice((UP, DOWN)),
                    bids=tuple(reversed(levels[:20])),
                    asks=tuple(levels[20:]),
                    tick_size=Decimal("0.01"),
                )
            )
        elif roll < 0.98:
            out.append(Timer(ts_ms=ts, name="tick"))
        else:
            n = len(out)
            out.append(
                OrderUpdate(ts_ms=ts, order_id=f"o{n}", status=OrderStatus.FILLED, filled_size=Decimal(10))
            )
            out.append(
                Fill(
                    ts_ms=ts,
                    order_id=f"o{n}",
                    trade_id=f"paper-t{n}",
                    token_id=UP,
                    side=Side.BUY,
                    price=Decimal("0.52"),
                    size=Decimal(10),
                    fee=Decimal("0.17472"),
                    liquidity=Liquidity.TAKER,
                )
            )
    return out[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    events = stream(args.events, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "round.parquet"
        started = time.perf_counter()
        writer = TapeWriter(path, meta())
        for event in events:
            writer.append(event)
        appended = time.perf_counter()
        writer.close()
        written = time.perf_counter()
        _, replay = read_tape(path)
        count = sum(1 for _ in replay)
        read = time.perf_counter()
        assert count == len(events)
        jsonl = Path(tmp) / "round.jsonl"
        with jsonl.open("wb") as out:
            for event in events:
                out.write(encode_event(event) + b"\n")
        tape_bytes, json_bytes = path.stat().st_size, jsonl.stat().st_size
    n = len(events)
    print(f"events            {n:>12,}")
    print(f"append            {n / (appended - started):>12,.0f} events/s")
    print(f"append + close    {n / (written - started):>12,.0f} events/s  ({written - started:.2f} s)")
    print(f"read              {n / (read - written):>12,.0f} events/s  ({read - written:.2f} s)")
    print(f"tape              {tape_bytes:>12,} bytes  ({tape_bytes / n:.1f} B/event)")
    print(f"json lines        {json_bytes:>12,} bytes  ({json_bytes / n:.1f} B/event)")
    print(f"ratio             {json_bytes / tape_bytes:>12.1f} x smaller")


if __name__ == "__main__":
    main()
