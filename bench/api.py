"""Latency of the API under load: p50/p99 of `GET /status` and of pages of `GET /rounds`, each at a constant
200 requests/s sent open-loop from this process to `btc-agent api` in another, over loopback, against a
store holding 30 days of 15-minute rounds. Targets (issue 18): /status p99 < 25 ms, history p99 < 50 ms.

    .venv/bin/python -m bench.api [--seconds 10] [--rate 200] [--days 30] [--store PATH | --database-url URL]

The store is what the agent leaves behind: every round of the last `--days` up to now traded on paper by
the real engine (round rows, venue rules, decisions, risk events, orders, order events, fills, tick samples,
settlements, a heartbeat every `--heartbeat-every` s of each run; about 1 in 100 rounds a missed
activation), and a backtest of the same rounds (run id `backtest-bench/v0`) beside them. Prices are the
rounds of ../shared/data/binance_btcusdt_1m_30d replayed in order (a seeded model path without it). The store
is kept (`<data dir>/bench/api-<days>d.sqlite` by default) and later runs only add the rounds closed since;
`--database-url postgresql://postgres@127.0.0.1:5432/bench_api` benches PostgreSQL instead (the database is
created when absent). A store holding rounds the bench did not write is refused. While the load runs, this
process also publishes a heartbeat a second, as a running round does, so /status reads a live round.

Requests are sent on a fixed schedule whatever the answers do (open loop), and each latency is counted from
the moment its request was due, so a server that falls behind shows it; a request unanswered after
`--timeout` is an error, and so is one due while 128 are unanswered (it is not sent). History requests are
pages of 50 at offsets drawn over the whole history, with and without filters (mode, status, traded, one
day's window). Before each load, 20 requests one at a time give the unloaded latency (the work of one
request). The client runs on uvloop with its heap frozen, so its own CPU and collections weigh little on
what it measures; the CPU of the server (with its workers) and of the bench are printed beside the figures. SQLite stores get no planner statistics, as the agent's own never do; `--analyze` compares.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvloop
from sqlalchemy import Engine, delete, func, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, col, select

from core.adapters.polymarket.feed import FeedHealth
from core.clock import datetime_to_ms, ms_to_datetime
from core.config import RiskLimitsSettings, default_data_dir
from core.engine.assembly import EngineRecipe, build_engine
from core.engine.engine import ListSink, RoundEngine
from core.live.runner import round_row
from core.live.state import LiveState, heartbeat, live_state
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.risk.state import AccountState
from core.sim.generator import generate_round, generated_market, generated_winner
from core.sim.prices import BridgedMinutePath, ModelPath, PricePath, ShiftedPath
from core.store.auth import ApiTokenRow, RefreshTokenRow, UserRow
from core.store.db import make_engine, migrate
from core.store.models import TABLES, DecisionRecord, RoundRow, SettingRow, VenueRulesRow, table_of
from core.store.writer import insert_rows

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BTC_AGENT_SHARED_DATA") or ROOT.parent / "shared" / "data")
CSV = DATA / "binance_btcusdt_1m_30d" / "binance_1m.csv"
HOST = "127.0.0.1"
MODE = "paper"
BACKTEST_RUN = "backtest-bench/v{}"
TARGET_P99_MS = {"status": 25.0, "rounds": 50.0}
PAGE = 50
MAX_IN_FLIGHT = 128
MARK = "bench.api"
DAY_MS = 86_400_000
ROUND_MS = 900_000
MISSED_ONE_IN = 100
FEEDS = {
    name: FeedHealth(
        feed=name,
        connected=True,
        stale=False,
        last_message_age_s=0.2,
        messages=1_000,
        reconnects=0,
        consecutive_failures=0,
        next_retry_s=None,
        malformed=0,
        callback_errors=0,
        last_error=None,
    )
    for name in ("market", "user", "rtds")
}


# --- the store ---------------------------------------------------------------------------------------------


class Replay:
    """Prices for the rounds of any stretch of days: the round opening at t trades on the prices of the
    source's round at the same place modulo the source's span (whole rounds, so every replay stays whole)."""

    def __init__(self, source: PricePath) -> None:
        self.source = source
        self.first_open_ms = -(-(source.start_ms + 3_600_000) // ROUND_MS) * ROUND_MS
        self.span_ms = (source.end_ms - 1 - self.first_open_ms) // ROUND_MS * ROUND_MS

    @classmethod
    def load(cls, seed: int) -> tuple[Replay, str]:
        if CSV.exists():
            return cls(BridgedMinutePath.from_csv(CSV, seed=seed)), CSV.name
        model = ModelPath(
            start_price=Decimal(95_000), start_ms=1_790_000_100_000 - 1_790_000_100_000 % ROUND_MS,
            duration_s=3 * 86_400, seed=seed, annual_vol=0.6,
        )  # fmt: skip
        return cls(model), "a seeded model path (the price file is absent)"

    def path_for(self, round_: Round) -> PricePath:
        source_open = self.first_open_ms + (round_.open_ms - self.first_open_ms) % self.span_ms
        return ShiftedPath(self.source, round_.open_ms - source_open)


@dataclass
class Trader:
    """One run trading round after round, its account carried over as a deployment's is."""

    run_id: str
    recipe: EngineRecipe
    seed: int
    heartbeat_every_ms: int = 0
    account: AccountState = field(default_factory=AccountState)

    def trade(self, round_: Round, path: PricePath) -> tuple[list[SQLModel], Decimal | None]:
        """The round's records (and heartbeats), and the strike."""
        market = generated_market(round_, path)
        start = self.account.rolled(round_.open_ms)
        sink = ListSink()
        engine = build_engine(round_, market, self.recipe, run_id=self.run_id, sink=sink, account=start)
        beats: list[SQLModel] = []
        next_beat = round_.wake_ms if self.heartbeat_every_ms else None
        for event in generate_round(path, round_, seed=self.seed):
            while next_beat is not None and event.ts_ms >= next_beat:
                beats.append(heartbeat(state_of(engine, sink, next_beat)))
                next_beat += self.heartbeat_every_ms
            engine.on_event(event)
        engine.finish(round_.close_ms)
        settled = engine.settle(
            generated_winner(round_, path), path.price_at(round_.close_ms), round_.close_ms
        )
        self.account = start.settled(settled.pnl, round_.close_ms, self.recipe.limits, round_ms=ROUND_MS)
        return [*sink.rows, *beats], market.strike


