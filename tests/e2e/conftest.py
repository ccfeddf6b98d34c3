"""The whole stack for the console's browser tests, every part the real one: the simulated venue with
30-second rounds, paper rounds trading on it one after the other (the round runner, its outbox and the halt
file, as a round task runs them), a Prefect test server with the backtest deployment served, the API on
loopback, the built console (`next start`), and Debian's Chromium driven by Playwright.

The console is built by `make test` (`make web`) before pytest runs; a missing build is made here."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from api.auth import create_user
from api.main import create_app
from core.adapters.polymarket.gamma import GammaClient
from core.config import Settings, load_settings
from core.engine.assembly import EngineRecipe
from core.engine.policy import PolicyConfig
from core.live.controls import ControlsWatch
from core.live.runner import RoundOutcome, RoundRunner
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.market_maker import MarketMakerConfig
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.auth import Role
from core.store.db import make_engine, migrate
from core.store.outbox import Outbox
from tests.support.api_server import free_port, serve_api
from tests.support.shared_data import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SCREENSHOTS = ROOT / "test-output" / "console"
CHROMIUM = Path(os.environ.get("BTC_AGENT_TEST_CHROMIUM", "/usr/bin/chromium"))
SCHEDULE = RoundSchedule(30, 20, 30)
PASSWORD = "console tests only 0123456789"
SESSION_SECRET = "console-session-secret-for-tests-only-0123456789"
PRICE_FILE = SHARED_DATA / "binance_btcusdt_1m_30d" / "binance_1m.csv"
RECIPE = EngineRecipe(
    limits=RiskLimits(
        max_trades_per_round=4, max_notional_per_trade=Decimal(10), min_book_depth_shares=Decimal(5)
    ),
    strategies=("fair_value", "momentum", "mean_reversion"),
    params={"fair_value": {"margin": 0.0, "size": Decimal(10)}},
    policy=PolicyConfig(min_interval_ms=1_000),
    cutoff_s=2,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.slow)


@dataclass
class Rounds:
    """Paper rounds on the simulated venue, one after the other, until stopped."""

    settings: Settings
    outcomes: list[RoundOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        store = make_engine(self.settings.resolved_database_url)
        outbox = Outbox(self.settings.data_dir / "spool", self.settings.resolved_database_url).start()
        try:
            while not self.stop.is_set():
                round_ = SCHEDULE.next_to_wake(int(time.time() * 1000) + 500)
                while time.time() * 1000 < round_.wake_ms and not self.stop.is_set():
                    await asyncio.sleep(0.2)
                if self.stop.is_set():
                    return
                try:
                    gamma = GammaClient(self.settings.venue.gamma_url)
                    try:
                        market = await gamma.market(round_.slug)
                    finally:
                        await gamma.close()
                    runner = RoundRunner(
                        self.settings,
                        round_,
                        market,
                        RECIPE,
                        sink=outbox,
                        run_id="paper",
                        tape_dir=self.settings.data_dir / "tapes",
                        controls_check=ControlsWatch(store, RECIPE.limits),
                    )
                    self.outcomes.append(await runner.run())
                except Exception as exc:  # a round that fails is reported by the tests, not hidden
                    self.errors.append(f"{round_.slug}: {type(exc).__name__}: {exc}")
        finally:
            outbox.close(30.0)
            store.dispose()


@dataclass
class Stack:
    settings: Settings
    api_url: str
    console_url: str
    rounds: Rounds

    tokens: dict[Role, str] = field(default_factory=dict)

    def api(self, method: str, path: str, role: Role = Role.ADMIN, **kwargs: Any) -> httpx.Response:
        """The API as a user of the role (for a test's own checks, beside the browser): one login per role."""
        with httpx.Client(base_url=self.api_url, timeout=30) as client:
            if role not in self.tokens:
                login = client.post("/auth/login", json={"username": role.value, "password": PASSWORD})
                login.raise_for_status()
                self.tokens[role] = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {self.tokens[role]}"}
            return client.request(method, path, headers=headers, **kwargs)


def ensure_console_built() -> None:
    if (WEB / ".next" / "BUILD_ID").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: `make test` installs what the console needs (make web)")
    env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, env=env, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, env=env, check=True)


def wait_for(
    url: str, what: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 90
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2, follow_redirects=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (make browser)")
    ensure_console_built()
    root = tmp_path_factory.mktemp("console-stack")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(root / "prefect-home")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    url = f"sqlite:///{root / 'agent.sqlite'}"
    migrate(url)
    store = make_engine(url)
    with Session(store) as session:
        for role in Role:
            create_user(session, role.value, role, PASSWORD, now=datetime.now(UTC))
    store.dispose()

    with (
        SimServer(
            SimConfig(
                round_seconds=SCHEDULE.length_s, seed=41, market_maker=MarketMakerConfig(fair_noise=0.06)
            )
        ) as sim,
        prefect_test_harness(server_startup_timeout=90),
    ):
        prefect_url = str(PREFECT_API_URL.value())
        settings = load_settings(
            data_dir=root / "data",
            database_url=url,
            round_seconds=SCHEDULE.length_s,
            activation_lead_seconds=SCHEDULE.activation_lead_s,
            wake_lead_seconds=SCHEDULE.wake_lead_s,
            venue=sim.urls,
            risk={"min_book_depth_shares": 5},
            api={
                "jwt_secret": SESSION_SECRET,
                "backtest_price_file": PRICE_FILE,
                "prefect_api_url": prefect_url,
                # every console login reaches the API from the console's own address
                "login_rate_limit": "600/minute",
            },
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BTC_AGENT_")},
            "PREFECT_API_URL": prefect_url,
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "BTC_AGENT_DATA_DIR": str(settings.data_dir),
            "BTC_AGENT_DATABASE_URL": url,
        }
        backtests = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from flows.backtest import backtest_flow; backtest_flow.serve(name='backtest')",
            ],
            cwd=ROOT,
            env=env,
            stdout=(root / "backtest-serve.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        rounds = Rounds(settings)
        loop = threading.Thread(target=rounds.run, name="rounds", daemon=True)
        loop.start()
        console: subprocess.Popen[bytes] | None = None
        try:
            with serve_api(create_app(settings)) as api_url:
                port = free_port()
                console = subprocess.Popen(
                    [shutil.which("npm") or "npm", "run", "start", "--", "-p", str(port), "-H", "127.0.0.1"],
                    cwd=WEB,
                    env={
                        **os.environ,
                        "NEXT_TELEMETRY_DISABLED": "1",
                        "BTC_AGENT_API_URL": api_url,
                        "CONSOLE_SESSION_SECRET": SESSION_SECRET,
                        "PREFECT_UI_URL": prefect_url.removesuffix("/api"),
                        "PORT": str(port),
                    },
                    stdout=(root / "console.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                console_url = f"http://127.0.0.1:{port}"
                wait_for(f"{console_url}/login", "the console", console)
                yield Stack(settings, api_url, console_url, rounds)
        finally:
            rounds.stop.set()
            loop.join(60)
            for process in (console, backtests):
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def as_user(stack: Stack, browser: Any) -> Iterator[Callable[[Role], Any]]:
    """A fresh browser context logged in through the console's login page as the user of a role."""
    contexts: list[Any] = []

    def login(role: Role) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{stack.console_url}/login")
        page.fill("input[name=username]", role.value)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
        return page

    yield login
    for context in contexts:
        context.close()


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
