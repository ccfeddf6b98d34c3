"""Crash-safe supervision, from the outside: the real `btc-agent run` killed with SIGKILL mid-window (with
the database up, and with it down at that moment), an exception inside the window retried by Prefect
itself, and two runs of one round started together. PostgreSQL, a Prefect test server, the simulated venue.

Rounds are 30 s long (active for the last 15 s); the limits are tight so a doubled position would show.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from core.clock import WallClock
from core.config import load_settings
from core.engine.tape import read_tape
from core.events import Outcome
from core.live.runner import RoundOutcome, RoundRunner
from core.market.rounds import Round, RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.db import make_engine, migrate
from core.store.models import FillRow, OrderRow, RoundClaimRow, RoundRow, SettlementRow
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = RoundSchedule(30, 15, 25)
MAX_TRADES = 3
MAX_SHARES = Decimal(60)


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    # A volatile market quoted with much noise: the strategies find an edge early in every round.
    noisy = MarketMakerConfig(fair_noise=0.12)
    config = SimConfig(round_seconds=30, seed=23, annual_vol=4.0, twap=False, market_maker=noisy)
    with SimServer(config) as server:
        yield server


@pytest.fixture
def agent_env(
    sim: SimServer, prefect_api: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The agent's environment, set in this process too (for in-process runs and for reading settings)."""
    env = {
        "BTC_AGENT_DATABASE_URL": postgres_url,
        "BTC_AGENT_DATA_DIR": str(tmp_path / "data"),
        "BTC_AGENT_ROUND_SECONDS": "30",
        "BTC_AGENT_ACTIVATION_LEAD_SECONDS": "15",
        "BTC_AGENT_WAKE_LEAD_SECONDS": "25",
        "BTC_AGENT_RISK__MIN_BOOK_DEPTH_SHARES": "5",
        "BTC_AGENT_RISK__MAX_TRADES_PER_ROUND": str(MAX_TRADES),
        "BTC_AGENT_RISK__MAX_POSITION_SHARES": str(MAX_SHARES),
        "PREFECT_API_URL": prefect_api,
    }
    for name, url in sim.urls.model_dump().items():
        if name.endswith("_url"):
            env[f"BTC_AGENT_VENUE__{name.upper()}"] = url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    migrate(postgres_url)
    return env


def round_ahead(min_lead_s: float = 12.0) -> Round:
    """The first round whose activation is at least `min_lead_s` away: time for a child to start."""
    now = WallClock().now_ms()
    round_ = SCHEDULE.round_at_ms(now)
    while round_.activation_ms - now < min_lead_s * 1000:
        round_ = SCHEDULE.round_at_ms(round_.close_ms)
    return round_