def state_of(engine: RoundEngine, sink: ListSink, now_ms: int) -> LiveState:
    decisions = sink.of(DecisionRecord)
    latest = decisions[-1] if decisions else None
    return live_state(engine, FEEDS, mode=MODE, now_ms=now_ms, latest=latest)


def venue_rules(round_: Round, path: PricePath) -> VenueRulesRow:
    market = generated_market(round_, path)
    return VenueRulesRow(
        round_slug=round_.slug,
        condition_id="0x" + uuid.uuid5(uuid.NAMESPACE_URL, round_.slug).hex * 2,
        up_token_id=market.up_token_id,
        down_token_id=market.down_token_id,
        tick_size=market.tick_size,
        min_order_size=market.min_order_size,
        fee_rate=market.fee_schedule.rate,
        fee_exponent=market.fee_schedule.exponent,
        fee_taker_only=market.fee_schedule.taker_only,
        settlement_source=market.settlement_source.value,
    )


def as_rows(records: Sequence[SQLModel]) -> list[tuple[str, dict[str, Any]]]:
    """Records as the outbox writes them, grouped by table so each table is one batch."""
    rows = [(table_of(r), TABLES[table_of(r)].model_validate(r.model_dump()).model_dump()) for r in records]
    return sorted(rows, key=lambda row: row[0])


