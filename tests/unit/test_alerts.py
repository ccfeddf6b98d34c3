"""Alerts: deduplicated, rate limited, never blocking and always stored; raised once per episode from the
records the engine and the round runner really write."""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.adapters.polymarket.feed import FeedHealth
from core.adapters.polymarket.gamma import MarketInfo
from core.alerts.alerter import Alert, Alerter
from core.alerts.channels import Delivery
from core.alerts.codes import AlertCode, Severity
from core.alerts.listener import AlertListener
from core.config import ENV_PREFIX, AlertSettings, Settings, SettingsError, load_settings
from core.engine.assembly import EngineRecipe, build_engine
from core.engine.engine import ListSink, RoundEngine
from core.errors import ErrorCategory
from core.events import Event, FeedStatus
from core.execution.base import ApprovedOrder, ExecutionError, ExecutionEvent
from core.live.runner import RoundRunner, TeeSink
from core.live.state import heartbeat, live_state
from core.market.fees import CRYPTO_FEES_V2
from core.market.rounds import Round
from core.market.settlement import SettlementSource
from core.risk.limits import RiskLimits
from core.sim.generator import generate_round
from core.store.models import AlertRecord, HeartbeatRecord
from core.store.outbox import OutboxStats
from tests.support.clocks import ShiftedClock
from tests.support.engine_runs import market_of, model_path, rounds, run_round

SLUG = "btc-updown-15m-1790000100"


@dataclass
class Channel:
    """Records what it is asked to send; fails or stalls when told to."""

    fail: str | None = None
    stall: threading.Event | None = None
    sent: list[tuple[str, str, Severity]] = field(default_factory=list)

    def send(self, title: str, body: str, severity: Severity, timeout_s: float) -> Delivery:
        if self.stall is not None:
            self.stall.wait(30)
        self.sent.append((title, body, severity))
        return Delivery(False, self.fail) if self.fail else Delivery(True)


