"""Alerts through apprise to a local webhook receiver on loopback (`json://127.0.0.1:<port>/...`): an alert
arrives with its text, repeats and floods are held back but stored, a dead or hanging webhook never holds
up the caller and is recorded, and rounds and the settle step raise their alerts from real records."""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.adapters.polymarket.gamma import GammaClient, MarketInfo
from core.alerts.alerter import Alert, Alerter, store_sink
from core.alerts.codes import Severity
from core.alerts.listener import AlertListener
from core.clock import WallClock
from core.config import AlertSettings, Settings
from core.engine.assembly import EngineRecipe
from core.engine.policy import PolicyConfig
from core.events import Event, FeedStatus
from core.live.runner import RoundOutcome, RoundRunner, TeeSink
from core.market.rounds import RoundSchedule
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.db import make_engine, migrate
from core.store.models import AlertRow, RiskEventRow
from core.store.outbox import Outbox
from tasks.rounds import OFFICIAL_OUTCOME_MISSING, record_risk_event
from tests.support.clocks import ShiftedClock
from tests.support.engine_runs import model_path, rounds, run_round
from tests.support.tcp_proxy import TcpProxy

SLUG = "btc-updown-15m-1790000100"


@dataclass
class Receiver:
    """A webhook on loopback that keeps every JSON body POSTed to it."""

    server: ThreadingHTTPServer
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str = "/hooks/agent") -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.posts) >= count, timeout_s):
                raise AssertionError(f"{len(self.posts)} of {count} alerts arrived in {timeout_s} s")
            return list(self.posts)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found: Receiver

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with found.arrived:
                found.posts.append((self.path, body))
                found.arrived.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    found = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A webhook that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def refused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def stored_alerts(engine: Engine) -> list[AlertRow]:
    with Session(engine) as session:
        return sorted(session.exec(select(AlertRow)).all(), key=lambda row: row.ts)


def alerts_to(store: Engine, *urls: str, **overrides: Any) -> Alerter:
    return Alerter(AlertSettings(urls=urls, **overrides), store_sink(store), label="paper")


def stale_market_trip(alerter: Alerter) -> str:
    """A paper round whose market feed goes stale while it trades: the engine's own trip record reaches
    the alert listener the way `run_round` wires it."""
    round_ = rounds(1)[0]
    sink = TeeSink(_Discard(), progress=None)
    sink.listeners.append(AlertListener(alerter))
    stale: list[Event] = [FeedStatus(ts_ms=round_.activation_ms + 10_000, feed="market", stale=True)]
    events = heapq.merge(generate_round(model_path(), round_, seed=1), stale, key=lambda e: e.ts_ms)
    run_round(round_, model_path(), sink, events=events)
    return round_.slug


class _Discard:
    def put(self, row: Any, *, sync: bool = False) -> None:
        pass


def test_an_alert_from_a_stale_feed_trip_reaches_the_webhook_with_its_text_and_is_stored_as_sent(
    receiver: Receiver, store: Engine
) -> None:
    alerter = alerts_to(store, receiver.url())
    slug = stale_market_trip(alerter)
    [(path, body)] = receiver.wait_for(1)
    alerter.close()
    assert path == "/hooks/agent"
    assert body["title"] == f"[paper] WARNING feed_down · {slug}"
    assert body["message"].startswith("feed market went stale: the kill switch tripped; trading resumes")
    assert body["type"] == "warning"
    [row] = stored_alerts(store)
    assert (row.code, row.round_slug, row.sent, row.suppressed, row.source) == (
        "feed_down",
        slug,
        True,
        None,
        "round",
    )
    assert row.message == body["message"]


def test_a_repeat_within_the_window_is_not_sent_again_but_is_stored_as_a_duplicate(
    receiver: Receiver, store: Engine
) -> None:
    alerter = alerts_to(store, receiver.url(), dedup_seconds=300)
    alert = Alert("feed_down", Severity.WARNING, "feed market went stale", SLUG, "round", "market")
    alerter.alert(alert)
    receiver.wait_for(1)
    alerter.alert(alert)
    alerter.close()
    time.sleep(0.2)
    assert len(receiver.posts) == 1
    assert [(row.sent, row.suppressed) for row in stored_alerts(store)] == [
        (True, None),
        (False, "duplicate"),
    ]