def start_run(env: dict[str, str], slug: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", "--paper", "--slug", slug],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_to_end(env: dict[str, str], mode: str, slug: str) -> subprocess.CompletedProcess[str]:
    """`btc-agent run` as an operator types it, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", mode, "--slug", slug],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def wait_for(check: Callable[[], bool], deadline_ms: int) -> bool:
    while WallClock().now_ms() < deadline_ms:
        if check():
            return True
        time.sleep(0.1)
    return False


TRIES = 3
"""Rounds a test may try before one trades early enough: the simulated market is random, and a round
where no strategy finds an edge in time proves nothing either way."""


def spooled_fills(data_dir: Path, slug: str) -> int:
    """Fills a run of the round has put in its spool (the store may not have them yet)."""
    spool = data_dir / "spool"
    if not spool.is_dir():
        return 0
    return sum(path.read_bytes().count(b'"table":"fills"') for path in spool.glob(f"{slug}-*/*.log"))


def has_spooled_fill(data_dir: Path, slug: str) -> bool:
    return spooled_fills(data_dir, slug) >= 1


def stored(url: str, kind: type, slug: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(kind).where(kind.round_slug == slug)).all())  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def get_row(url: str, kind: type, key: str) -> Any:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.get(kind, key)
    finally:
        engine.dispose()


def pnl_of(fills: list[FillRow], orders: list[OrderRow], winner: Outcome) -> Decimal:
    """The round's P&L computed independently of the engine, from the stored fills."""
    outcome_of = {order.id: order.outcome for order in orders}
    total = Decimal(0)
    for fill in fills:
        payout = fill.size if outcome_of[fill.order_id] == winner.value else Decimal(0)
        cash = fill.size * fill.price
        total += (payout - cash if fill.side == "BUY" else cash - payout) - fill.fee
    return total


def assert_one_whole_round(url: str, slug: str, *, min_fills: int) -> SettlementRow:
    """Settled once, every fill kept, no id twice, the limits held across attempts, P&L exact."""
    round_row = get_row(url, RoundRow, slug)
    assert round_row is not None
    assert round_row.status == "settled", round_row.reason
    settlements = stored(url, SettlementRow, slug)
    assert len(settlements) == 1
    settlement = settlements[0]
    assert settlement.mode == "paper"
    fills, orders = stored(url, FillRow, slug), stored(url, OrderRow, slug)
    assert len(fills) >= min_fills
    assert len({fill.id for fill in fills}) == len(fills)
    assert len({fill.trade_id for fill in fills}) == len(fills)
    assert len(orders) <= MAX_TRADES, "the trade count carried over to the attempt that resumed"
    for outcome in ("up", "down"):
        held = sum((f.size if f.side == "BUY" else -f.size) for f in fills if f.outcome == outcome)
        assert held <= MAX_SHARES
    assert settlement.pnl == pnl_of(fills, orders, Outcome(settlement.outcome))
    assert isinstance(settlement, SettlementRow)
    return settlement


def assert_counted_in_daily_loss(settlement: SettlementRow) -> None:
    from core.store.db import make_engine as engine_of
    from tasks.rounds import account_for

    settings = load_settings()
    engine = engine_of(settings.resolved_database_url)
    try:
        now = int(datetime.now(UTC).timestamp() * 1000)
        account = account_for(settings, RiskLimits.from_settings(settings.risk), now, engine)
    finally:
        engine.dispose()
    assert account.daily_pnl == settlement.pnl


@pytest.mark.parametrize("database", ["up", "down"])
def test_a_round_killed_mid_window_is_resumed_by_a_new_run_without_doubling_its_position(
    agent_env: dict[str, str], tmp_path: Path, database: str
) -> None:
    url = agent_env["BTC_AGENT_DATABASE_URL"]
    data_dir = Path(agent_env["BTC_AGENT_DATA_DIR"])
    proxy = TcpProxy("127.0.0.1", make_url(url).port or 5432).start()
    child_env = {
        **agent_env,
        "BTC_AGENT_DATABASE_URL": make_url(url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False),
    }
    try:
        for _ in range(TRIES):
            round_ = round_ahead()
            first = start_run(child_env, round_.slug, tmp_path / "first.log")
            if wait_for(functools.partial(has_spooled_fill, data_dir, round_.slug), round_.close_ms - 7_000):
                break
            first.wait(120)  # no trade in time: let this round end and try the next one
        else:
            pytest.fail(f"no round of {TRIES} traded before its last 7 s")
        if database == "down":
            proxy.cut()
            time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        spooled = spooled_fills(data_dir, round_.slug)
        if database == "down":
            proxy.restore()
        second = run_to_end(child_env, "--paper", round_.slug)
    finally:
        proxy.close()
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert f"{round_.slug}: settled, attempt 2" in output, output
    settlement = assert_one_whole_round(url, round_.slug, min_fills=spooled)
    claim = get_row(url, RoundClaimRow, round_.slug)
    assert claim.released
    assert claim.attempt == 2
    assert not any((data_dir / "spool").iterdir()), "the dead run's spool was drained and removed"
    assert_counted_in_daily_loss(settlement)


def test_an_exception_inside_the_window_is_retried_by_prefect_and_the_retry_resumes(
    agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.round import round_flow

    url = agent_env["BTC_AGENT_DATABASE_URL"]
    crashed: list[int] = []
    ingest = RoundRunner._ingest

    def crash_once_after_a_fill(self: RoundRunner, event: Any, engine: Any, tape: Any) -> None:
        ingest(self, event, engine, tape)
        if not crashed and engine.fill_count >= 1:
            crashed.append(engine.fill_count)
            raise RuntimeError("injected: a bug inside the active window")

    monkeypatch.setattr(RoundRunner, "_ingest", crash_once_after_a_fill)
    for _ in range(TRIES):
        round_ = round_ahead(min_lead_s=6.0)
        outcome: RoundOutcome | None = asyncio.run(round_flow(round_slug=round_.slug))
        if crashed:
            break
    else:
        pytest.fail(f"no round of {TRIES} traded: the crash was never injected")
    assert outcome is not None
    assert outcome.attempt == 2
    assert outcome.status == "settled"
    settlement = assert_one_whole_round(url, round_.slug, min_fills=crashed[0])
    assert outcome.fills == len(stored(url, FillRow, round_.slug))
    assert outcome.pnl == settlement.pnl
    assert outcome.tape is not None
    _, events = read_tape(Path(outcome.tape))
    stamps = [event.ts_ms for event in events]
    assert stamps
    assert stamps[-1] >= round_.close_ms, "the tape went on past the crash to the close"


def test_two_runs_of_one_round_started_together_exactly_one_trades(
    agent_env: dict[str, str], tmp_path: Path
) -> None:
    url = agent_env["BTC_AGENT_DATABASE_URL"]
    # Two children starting at once on a busy machine have taken over 12 s to reach their round.
    round_ = round_ahead(min_lead_s=20.0)
    runs = [start_run(agent_env, round_.slug, tmp_path / f"run-{n}.log") for n in (1, 2)]
    for run in runs:
        assert run.wait(150) == 0
    outputs = [(tmp_path / f"run-{n}.log").read_text() for n in (1, 2)]
    traded = [out for out in outputs if f"{round_.slug}: settled" in out]
    refused = [out for out in outputs if "skipped" in out and "is being traded by pid" in out]
    assert len(traded) == 1, outputs
    assert len(refused) == 1, outputs
    line = next(line for line in traded[0].splitlines() if line.startswith(f"{round_.slug}: settled"))
    fills = int(line.split(" fills")[0].rsplit(" ", 1)[1])
    assert len(stored(url, FillRow, round_.slug)) == fills
    assert_one_whole_round(url, round_.slug, min_fills=0)


LIVE_KEY = "0x" + "3d" * 32


def live_env(agent_env: dict[str, str]) -> dict[str, str]:
    return {
        **agent_env,
        "BTC_AGENT_MODE": "live",
        "BTC_AGENT_PRIVATE_KEY": LIVE_KEY,
        "BTC_AGENT_LIVE_CONFIRMED": "true",
    }


def ledger_of(sim: SimServer, key: str) -> dict[str, Any]:
    from eth_account import Account

    address = Account.from_key(key).address.lower()
    accounts = httpx.get(f"{sim.base_url}/_sim/ledger").json()["accounts"]
    ours = [account for account in accounts if account["address"].lower() == address]
    return ours[0] if ours else {"orders": [], "trades": []}


def test_btc_agent_run_live_trades_on_the_venue_and_books_what_the_venue_booked(
    agent_env: dict[str, str], sim: SimServer, tmp_path: Path
) -> None:
    url = agent_env["BTC_AGENT_DATABASE_URL"]
    for _ in range(TRIES):
        round_ = round_ahead()
        run = start_run(live_env(agent_env), round_.slug, tmp_path / "live.log")
        assert run.wait(150) == 0, (tmp_path / "live.log").read_text()
        if stored(url, OrderRow, round_.slug):
            break
    else:
        pytest.fail(f"no live round of {TRIES} traded (else this test proves nothing)")
    ledger = ledger_of(sim, LIVE_KEY)
    orders, fills = stored(url, OrderRow, round_.slug), stored(url, FillRow, round_.slug)
    assert {order.mode for order in orders} == {"live"}
    assert len(ledger["orders"]) == len(orders), "every order the store holds reached the venue"
    assert {trade["id"] for trade in ledger["trades"]} == {fill.trade_id for fill in fills}
    settlement = stored(url, SettlementRow, round_.slug)
    assert [s.mode for s in settlement] == ["live"]


def test_btc_agent_run_live_with_an_unreachable_venue_stops_with_one_line_and_trades_nothing(
    agent_env: dict[str, str], tmp_path: Path
) -> None:
    round_ = round_ahead(min_lead_s=4.0)
    env = {**live_env(agent_env), "BTC_AGENT_VENUE__CLOB_URL": "http://127.0.0.1:9/clob"}
    result = run_to_end(env, "--live", round_.slug)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"{round_.slug}: aborted: live start refused: the venue at http://127.0.0.1:9/clob"
    )
    assert "Traceback" not in result.stdout + result.stderr
    row = get_row(agent_env["BTC_AGENT_DATABASE_URL"], RoundRow, round_.slug)
    assert row.status == "aborted"
    assert "unreachable" in row.reason
    assert stored(agent_env["BTC_AGENT_DATABASE_URL"], OrderRow, round_.slug) == []


def test_a_round_whose_market_cannot_be_discovered_leaves_a_row_saying_why(
    agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.round import round_flow

    monkeypatch.setenv("BTC_AGENT_VENUE__GAMMA_URL", "http://127.0.0.1:9")
    url = agent_env["BTC_AGENT_DATABASE_URL"]
    round_ = round_ahead(min_lead_s=2.0)
    with pytest.raises(Exception, match="Gamma unreachable"):
        asyncio.run(round_flow(round_slug=round_.slug))
    row = get_row(url, RoundRow, round_.slug)
    assert row.status == "aborted"
    assert row.reason.startswith("discovery failed: ")
    assert get_row(url, RoundClaimRow, round_.slug).released, "nothing was traded: nobody need run it again"
    assert stored(url, OrderRow, round_.slug) == []