@dataclass
class Ticks:
    """A monotonic clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stored:
    records: list[AlertRecord] = field(default_factory=list)

    def __call__(self, record: AlertRecord) -> None:
        self.records.append(record)

    def by_code(self, code: str) -> list[AlertRecord]:
        return [r for r in self.records if r.code == code]


def settings(**overrides: Any) -> AlertSettings:
    return AlertSettings(**{"dedup_seconds": 300, "max_per_minute": 10, **overrides})


def alerter(
    channel: Channel | None, *, ticks: Ticks | None = None, **overrides: Any
) -> tuple[Alerter, Stored]:
    stored = Stored()
    made = Alerter(settings(**overrides), stored, label="paper", channels=channel, monotonic=ticks or Ticks())
    return made, stored


def feed_down(subject: str = "market", slug: str = SLUG) -> Alert:
    return Alert("feed_down", Severity.WARNING, f"feed {subject} went stale", slug, "round", subject)


def test_an_alert_is_sent_with_its_text_and_stored_as_sent() -> None:
    channel = Channel()
    made, stored = alerter(channel)
    made.alert(feed_down())
    made.close(5)
    assert channel.sent == [
        (f"[paper] WARNING feed_down · {SLUG}", "feed market went stale", Severity.WARNING)
    ]
    [record] = stored.records
    assert (record.code, record.sent, record.suppressed, record.round_slug) == ("feed_down", True, None, SLUG)


def test_a_repeat_within_the_window_is_stored_as_a_duplicate_and_not_sent_and_one_after_it_is_sent() -> None:
    channel, ticks = Channel(), Ticks()
    made, stored = alerter(channel, ticks=ticks, dedup_seconds=300)
    made.alert(feed_down())
    ticks.now += 299
    made.alert(feed_down())
    made.alert(feed_down("rtds"))  # another feed: another subject
    made.alert(feed_down(slug="btc-updown-15m-1790001000"))  # another round
    ticks.now += 2
    made.alert(feed_down())
    made.close(5)
    assert len(channel.sent) == 4
    market = [r for r in stored.records if r.round_slug == SLUG and "market" in r.message]
    assert sorted((r.sent, r.suppressed or "") for r in market) == [
        (False, "duplicate"),
        (True, ""),
        (True, ""),
    ]
    assert len(stored.records) == 5, "every alert is stored, sent or not"


def test_alerts_beyond_the_rate_limit_are_stored_as_rate_limited_until_a_minute_has_passed() -> None:
    channel, ticks = Channel(), Ticks()
    made, stored = alerter(channel, ticks=ticks, max_per_minute=2)
    for feed in ("market", "rtds", "user"):
        made.alert(feed_down(feed))
        ticks.now += 1
    ticks.now += 58
    made.alert(feed_down("user"))  # 60 s after the first: room again
    made.close(5)
    assert [body for _, body, _ in channel.sent] == [
        "feed market went stale",
        "feed rtds went stale",
        "feed user went stale",
    ]
    assert [(r.message, r.suppressed) for r in stored.records if not r.sent] == [
        ("feed user went stale", "rate_limited")
    ]


def test_without_urls_every_alert_is_stored_with_no_channels() -> None:
    stored = Stored()
    made = Alerter(AlertSettings(), stored)
    made.alert(feed_down())
    made.alert(feed_down())
    made.close(1)
    assert [(r.sent, r.suppressed) for r in stored.records] == [(False, "no_channels"), (False, "duplicate")]


def test_a_failed_send_is_stored_with_why_and_the_next_repeat_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = Channel(fail="JSON: A Connection error occurred sending JSON notification to 127.0.0.1.")
    made, stored = alerter(channel)
    with caplog.at_level(logging.WARNING, logger="core.alerts"):
        made.alert(feed_down())
        time.sleep(0.2)
        made.alert(feed_down())
        made.close(5)
    assert len(channel.sent) == 2, "an alert nobody received does not make its repeat a duplicate"
    assert [r.suppressed for r in stored.records] == [f"send_failed: {channel.fail}"[:64]] * 2
    assert stored.records[0].details["send_error"].endswith("to 127.0.0.1.")
    assert "not delivered" in caplog.text


def test_a_stalled_channel_never_blocks_the_caller_and_close_stores_what_it_could_not_send() -> None:
    stall = threading.Event()
    channel = Channel(stall=stall)
    made, stored = alerter(channel)
    started = time.monotonic()
    for feed in ("market", "rtds", "user"):
        made.alert(feed_down(feed))
    assert time.monotonic() - started < 0.05, "raising alerts does not wait for a channel"
    made.close(0.2)
    assert time.monotonic() - started < 1
    assert [(r.sent, r.suppressed) for r in stored.records] == [
        (False, "unsent: closed before it was delivered")
    ] * 3
    stall.set()
    time.sleep(0.1)
    assert len(stored.records) == 3, "a send that ends after close does not store its alert twice"


def test_a_store_that_fails_is_logged_and_never_raises_into_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(record: AlertRecord) -> None:
        raise OSError("disk full")

    made = Alerter(settings(), broken, channels=None)
    with caplog.at_level(logging.WARNING, logger="core.alerts"):
        made.alert(feed_down())
    assert "could not be stored (OSError: disk full): feed market went stale" in caplog.text


# --- the listener, on the records the engine and the runner write ---------------------------------


class Rejecting:
    """An executor whose every order the venue refuses."""

    mode = "paper"

    def submit(self, order: ApprovedOrder, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return [
            ExecutionError(order.intent.order_id, ErrorCategory.REJECTED, "no_balance", "balance too low")
        ]

    def cancel(self, order_id: str, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return []

    def cancel_all(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return []

    def observe(self, event: Event) -> list[ExecutionEvent | ExecutionError]:
        return []

    def poll(self, now_ms: int) -> list[ExecutionEvent | ExecutionError]:
        return []


def listening(channel: Channel | None = None, **overrides: Any) -> tuple[TeeSink, Stored, Alerter]:
    """The round's sink as `run_round` builds it: records pass on, and the alert listener hears each."""
    made, stored = alerter(channel if channel is not None else Channel(), dedup_seconds=0, **overrides)
    sink = TeeSink(ListSink(), progress=None)
    sink.listeners.append(AlertListener(made))
    return sink, stored, made


def with_feed_statuses(round_: Round, *statuses: tuple[int, str, bool]) -> Iterator[Event]:
    path = model_path()
    extra = [
        FeedStatus(ts_ms=round_.activation_ms + at, feed=feed, stale=stale) for at, feed, stale in statuses
    ]
    return heapq.merge(generate_round(path, round_, seed=1), extra, key=lambda event: event.ts_ms)