def window(days: int, now_ms: int) -> list[Round]:
    """Every round of the last `days` that has closed by now."""
    current = RoundSchedule().round_at_ms(now_ms)
    return list(RoundSchedule().rounds_between(current.open_ms - days * DAY_MS, current.open_ms))


def seed(store: Engine, days: int, now_ms: int, *, backtests: int, heartbeat_every_s: float, rng: int) -> int:
    """Add the rounds of the window the store lacks; returns how many were added."""
    wanted = window(days, now_ms)
    with Session(store) as session:
        have = set(
            session.exec(
                select(RoundRow.slug)
                .where(col(RoundRow.mode) == MODE)
                .where(col(RoundRow.status) != "active")
                .where(col(RoundRow.open_at) >= wanted[0].open)
            ).all()
        )
    missing = [r for r in wanted if r.slug not in have]
    if not missing:
        return 0
    replay, source = Replay.load(rng)
    recipe = EngineRecipe(limits=RiskLimits.from_settings(RiskLimitsSettings()))
    backtest_recipe = EngineRecipe(limits=recipe.limits, sample_every_ms=0)
    paper = Trader(MODE, recipe, rng, heartbeat_every_ms=round(heartbeat_every_s * 1000))
    others = [Trader(BACKTEST_RUN.format(n), backtest_recipe, rng + 1 + n) for n in range(backtests)]
    by_day: defaultdict[str, list[Round]] = defaultdict(list)
    for round_ in missing:
        by_day[round_.open.date().isoformat()].append(round_)
    print(f"seeding {len(missing):,} rounds of {len(by_day)} days, prices from {source}", flush=True)
    for day, rounds in by_day.items():
        began = time.perf_counter()
        records: list[SQLModel] = []
        for round_ in rounds:
            path = replay.path_for(round_)
            records.append(venue_rules(round_, path))
            flow_run = str(uuid.uuid5(uuid.NAMESPACE_URL, round_.slug))
            if random.Random(round_.slug).randrange(MISSED_ONE_IN) == 0:
                records.append(round_row(round_, "missed_activation", flow_run_id=flow_run, mode=MODE))
            else:
                traded, strike = paper.trade(round_, path)
                records += traded
                records.append(round_row(round_, "settled", strike=strike, flow_run_id=flow_run, mode=MODE))
            for trader in others:
                records += trader.trade(round_, path)[0]
        rows = as_rows(records)
        for start in range(0, len(rows), 2_000):
            insert_rows(store, rows[start : start + 2_000])
        took = time.perf_counter() - began
        print(f"  {day}  {len(rounds):>3} rounds  {len(rows):>8,} rows  {took:5.1f} s", flush=True)
    return len(missing)


def prepare(url: str, days: int, now_ms: int, *, fresh: bool) -> None:
    """Make sure the store is the bench's own (a store holding rounds the bench did not write is refused:
    its rounds would mix with the bench's), start afresh when asked or when the kept store is older than the
    window, and create a PostgreSQL database that is absent."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "postgresql" and not str(parsed.database).startswith("bench"):
        sys.exit(
            f"{shown}: name a database of the bench's own, such as bench_api (it is created when absent)"
        )
    kept = kept_store(url)
    if kept is not None:
        ours, oldest = kept
        if not ours:
            sys.exit(f"{shown} holds rounds the bench did not write: give the bench a store of its own")
        if not fresh and oldest is not None and datetime_to_ms(oldest) < now_ms - (days + 2) * DAY_MS:
            print(f"the kept store starts {oldest:%Y-%m-%d}, before the window: starting afresh")
            fresh = True
    if parsed.get_backend_name() == "sqlite":
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as server:
        name = str(parsed.database)
        if fresh:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            server.execute(f'CREATE DATABASE "{name}"')


def kept_store(url: str) -> tuple[bool, datetime | None] | None:
    """Of a store there already: whether the bench made it (or it holds no rounds), and its oldest round."""
    if not store_exists(url):
        return None
    store = make_engine(url)
    try:
        tables = set(inspect(store).get_table_names())
        if "rounds" not in tables:
            return True, None
        with Session(store) as session:
            marked = "settings" in tables and session.get(SettingRow, MARK) is not None
            oldest = session.exec(select(func.min(RoundRow.open_at)).where(col(RoundRow.mode) == MODE)).one()
    finally:
        store.dispose()
    return marked or oldest is None, oldest


def mark(store: Engine) -> None:
    """Say the store is the bench's, so later runs may add to it or start it afresh."""
    row = SettingRow(key=MARK, value={"written_by": "python -m bench.api"}, updated_by="bench.api")
    insert_rows(store, as_rows([row]))