def test_beyond_the_rate_limit_alerts_are_stored_as_rate_limited_and_not_sent(
    receiver: Receiver, store: Engine
) -> None:
    alerter = alerts_to(store, receiver.url(), max_per_minute=2)
    for feed in ("market", "rtds", "user"):
        alerter.alert(Alert("feed_down", Severity.WARNING, f"feed {feed} went stale", SLUG, "round", feed))
    receiver.wait_for(2)
    alerter.close()
    time.sleep(0.2)
    assert sorted(body["message"] for _, body in receiver.posts) == [
        "feed market went stale",
        "feed rtds went stale",
    ]
    assert [(row.message, row.suppressed) for row in stored_alerts(store) if not row.sent] == [
        ("feed user went stale", "rate_limited")
    ]


def test_a_refused_webhook_costs_the_caller_nothing_and_the_alert_is_stored_as_send_failed(
    store: Engine,
) -> None:
    alerter = alerts_to(store, f"json://127.0.0.1:{refused_port()}/hook")
    started = time.monotonic()
    alerter.alert(Alert("order_failure_burst", Severity.CRITICAL, "5 order errors in a row", SLUG))
    assert time.monotonic() - started < 0.05
    alerter.close()
    [row] = stored_alerts(store)
    assert row.sent is False
    assert row.suppressed is not None
    assert row.suppressed.startswith("send_failed: JSON: ")
    assert "Connection error" in row.details["send_error"]


def test_a_hanging_webhook_never_stalls_the_event_loop_and_the_alert_is_stored_after_the_timeout(
    hanging_port: int, store: Engine
) -> None:
    alerter = alerts_to(store, f"json://127.0.0.1:{hanging_port}/hook", send_timeout_seconds=1)

    async def a_round_raising_an_alert() -> float:
        """The longest the loop waited for a 10 ms sleep while the alert was out."""
        worst = 0.0
        alerter.alert(Alert("missed_activation", Severity.WARNING, "started late", SLUG))
        for _ in range(150):
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before)
        return worst

    worst = asyncio.run(a_round_raising_an_alert())
    assert worst < 0.1, f"the loop stalled {worst:.3f} s"
    started = time.monotonic()
    alerter.close(5)
    assert time.monotonic() - started < 2
    [row] = stored_alerts(store)
    assert (row.sent, row.code) == (False, "missed_activation")
    assert row.suppressed is not None
    assert row.suppressed.startswith("send_failed: JSON: ")
    assert "did not finish within" in row.details["send_error"]


def test_without_urls_alerts_still_land_in_the_store(store: Engine) -> None:
    alerter = Alerter(AlertSettings(), store_sink(store))
    stale_market_trip(alerter)
    alerter.close()
    assert [(row.code, row.sent, row.suppressed) for row in stored_alerts(store)] == [
        ("feed_down", False, "no_channels")
    ]