def test_a_stale_feed_trip_raises_feed_down_once_per_outage() -> None:
    round_ = rounds(1)[0]
    sink, stored, made = listening()
    events = with_feed_statuses(
        round_,
        (10_000, "market", True),
        (12_000, "chainlink", True),  # a second stale feed while tripped: no new trip, no new alert
        (20_000, "chainlink", False),
        (21_000, "market", False),
        (30_000, "market", True),  # a new outage
    )
    run_round(round_, model_path(), sink, events=events)
    made.close(5)
    down = stored.by_code(AlertCode.FEED_DOWN)
    assert [(r.round_slug, r.severity, r.details["feed"], r.sent) for r in down] == [
        (round_.slug, "warning", "market", True),
        (round_.slug, "warning", "market", True),
    ]
    assert down[0].message.startswith("feed market went stale: the kill switch tripped; trading resumes when")
    assert down[0].details["risk_event_id"], "the alert names the risk event it came from"
    assert stored.records == down, "nothing else alerted"


def test_an_order_error_burst_raises_one_critical_order_failure_burst() -> None:
    round_ = rounds(1)[0]
    sink, stored, made = listening()
    limits = RiskLimits().with_overrides({"order_error_burst": 2})
    run_round(round_, model_path(), sink, executor=Rejecting(), recipe_=EngineRecipe(limits=limits))
    made.close(5)
    [record] = stored.records
    assert (record.code, record.severity, record.details["scope"]) == (
        "order_failure_burst",
        "critical",
        "deployment",
    )
    assert record.message == (
        "order_error_burst: 2 order errors in a row; trading resumes when an operator resumes the deployment"
    )


def engine_on(sink: TeeSink) -> RoundEngine:
    round_ = rounds(1)[0]
    return build_engine(
        round_, market_of(round_, model_path()), EngineRecipe(limits=RiskLimits()), run_id="paper", sink=sink
    )


def test_an_operators_halt_is_an_info_kill_switch_trip_and_a_fail_closed_suspension_a_warning() -> None:
    sink, stored, made = listening()
    engine = engine_on(sink)
    now = engine.round.activation_ms
    engine.suspend("kill switch state unknown (halt file: EIO)", now)
    engine.unsuspend("readable again", now + 1_000)
    engine.halt("halted by operator alice: maintenance", now + 2_000)
    made.close(5)
    assert [(r.code, r.severity, r.details["reason_code"]) for r in stored.records] == [
        ("kill_switch_trip", "warning", "kill_switch_unreadable"),
        ("kill_switch_trip", "info", "kill_switch"),
    ]
    assert stored.records[1].message == "halted: halted by operator alice: maintenance"


def market_info(round_: Round) -> MarketInfo:
    return MarketInfo(
        slug=round_.slug,
        condition_id="0xc0",
        question="Bitcoin Up or Down?",
        up_token_id="up",
        down_token_id="down",
        window_open=round_.open,
        window_close=round_.close,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        fee_schedule=CRYPTO_FEES_V2,
        resolution_source=None,
        settlement_source=SettlementSource.CHAINLINK_SPOT,
        market_version=None,
        neg_risk=False,
        accepting_orders=True,
        closed=False,
        strike=None,
        winner=None,
    )


def test_a_run_that_misses_its_activation_raises_missed_activation() -> None:
    round_ = rounds(1)[0]
    clock = ShiftedClock(held=round_.activation_ms + 1_000)
    made, stored = alerter(Channel())
    runner = RoundRunner(
        Settings(),
        round_,
        market_info(round_),
        EngineRecipe(limits=RiskLimits()),
        sink=ListSink(),
        run_id="paper",
        clock=clock,
    )
    runner.sink.listeners.append(AlertListener(made))
    outcome = asyncio.run(runner.run())
    made.close(5)
    assert outcome.status == "missed_activation"
    [record] = stored.records
    assert (record.code, record.round_slug, record.severity, record.sent) == (
        "missed_activation",
        round_.slug,
        "warning",
        True,
    )
    assert record.message.startswith("the run could not be warm by the round's activation")