def store_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(str(parsed.database)).exists()
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as server:
        found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
    return found is not None


def table_sizes(store: Engine) -> dict[str, int]:
    names = ("rounds", "decisions", "risk_events", "orders", "order_events", "fills", "settlements")
    with store.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(TABLES[name].__table__)).scalar_one()  # type: ignore[attr-defined]
            for name in (*names, "tick_samples", "heartbeats")
        }


def planner_statistics(store: Engine, *, analyze: bool) -> str:
    """PostgreSQL's autovacuum analyzes a table soon after bulk inserts, so it is analyzed here at once; a
    SQLite store has statistics only when someone runs ANALYZE, which the agent never does, so by default
    any left by an earlier `--analyze` are removed."""
    with store.begin() as connection:
        if store.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")
            return "PostgreSQL: analyzed, as autovacuum leaves it"
        if analyze:
            connection.exec_driver_sql("ANALYZE")
            return "SQLite: analyzed (--analyze); the agent's own store never is"
        if connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
            connection.exec_driver_sql("DELETE FROM sqlite_stat1")
        return "SQLite: no planner statistics, as the agent leaves it (--analyze to compare)"


class Heartbeats(threading.Thread):
    """The running round as its outbox writes it: a `round:paper` heartbeat row a second."""

    def __init__(self, store: Engine, replay_seed: int) -> None:
        super().__init__(name="heartbeats", daemon=True)
        self.store = store
        self.stopped = threading.Event()
        now_ms = int(time.time() * 1000)
        current = RoundSchedule().round_at_ms(now_ms)
        replay, _ = Replay.load(replay_seed)
        path = replay.path_for(current)
        recipe = EngineRecipe(limits=RiskLimits.from_settings(RiskLimitsSettings()))
        self.sink = ListSink()
        self.engine = build_engine(
            current, generated_market(current, path), recipe, run_id=MODE, sink=self.sink
        )
        self.engine.run(e for e in generate_round(path, current, seed=replay_seed) if e.ts_ms <= now_ms)

    def run(self) -> None:
        while True:
            state = state_of(self.engine, self.sink, int(time.time() * 1000))
            insert_rows(self.store, as_rows([heartbeat(state)]))
            if self.stopped.wait(1.0):
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


# --- the server --------------------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def btc_agent(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.launcher", *args]


