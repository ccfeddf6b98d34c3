"""The alerter: every alert is deduplicated, rate limited, sent off the caller's thread and kept in the store.

An alert with the same code, round and subject as one let through less than `dedup_seconds` ago is stored as
`duplicate` and not sent; beyond `max_per_minute` let through in the last 60 s, as `rate_limited`; with no
usable URL, as `no_channels`. Those are stored at once, on the caller's thread (the round's outbox takes
them in microseconds). The rest go to one worker thread that sends each through the channels (at most
`send_timeout_seconds`) and then stores it, `sent` or `send_failed: <why>`: the caller never waits on a
webhook, and nothing here raises into it. A failed send lets the next repeat through, and `close` stores what
is still unsent when the process must move on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from core.alerts.channels import AppriseChannels, Channels, Delivery
from core.alerts.codes import Severity
from core.config import AlertSettings
from core.store.models import AlertRecord, new_id, utc_now
from core.store.writer import insert_rows, to_row

log = logging.getLogger(__name__)

AlertStore = Callable[[AlertRecord], None]
"""Where alert records go: the round's outbox (`outbox.put`), or `store_sink(engine)` outside a round."""

RATE_WINDOW_S = 60.0
SUPPRESSED_MAX = 64


@dataclass(frozen=True, slots=True)
class Alert:
    """Something to tell an operator. `subject` tells apart alerts of one code in one round (which feed,
    which trip): only an alert with the same code, round and subject is a duplicate."""

    code: str
    severity: Severity
    message: str
    round_slug: str | None = None
    source: str = "agent"
    subject: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return self.code, self.round_slug, self.subject


@dataclass(slots=True)
class _Pending:
    record: AlertRecord
    key: tuple[str, str | None, str]
    let_through_at: float


def store_sink(engine: Engine) -> AlertStore:
    """Alert records written straight to the store: for work outside a round, which has no outbox."""

    def put(record: AlertRecord) -> None:
        insert_rows(engine, [("alerts", to_row("alerts", record.model_dump(mode="json")))])

    return put


class Alerter:
    """One process's alerts. `alert` is safe from any thread and returns at once; `close` before exiting."""

    def __init__(
        self,
        settings: AlertSettings,
        store: AlertStore,
        *,
        label: str = "btc-agent",
        channels: Channels | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self._store = store
        self._label = label
        self._channels = channels if channels is not None else _configured(settings)
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._let_through: dict[tuple[str, str | None, str], float] = {}
        self._recent: deque[float] = deque()
        self._pending: dict[str, _Pending] = {}
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._closed = False

    def alert(self, alert: Alert) -> None:
        """Store the alert and, unless it is suppressed, have it sent; never blocks on a channel, never raises."""
        try:
            self._alert(alert)
        except Exception:
            log.warning("alert %s not handled: %s", alert.code, alert.message, exc_info=True)

    def _alert(self, alert: Alert) -> None:
        record = AlertRecord(
            id=new_id(),
            ts=self._now(),
            code=alert.code,
            severity=alert.severity.value,
            message=alert.message[:500],
            round_slug=alert.round_slug,
            source=alert.source,
            details=dict(alert.details),
        )
        with self._lock:
            now = self._monotonic()
            record.suppressed = self._verdict(alert, now)
            if record.suppressed is None:
                self._pending[record.id] = _Pending(record, alert.key, now)
                self._start_worker()
                self._queue.put(record.id)
        log.info(
            "alert %s (%s) %s: %s",
            alert.code,
            alert.severity.value,
            record.suppressed or "to send",
            alert.message,
        )
        if record.suppressed is not None:
            self._keep(record)

    def _verdict(self, alert: Alert, now: float) -> str | None:
        """None to send the alert now, else why it is only stored. Called under the lock."""
        last = self._let_through.get(alert.key)
        if last is not None and now - last < self.settings.dedup_seconds:
            return "duplicate"
        if self._closed:
            return "closed"
        if self._channels is None:
            self._let_through[alert.key] = now
            return "no_channels"
        while self._recent and now - self._recent[0] >= RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= self.settings.max_per_minute:
            return "rate_limited"
        self._recent.append(now)
        self._let_through[alert.key] = now
        return None

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="alerts", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while (alert_id := self._queue.get()) is not None:
            with self._lock:
                pending = self._pending.get(alert_id)
            if pending is None:
                continue
            record = pending.record
            delivery = self._deliver(record)
            with self._lock:
                if self._pending.pop(alert_id, None) is None:
                    continue  # `close` stored it as unsent while we were still trying
                if not delivery.sent and self._let_through.get(pending.key) == pending.let_through_at:
                    del self._let_through[pending.key]  # not delivered: the next repeat may try again
            record.sent = delivery.sent
            if delivery.error is not None:
                record.suppressed = f"send_failed: {delivery.error}"[:SUPPRESSED_MAX]
                record.details = {**record.details, "send_error": delivery.error[:1000]}
                log.warning("alert %s not delivered everywhere: %s", record.code, delivery.error)
            self._keep(record)

    def _deliver(self, record: AlertRecord) -> Delivery:
        assert self._channels is not None
        where = f" · {record.round_slug}" if record.round_slug else ""
        title = f"[{self._label}] {record.severity.upper()} {record.code}{where}"
        return self._channels.send(
            title, record.message, Severity(record.severity), self.settings.send_timeout_seconds
        )

    def _keep(self, record: AlertRecord) -> None:
        try:
            self._store(record)
        except Exception as exc:
            log.warning(
                "alert %s could not be stored (%s: %s): %s",
                record.code,
                type(exc).__name__,
                exc,
                record.message,
            )

    def close(self, timeout_s: float | None = None) -> None:
        """Wait up to `timeout_s` (default: the send timeout) for alerts still being sent, then store those
        that are not as `unsent: closed`. Alerts raised afterwards are stored only."""
        with self._lock:
            self._closed = True
            worker = self._worker
        self._queue.put(None)
        if worker is not None:
            worker.join(self.settings.send_timeout_seconds + 1 if timeout_s is None else timeout_s)
        with self._lock:
            left = [pending.record for pending in self._pending.values()]
            self._pending.clear()
        for record in left:
            record.suppressed = "unsent: closed before it was delivered"
            log.warning("alert %s not delivered before the alerter closed: %s", record.code, record.message)
            self._keep(record)


def _configured(settings: AlertSettings) -> AppriseChannels | None:
    """The settings' URLs as channels; None when there are none apprise can use."""
    if not settings.urls:
        return None
    try:
        channels = AppriseChannels([url.get_secret_value() for url in settings.urls])
    except Exception as exc:  # alerts must never stop a round: they are stored, unsent
        log.warning("alert channels unusable (%s): alerts are only stored", type(exc).__name__)
        return None
    return channels if len(channels) else None