def health(feed: str, *, stale: bool = False, age: float | None = 0.2) -> FeedHealth:
    return FeedHealth(feed, not stale, stale, age, 10, 0, 0, None, 0, 0, None)


def beat(engine: RoundEngine, *, backlog: int = 0, stale: tuple[str, ...] = ()) -> HeartbeatRecord:
    feeds = {
        name: health(name, stale=name in stale, age=9.5 if name in stale else 0.2)
        for name in ("market", "rtds")
    }
    stats = OutboxStats(
        spooled=backlog + 100, written=100, consecutive_failures=3 if backlog else 0, last_error="refused"
    )
    state = live_state(engine, feeds, mode="paper", now_ms=engine.round.activation_ms, outbox=stats)
    return heartbeat(state)


def test_a_feed_stale_in_the_heartbeats_raises_feed_down_once_even_when_it_also_trips() -> None:
    sink, stored, made = listening()
    engine = engine_on(sink)
    at = engine.round.activation_ms
    for _ in range(3):
        sink.put(beat(engine, stale=("rtds",)))  # the price feed: stale, without a trip of its own
    engine.on_event(FeedStatus(ts_ms=at, feed="market", stale=True))
    sink.put(beat(engine, stale=("rtds", "market")))
    sink.put(beat(engine))
    sink.put(beat(engine, stale=("rtds",)))
    made.close(5)
    assert [(r.details["feed"], r.message) for r in stored.by_code("feed_down")] == [
        ("rtds", "feed rtds is stale (last message 9.5 s ago, connected: no)"),
        (
            "market",
            "feed market went stale: the kill switch tripped; trading resumes when every stale feed "
            "delivers again, or with the next round",
        ),
        ("rtds", "feed rtds is stale (last message 9.5 s ago, connected: no)"),
    ]


def test_an_outbox_backlog_alerts_once_until_it_has_fallen_to_half_the_threshold() -> None:
    sink, stored, made = listening(outbox_backlog=100)
    engine = engine_on(sink)
    for backlog in (20, 150, 400, 90, 51, 300, 50, 101):
        sink.put(beat(engine, backlog=backlog))
    made.close(5)
    backlog_alerts = stored.by_code("outbox_backlog")
    assert [r.details["backlog"] for r in backlog_alerts] == [150, 101]
    assert backlog_alerts[0].message == (
        "150 records wait in the outbox for the store (alert above 100); the store refused the last 3 writes: "
        "refused; they are safe in the spool"
    )


def test_a_record_the_listener_cannot_read_is_logged_and_never_raises_into_the_engine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, stored, made = listening()
    with caplog.at_level(logging.WARNING, logger="core.alerts"):
        sink.put(
            HeartbeatRecord(component="round:paper", status="active", details={"feeds": {"market": None}})
        )
    made.close(1)
    assert stored.records == []
    assert "could not be read for alerts" in caplog.text


# --- settings --------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))


def test_alert_urls_come_from_one_variable_as_a_list_or_separated_by_spaces_and_are_never_shown(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    token = "xoxb-very-secret"
    monkeypatch.setenv("BTC_AGENT_ALERTS__URLS", f"json://127.0.0.1:9/hook slack://{token}/B/C")
    monkeypatch.setenv("BTC_AGENT_ALERTS__MAX_PER_MINUTE", "3")
    found = load_settings()
    assert [u.get_secret_value() for u in found.alerts.urls] == [
        "json://127.0.0.1:9/hook",
        f"slack://{token}/B/C",
    ]
    assert found.alerts.max_per_minute == 3
    assert token not in json.dumps(found.public_view()) + repr(found) + str(found)
    monkeypatch.setenv("BTC_AGENT_ALERTS__URLS", json.dumps([f"tgram://{token}/42"]))
    assert [u.get_secret_value() for u in load_settings().alerts.urls] == [f"tgram://{token}/42"]


def test_a_bad_alert_url_stops_the_start_naming_the_variable_but_not_the_url(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    monkeypatch.setenv("BTC_AGENT_ALERTS__URLS", "hooks.example.com/very-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "BTC_AGENT_ALERTS__URLS" in str(caught.value)
    assert "very-secret" not in str(caught.value)