def server_env(url: str, scratch: Path) -> dict[str, str]:
    """Settings of the bench's own: its store, a scratch data dir, a fresh signing key, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BTC_AGENT_")}
    return env | {
        "BTC_AGENT_DATABASE_URL": url,
        "BTC_AGENT_DATA_DIR": str(scratch),
        "BTC_AGENT_API__JWT_SECRET": secrets.token_urlsafe(48),
    }


@contextmanager
def api_server(env: dict[str, str], scratch: Path) -> Iterator[Server]:
    """`btc-agent api` on a free loopback port, ready; stopped afterwards with whatever work it has left."""
    port = free_port()
    log_path = scratch / f"api-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            btc_agent("api", "--host", HOST, "--port", str(port)), cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        server = Server(f"http://{HOST}:{port}", process.pid)
        wait_ready(server, process, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2_000:]
    sys.exit(f"the API did not answer /healthz within {timeout_s:.0f} s; its log ends:\n{tail}")


def add_admin(env: dict[str, str]) -> tuple[str, str, subprocess.Popen[str]]:
    """A user for this run alone, made by `btc-agent users add` (started here, waited for by `added`)."""
    name, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    command = btc_agent("users", "add", name, "--role", "admin", "--password-stdin")
    pipe = subprocess.PIPE
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=pipe, stdout=pipe, stderr=pipe, text=True)
    assert process.stdin is not None
    process.stdin.write(password + "\n")
    process.stdin.close()
    return name, password, process


def added(process: subprocess.Popen[str]) -> None:
    if process.wait(timeout=120) != 0:
        assert process.stderr is not None
        sys.exit(f"btc-agent users add failed: {process.stderr.read().strip()}")


def viewer_token(server: Server, name: str, password: str) -> str:
    """An API token with the viewer role, as a dashboard would hold, made through the API's own routes."""
    with httpx.Client(base_url=server.base, timeout=30) as client:
        login = client.post("/auth/login", json={"username": name, "password": password})
        login.raise_for_status()
        made = client.post(
            "/auth/tokens",
            json={"name": "bench", "role": "viewer", "expires_in_days": 1},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        made.raise_for_status()
    token: str = made.json()["token"]
    return token


def remove_user(store: Engine, name: str) -> None:
    with Session(store) as session:
        user = session.exec(select(UserRow).where(col(UserRow.name) == name)).first()
        if user is None:
            return
        for table in (ApiTokenRow, RefreshTokenRow):
            session.execute(delete(table).where(col(table.user_id) == user.id))
        session.delete(user)
        session.commit()


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time so far of a process and its children (the workers of `--workers N`), on
    Linux, to show how busy the server was."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) or 0.0 for child in children)


# --- the load ----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    label: str
    rate: float
    scheduled: int
    unloaded_ms: list[float]
    latencies_ms: list[float]
    answered: int
    errors: Counter[str]
    span_s: float
    late_ms: float
    server_cpu: float | None
    bench_cpu: float

    def figures(self) -> dict[str, Any]:
        target = TARGET_P99_MS[self.name]
        p99 = quantile(self.latencies_ms, 0.99)
        return {
            "path": self.label,
            "requests": self.scheduled,
            "answered": self.answered,
            "rate": self.rate,
            "answered_per_s": round(self.answered / self.span_s, 1) if self.span_s else 0.0,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "unloaded_p50_ms": round(quantile(self.unloaded_ms, 0.5), 2),
            "p50_ms": round(quantile(self.latencies_ms, 0.50), 2),
            "p90_ms": round(quantile(self.latencies_ms, 0.90), 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(self.latencies_ms, default=math.nan), 2),
            "target_p99_ms": target,
            "p99_to_target": round(p99 / target, 3),
            "met_target": p99 < target and not self.errors,
            "max_send_late_ms": round(self.late_ms, 2),
            "server_cpu": None if self.server_cpu is None else round(self.server_cpu, 3),
            "bench_cpu": round(self.bench_cpu, 3),
        }


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank quantile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)] if ordered else math.nan


@dataclass
class Load:
    scheduled: int
    latencies_ms: list[float]
    answered: int
    errors: Counter[str]
    span_s: float
    late_ms: float


