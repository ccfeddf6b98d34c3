"""Outbox throughput: how fast the engine can hand records over, and how fast they reach each database.

    .venv/bin/python -m bench.outbox [--records N] [--postgres URL]

Prints records/s for `put` (the engine's cost: spool write, no database) and for draining into SQLite and,
when reachable, PostgreSQL; and the ratio of handing over to draining.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import psycopg

from core.store.db import migrate
from core.store.models import DecisionRow
from core.store.outbox import Outbox


def rows(count: int) -> list[DecisionRow]:
    return [
        DecisionRow(
            round_slug="btc-updown-15m-1778437800",
            run_id="bench",
            strategy="fair_value",
            outcome="up",
            side="BUY",
            limit_price=Decimal("0.53"),
            size=Decimal(10),
            confidence=Decimal("0.6"),
            reason=f"bench {index}",
            features={"edge": 0.04, "tau_s": 120},
        )
        for index in range(count)
    ]


def measure(url: str, records: list[DecisionRow], spool: Path) -> tuple[float, float]:
    outbox = Outbox(spool, url)
    started = time.perf_counter()
    for row in records:
        outbox.put(row)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    outbox.start()
    assert outbox.flush(timeout_s=600), "outbox did not drain"
    drain_s = time.perf_counter() - started
    outbox.close()
    return len(records) / put_s, len(records) / drain_s


def fresh_postgres(admin_url: str) -> str | None:
    name = f"btcagent_bench_{int(time.time())}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"postgres: skipped ({str(exc).strip().splitlines()[0]})")
        return None
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    records = rows(args.records)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        targets = {"sqlite": f"sqlite:///{root / 'bench.sqlite'}"}
        postgres = fresh_postgres(args.postgres)
        if postgres:
            targets["postgres"] = postgres
        print(f"{args.records} decision records")
        print(f"{'database':<10}{'put records/s':>16}{'drain records/s':>18}{'put/drain':>11}")
        for name, url in targets.items():
            migrate(url)
            put_rate, drain_rate = measure(url, records, root / f"spool-{name}")
            print(f"{name:<10}{put_rate:>16,.0f}{drain_rate:>18,.0f}{put_rate / drain_rate:>10.1f}x")
        if postgres:
            drop_postgres(args.postgres, postgres)


if __name__ == "__main__":
    main()