@pytest.mark.parametrize(
    ("kind", "code", "title"),
    [
        ("trip", "settlement_mismatch", "CRITICAL settlement_mismatch"),
        ("alert", OFFICIAL_OUTCOME_MISSING, "WARNING official_outcome_missing"),
    ],
)
def test_the_settle_steps_findings_reach_the_webhook_and_the_store(
    receiver: Receiver, tmp_path: Path, kind: str, code: str, title: str
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    settings = Settings(data_dir=tmp_path, database_url=url, alerts=AlertSettings(urls=(receiver.url(),)))
    record_risk_event(settings, SLUG, kind, code, "our outcome up differs from the venue's down")
    [(_, body)] = receiver.wait_for(1)
    assert body["title"] == f"[paper] {title} · {SLUG}"
    assert "our outcome up differs from the venue's down" in body["message"]
    store = make_engine(url)
    with Session(store) as session:
        [event] = session.exec(select(RiskEventRow)).all()
    [alert] = stored_alerts(store)
    store.dispose()
    assert (event.kind, event.reason_code) == (kind, code)
    assert (alert.code, alert.sent, alert.source, alert.details["risk_event_id"]) == (
        code,
        True,
        "settle",
        event.id,
    )


# --- a round on the simulated venue ----------------------------------------------------------------

ROUND_S, ACTIVATION_S = 16, 10


@pytest.mark.slow
def test_a_paper_round_whose_feeds_go_down_alerts_each_feed_once(receiver: Receiver, tmp_path: Path) -> None:
    """The market channel falls silent (its staleness trips the kill switch), then the price feed's network
    goes away for 7 s (it cannot reconnect: its staleness trips the kill switch for the Chainlink prices it
    carries, and heartbeats show it stale): one alert for each outage."""
    schedule = RoundSchedule(ROUND_S, ACTIVATION_S, ROUND_S)
    wall = time.time_ns() // 1_000_000
    round_ = schedule.round_at_ms(wall).next().next()
    clock = ShiftedClock(round_.open_ms - 5_000 - wall)  # room to start the venue and the API when busy
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    migrate(url)
    with SimServer(SimConfig(round_seconds=ROUND_S, seed=23, twap=False), clock=clock) as sim:
        rtds = urlsplit(sim.urls.rtds_url)
        proxy = TcpProxy("127.0.0.1", rtds.port or 80).start()
        venue = sim.urls.model_copy(
            update={"rtds_url": rtds._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()}
        )
        settings = Settings(
            data_dir=tmp_path,
            round_seconds=ROUND_S,
            activation_lead_seconds=ACTIVATION_S,
            wake_lead_seconds=ROUND_S,
            venue=venue,
            alerts=AlertSettings(urls=(receiver.url(),)),
        )
        outbox = Outbox(tmp_path / "spool", url).start()
        # as tasks.rounds.run_round wires it: alert records go to the round's outbox
        alerter = Alerter(settings.alerts, outbox.put, label=settings.mode)

        async def scenario() -> RoundOutcome:
            client = GammaClient(settings.venue.gamma_url)
            try:
                market: MarketInfo = await client.market(round_.slug)
            finally:
                await client.close()
            await clock.sleep_until(round_.open_ms + 200)
            runner = RoundRunner(
                settings,
                round_,
                market,
                EngineRecipe(limits=RiskLimits(), policy=PolicyConfig(min_interval_ms=1_000), cutoff_s=1),
                sink=outbox,
                run_id=settings.mode,
                clock=clock,
            )
            runner.sink.listeners.append(AlertListener(alerter))
            running = asyncio.create_task(runner.run())
            # One outage after the other: while the kill switch is tripped by one stale feed, a second
            # feed going stale trips nothing new (its alert then rests on the heartbeats alone).
            await clock.sleep_until(round_.open_ms + 1_500)
            await asyncio.to_thread(
                httpx.post, f"{sim.base_url}/_sim/faults", json={"silence": {"market": 6}}
            )
            await clock.sleep_until(round_.open_ms + 8_500)
            await asyncio.to_thread(proxy.cut)
            await clock.sleep_until(round_.open_ms + 15_500)
            await asyncio.to_thread(proxy.restore)
            return await running

        try:
            outcome = asyncio.run(scenario())
        finally:
            proxy.close()
        alerter.close()
        assert outbox.close(30.0)
    assert outcome.status in ("settled", "halted", "unsettled")
    posts = [body for _, body in receiver.posts]
    assert all(body["title"] == f"[paper] WARNING feed_down · {round_.slug}" for body in posts)
    named = sorted(body["message"].split()[1] for body in posts)
    assert len(named) == 2, posts
    assert named[1] == "market", posts
    price = named[0]
    assert price in {"chainlink", "rtds"}, "the price feed's outage once, by its trip or its heartbeats"
    store = make_engine(url)
    rows = stored_alerts(store)
    store.dispose()
    sent = {row.details["feed"]: row for row in rows if row.sent}
    assert set(sent) == {"market", price}
    assert sent["market"].details["reason_code"] == "stale_feed", "the market's outage is told by its trip"
    assert all(row.code == "feed_down" and row.round_slug == round_.slug for row in rows)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.mark.slow
def test_a_round_flow_started_too_late_alerts_its_missed_activation(
    prefect_server: None, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real round flow and its `run_round` task: the alert listener is on the round's sink."""
    from flows.round import round_flow

    schedule = RoundSchedule(30, 15, 25)
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    with SimServer(SimConfig(round_seconds=30, seed=5)) as sim:
        for name, value in sim.urls.model_dump().items():
            if name.endswith("_url"):
                monkeypatch.setenv(f"BTC_AGENT_VENUE__{name.upper()}", value)
        for name, value in {
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "ROUND_SECONDS": "30",
            "ACTIVATION_LEAD_SECONDS": "15",
            "WAKE_LEAD_SECONDS": "25",
            "ALERTS__URLS": receiver.url(),
        }.items():
            monkeypatch.setenv(f"BTC_AGENT_{name}", value)
        now = WallClock().now_ms()
        round_ = schedule.round_at_ms(now)
        if now >= round_.activation_ms + 3_000:  # too close to the close: the run might find it closed
            round_ = round_.next()
        time.sleep(max(0, round_.activation_ms - 3_000 - now) / 1000)  # past the last moment to warm up
        outcome = asyncio.run(round_flow(round_slug=round_.slug))
    assert outcome is not None
    assert outcome.status == "missed_activation"
    [(_, body)] = receiver.wait_for(1)
    assert body["title"] == f"[paper] WARNING missed_activation · {round_.slug}"
    store = make_engine(url)
    [row] = stored_alerts(store)
    store.dispose()
    assert (row.code, row.round_slug, row.sent) == ("missed_activation", round_.slug, True)