async def drive(
    base: str, token: str, paths: Sequence[str], *, rate: float, warmup: int, timeout_s: float
) -> Load:
    """Send `paths` at `rate` on a fixed schedule whatever the answers do. Latencies are counted from when
    each request was due (so they include the client's own lag, reported apart) for all but the first
    `warmup`; a request unanswered after `timeout_s` is an error, its latency the time it waited. A request
    due while MAX_IN_FLIGHT are unanswered is not sent but counted an error: the server is far behind, and
    queueing more in the client would only measure the client."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout_s) as client:
        now = time.perf_counter  # not the loop's clock: uvloop's counts whole milliseconds
        times: list[tuple[float, float, float, bool] | None] = [None] * len(paths)
        errors: Counter[str] = Counter()
        in_flight = 0

        async def one(index: int, path: str, due: float) -> None:
            nonlocal in_flight
            sent, ok = now(), False
            in_flight += 1
            try:
                answer = await client.get(path)
                ok = answer.status_code == 200
                if not ok:
                    errors[f"HTTP {answer.status_code}: {answer.text[:120]}"] += 1
            except httpx.HTTPError as exc:
                errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
            finally:
                in_flight -= 1
            times[index] = (due, sent, now(), ok)

        start = now() + 0.05
        pending = []
        for index, path in enumerate(paths):
            due = start + index / rate
            if (wait := due - now()) > 0:
                await asyncio.sleep(wait)
            if in_flight >= MAX_IN_FLIGHT:
                errors[f"not sent: {MAX_IN_FLIGHT} requests were unanswered"] += 1
                continue
            pending.append(asyncio.create_task(one(index, path, due)))
        await asyncio.gather(*pending)
    measured = [entry for entry in times[warmup:] if entry is not None]
    return Load(
        scheduled=len(paths) - warmup,
        latencies_ms=[(done - due) * 1000 for due, _, done, _ in measured],
        answered=sum(ok for *_, ok in measured),
        errors=errors,
        span_s=max((done for _, _, done, _ in measured), default=0.0) - start - warmup / rate,
        late_ms=max(((sent - due) * 1000 for due, sent, _, _ in measured), default=0.0),
    )


def unloaded(server: Server, token: str, paths: Sequence[str], count: int = 20) -> list[float]:
    """Latencies of `count` requests one after another, after three not counted: the work of one request."""
    took = []
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        for index, path in enumerate(paths[: count + 3]):
            began = time.perf_counter()
            client.get(path).raise_for_status()
            if index >= 3:
                took.append((time.perf_counter() - began) * 1000)
    return took


def run_phase(
    server: Server, token: str, name: str, *, label: str, paths: list[str], args: argparse.Namespace
) -> Phase:
    """One endpoint: first unloaded, then at the rate."""
    idle = unloaded(server, token, paths)
    warmup = int(args.warmup * args.rate)
    cpu_before, bench_before = cpu_seconds(server.pid), time.process_time()
    began = time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the client's own CPU, lowered
        load = runner.run(
            drive(server.base, token, paths, rate=args.rate, warmup=warmup, timeout_s=args.timeout)
        )
    wall = time.perf_counter() - began
    cpu_after = cpu_seconds(server.pid)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / wall
    bench_cpu = (time.process_time() - bench_before) / wall
    return Phase(
        name=name,
        label=label,
        rate=args.rate,
        scheduled=load.scheduled,
        unloaded_ms=idle,
        latencies_ms=load.latencies_ms,
        answered=load.answered,
        errors=load.errors,
        span_s=load.span_s,
        late_ms=load.late_ms,
        server_cpu=cpu,
        bench_cpu=bench_cpu,
    )


def history_paths(
    server: Server, token: str, count: int, rng: random.Random
) -> tuple[list[str], dict[str, int]]:
    """`count` pages of GET /rounds at offsets over each filter's whole result (mostly unfiltered), and the
    total of each filter."""
    filters = ["", "", "", f"mode={MODE}", "status=settled", "traded=true", "traded=false", "day"]
    totals: dict[str, int] = {}
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        for query in dict.fromkeys(filters):
            if query != "day":
                answer = client.get(f"/rounds?limit=1&{query}")
                answer.raise_for_status()
                totals[query] = answer.json()["count"]
        newest = client.get("/rounds?limit=1").json()["data"]
        oldest = client.get(f"/rounds?limit=1&offset={max(totals[''] - 1, 0)}").json()["data"]
    first = datetime_to_ms(datetime.fromisoformat(oldest[0]["open_at"])) if oldest else 0
    last = datetime_to_ms(datetime.fromisoformat(newest[0]["open_at"])) if newest else 0
    paths = []
    for _ in range(count):
        query = rng.choice(filters)
        if query == "day":
            since = rng.randrange(first, last + 1)
            page = f"since={stamp(since)}&until={stamp(since + DAY_MS)}&offset={rng.choice((0, PAGE))}"
        else:
            offset = rng.randrange(max(totals[query] - PAGE, 0) + 1)
            page = f"offset={offset}" + (f"&{query}" if query else "")
        paths.append(f"/rounds?limit={PAGE}&{page}")
    return paths, totals


def stamp(ms: int) -> str:
    return f"{ms_to_datetime(ms):%Y-%m-%dT%H:%M:%SZ}"


# --- the run -----------------------------------------------------------------------------------------------


def describe_status(server: Server, token: str) -> str:
    """What /status finds in this store: the round, today's paper P&L, the latest decision, a live round."""
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        answer = client.get("/status")
    answer.raise_for_status()
    status = answer.json()
    today = next(day for day in status["pnl_today"] if day["mode"] == MODE)
    latest = status["latest_decision"]
    return (
        f"/status finds round {status['round']['slug']} ({status['round']['phase']}), "
        f"{today['rounds_settled']} {MODE} rounds settled today (P&L {Decimal(today['pnl']):+.2f}), "
        f"latest decision {latest['at'][:19] if latest else 'none'}, "
        f"live state {'fresh' if status['live'] else 'absent: ' + str(status['live_unavailable'])}"
    )


def report(phases: Sequence[Phase]) -> None:
    print(
        f"{'endpoint':<9}{'requests':>9}{'ok/s':>8}{'errors':>7}{'unloaded':>10}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'server CPU':>11}{'bench CPU':>10}  p99 / target"
    )
    for phase in phases:
        f = phase.figures()
        cpu = "-" if f["server_cpu"] is None else f"{f['server_cpu']:.0%}"
        print(
            f"{phase.name:<9}{f['requests']:>9,}{f['answered_per_s']:>8.1f}{f['errors']:>7}"
            f"{f['unloaded_p50_ms']:>10.2f}{f['p50_ms']:>9.2f}{f['p90_ms']:>9.2f}{f['p99_ms']:>9.2f}"
            f"{f['max_ms']:>9.2f}{cpu:>11}{f['bench_cpu']:>10.0%}  {f['p99_ms']:.1f} ms / {f['target_p99_ms']:.0f} ms = "
            f"{f['p99_to_target']:.2f}x target" + ("" if f["met_target"] else "  (MISSED)")
        )
        for kind, n in phase.errors.most_common(3):
            print(f"  {n} x {kind}")
    late = max(phase.late_ms for phase in phases)
    print(
        "unloaded: the median of 20 requests sent one at a time before the load (the work of one request); "
        "CPU: of one core (the server with its workers; the bench: load, heartbeats); "
        f"the client sent every request within {late:.1f} ms of when it was due"
    )


def default_store(days: int) -> Path:
    data_dir = Path(os.environ.get("BTC_AGENT_DATA_DIR") or default_data_dir())
    return data_dir / "bench" / f"api-{days}d.sqlite"


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--seconds", type=float, default=10.0, help="measured seconds per endpoint (%(default)g)")
    add("--rate", type=float, default=200.0, help="requests per second (%(default)g)")
    add(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of requests sent first and not counted (%(default)g)",
    )
    add(
        "--timeout",
        type=float,
        default=5.0,
        help="a request unanswered this long is an error (%(default)g s)",
    )
    add("--days", type=int, default=30, help="days of rounds in the store (%(default)s)")
    add("--store", type=Path, help="the SQLite store to keep (default <data dir>/bench/api-<days>d.sqlite)")
    add("--database-url", help="bench this store instead: postgresql://postgres@127.0.0.1:5432/bench_api")
    add("--fresh", action="store_true", help="seed the store from nothing")
    add("--analyze", action="store_true", help="give SQLite's planner statistics (ANALYZE) before the load")
    add("--backtests", type=int, default=1, help="backtest runs of the same rounds stored too (%(default)s)")
    add(
        "--heartbeat-every",
        type=float,
        default=15.0,
        help="seconds between the seeded heartbeats of a run (%(default)g; a live round writes one a second)",
    )
    add("--seed", type=int, default=1, help="prices and the request mix (%(default)s)")
    add(
        "--workers",
        type=int,
        default=1,
        help="API worker processes (%(default)s; one per core serves the most)",
    )
    add("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    positive = (args.seconds, args.rate, args.timeout, args.heartbeat_every)
    if min(positive) <= 0 or args.days < 1 or args.warmup < 0 or args.backtests < 0:
        parser.error("--seconds, --rate, --timeout and --heartbeat-every must be positive, --days at least 1")
    return args


def load(args: argparse.Namespace, store: Engine, url: str) -> tuple[list[Phase], dict[str, int]]:
    """Serve the store with `btc-agent api` and send it each endpoint's load in turn; a server that fell
    behind (a request timed out) is replaced before the next, or it would still be serving the last load."""
    count = int((args.seconds + args.warmup) * args.rate)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch_dir, ExitStack() as running:
        scratch = Path(scratch_dir)
        env = server_env(url, scratch) | {"BTC_AGENT_API__WORKERS": str(args.workers)}
        name, password, adding = add_admin(env)
        beats = Heartbeats(store, args.seed)
        beats.start()
        try:
            server = running.enter_context(api_server(env, scratch))
            added(adding)
            token = viewer_token(server, name, password)
            print(describe_status(server, token))
            history, totals = history_paths(server, token, count, random.Random(args.seed))
            print(
                f"history: pages of {PAGE} rounds at offsets over "
                + ", ".join(f"{query or 'all'} {n:,}" for query, n in totals.items())
                + ", and one day's window"
            )
            print(
                f"{args.rate:g} requests/s, open loop, for {args.seconds:g} s per endpoint "
                f"after {args.warmup:g} s of warm-up",
                flush=True,
            )
            # This process holds the engine, the store's models and the request plan: a full collection of
            # them would stall the client and be counted as the server's latency.
            gc.collect()
            gc.freeze()
            phases: list[Phase] = []
            for phase, label, paths in (
                ("status", "/status", ["/status"] * count),
                ("rounds", f"/rounds?limit={PAGE}&offset=...", history),
            ):
                if phases and phases[-1].errors:
                    running.close()
                    server = running.enter_context(api_server(env, scratch))
                phases.append(run_phase(server, token, phase, label=label, paths=paths, args=args))
        finally:
            running.close()
            beats.stop()
            remove_user(store, name)
    return phases, totals


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    url = args.database_url or f"sqlite:///{args.store or default_store(args.days)}"
    shown = make_url(url).render_as_string(hide_password=True)
    now_ms = int(time.time() * 1000)
    prepare(url, args.days, now_ms, fresh=args.fresh)
    migrate(url)
    store = make_engine(url)
    mark(store)
    began = time.perf_counter()
    added = seed(
        store,
        args.days,
        now_ms,
        backtests=args.backtests,
        heartbeat_every_s=args.heartbeat_every,
        rng=args.seed,
    )
    seed_s = time.perf_counter() - began
    sizes = table_sizes(store)
    print(f"store {shown}: " + ", ".join(f"{n:,} {name}" for name, n in sizes.items()))
    print(
        f"  {added:,} rounds added in {seed_s:.1f} s" if added else "  up to date (kept from an earlier run)"
    )
    statistics = planner_statistics(store, analyze=args.analyze)
    print(f"  {statistics}")
    phases, totals = load(args, store, url)
    store.dispose()
    report(phases)
    if args.json:
        figures = {
            "store": {
                "url": shown,
                "days": args.days,
                "rows": sizes,
                "rounds_added": added,
                "seed_s": seed_s,
                "planner_statistics": statistics,
            },
            "rate": args.rate,
            "seconds": args.seconds,
            "history_totals": totals,
            "endpoints": {phase.name: phase.figures() for phase in phases},
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if any(phase.errors for phase in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
