"""GET /metrics: the agent's history as Prometheus series, read from the store at each scrape (the rounds
run in other processes; the store is what they share). Counts cover the live and paper runs only, never
backtests. docs/api/README.md lists every series."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from api.status import fresh_state, latest_heartbeat
from core.clock import Clock
from core.errors import ErrorCategory
from core.events import OrderStatus
from core.risk.state import KILL_SWITCH_KEY, KillSwitch
from core.store.models import (
    AlertRow,
    DecisionRow,
    FillRow,
    HeartbeatRow,
    OrderEventRow,
    OrderRow,
    RiskEventRow,
    RoundClaimRow,
    RoundRow,
    SettingRow,
    SettlementRow,
)
from core.store.spool import backlog_of

log = logging.getLogger(__name__)

PREFIX = "btc_agent"
MODES = ("paper", "live")
PNL_DAYS = 30
LATENCY_HOURS = 24
ENDINGS = ("filled", "canceled", "expired", "rejected")
CATEGORIES = frozenset(category.value for category in ErrorCategory)


class StoreCollector(Collector):
    """Every series from one read of the store (and the spool directory on this host)."""

    def __init__(self, store: Engine, spool_dir: Path, clock: Clock) -> None:
        self.store = store
        self.spool_dir = spool_dir
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the store answered this scrape, else 0.")
        try:
            families = self._from_store()
        except SQLAlchemyError as exc:
            log.warning("metrics: the store did not answer: %s", exc)
            up.add_metric([], 0)
            families = []
        else:
            up.add_metric([], 1)
        yield up
        yield from families
        yield self._backlog()

    def _from_store(self) -> list[Metric]:
        since = self.clock.now() - timedelta(days=PNL_DAYS)
        with Session(self.store) as session:
            rounds = session.exec(
                select(RoundRow.mode, RoundRow.status, func.count()).group_by(
                    col(RoundRow.mode), col(RoundRow.status)
                )
            ).all()
            settled: Sequence[Any] = session.execute(  # five columns: past sqlmodel's `select` overloads
                sa_select(
                    col(SettlementRow.run_id),
                    col(SettlementRow.ts),
                    col(SettlementRow.pnl),
                    col(SettlementRow.fees),
                    col(SettlementRow.details),
                )
                .where(col(SettlementRow.run_id).in_(MODES))
                .where(col(SettlementRow.run_id) == col(SettlementRow.mode))
                .where(col(SettlementRow.ts) >= since)
            ).all()
            orders = session.exec(
                select(OrderRow.run_id, func.count())
                .where(col(OrderRow.run_id).in_(MODES))
                .group_by(col(OrderRow.run_id))
            ).all()
            fills = session.exec(
                select(FillRow.run_id, FillRow.side, func.count())
                .where(col(FillRow.run_id).in_(MODES))
                .group_by(col(FillRow.run_id), col(FillRow.side))
            ).all()
            decisions = session.exec(
                select(DecisionRow.run_id, DecisionRow.policy, func.count())
                .where(col(DecisionRow.run_id).in_(MODES))
                .group_by(col(DecisionRow.run_id), col(DecisionRow.policy))
            ).all()
            risk = session.exec(
                select(RiskEventRow.run_id, RiskEventRow.kind, RiskEventRow.reason_code, func.count())
                .where(col(RiskEventRow.run_id).in_(MODES))
                .group_by(col(RiskEventRow.run_id), col(RiskEventRow.kind), col(RiskEventRow.reason_code))
            ).all()
            ended = session.exec(
                select(OrderRow.run_id, OrderEventRow.status, OrderEventRow.reason, func.count())
                .join(OrderRow, col(OrderRow.id) == col(OrderEventRow.order_id))
                .where(col(OrderRow.run_id).in_(MODES))
                .where(col(OrderEventRow.status).in_(ENDINGS))
                .group_by(col(OrderRow.run_id), col(OrderEventRow.status), col(OrderEventRow.reason))
            ).all()
            placed = session.exec(
                select(OrderRow.run_id, func.min(OrderEventRow.ts), DecisionRow.ts)
                .join(DecisionRow, col(DecisionRow.id) == col(OrderRow.decision_id))
                .join(OrderEventRow, col(OrderEventRow.order_id) == col(OrderRow.id))
                .where(col(OrderRow.run_id).in_(MODES))
                .where(col(OrderRow.ts) >= self.clock.now() - timedelta(hours=LATENCY_HOURS))
                .group_by(col(OrderRow.id), col(OrderRow.run_id), col(DecisionRow.ts))
            ).all()
            alerts = session.exec(
                select(AlertRow.code, AlertRow.severity, func.count()).group_by(
                    col(AlertRow.code), col(AlertRow.severity)
                )
            ).all()
            claims = session.exec(
                select(func.count()).select_from(RoundClaimRow).where(col(RoundClaimRow.released).is_(False))
            ).one()
            switch = session.get(SettingRow, KILL_SWITCH_KEY)
            beats = {mode: latest_heartbeat(session, mode) for mode in MODES}

        round_gauge = GaugeMetricFamily(
            f"{PREFIX}_rounds", "Rounds in the store by mode and status.", labels=["mode", "status"]
        )
        for mode, status, n in rounds:
            round_gauge.add_metric([mode, status], n)
        pnl = GaugeMetricFamily(
            f"{PREFIX}_pnl_pusd",
            f"Realised P&L in pUSD, net of fees, by mode and UTC day of settlement (last {PNL_DAYS} days).",
            labels=["mode", "day"],
        )
        fee = GaugeMetricFamily(
            f"{PREFIX}_fees_pusd",
            "Fees paid in pUSD by mode and UTC day of settlement.",
            labels=["mode", "day"],
        )
        per_day = _per_day([(mode, ts, amount, fees) for mode, ts, amount, fees, _ in settled])
        for (mode, day), (total, fees) in sorted(per_day.items()):
            pnl.add_metric([mode, day], float(total))
            fee.add_metric([mode, day], float(fees))
        by_strategy = GaugeMetricFamily(
            f"{PREFIX}_strategy_pnl_pusd",
            f"Realised P&L in pUSD net of fees, by mode, strategy and UTC day (last {PNL_DAYS} days).",
            labels=["mode", "strategy", "day"],
        )
        for (mode, strategy, day), total in sorted(_per_strategy(settled).items()):
            by_strategy.add_metric([mode, strategy, day], float(total))
        outcomes = CounterMetricFamily(
            f"{PREFIX}_order_outcomes",
            "Orders by how they ended (filled, canceled, expired, rejected) and, for failures, the category "
            "(rejected, transient, unknown, fatal, or venue when the venue refused it).",
            labels=["mode", "status", "category"],
        )
        for (mode, status, category), n in sorted(_outcomes(ended).items()):
            outcomes.add_metric([mode, status, category], n)
        to_order = GaugeMetricFamily(
            f"{PREFIX}_decision_to_order_ms",
            f"From a decision to the venue's first answer on its order, over the orders of the last "
            f"{LATENCY_HOURS} h (quantile 1 is the max; paper answers at once).",
            labels=["mode", "quantile"],
        )
        for mode, quantiles in _latency_quantiles(placed).items():
            for quantile, value in quantiles:
                to_order.add_metric([mode, quantile], value)
        alert_counter = CounterMetricFamily(
            f"{PREFIX}_alerts",
            "Alerts raised (sent or not), by code and severity.",
            labels=["code", "severity"],
        )
        for code, severity, n in alerts:
            alert_counter.add_metric([code, severity], n)
        order_counter = CounterMetricFamily(f"{PREFIX}_orders", "Orders placed, by mode.", labels=["mode"])
        for mode, n in orders:
            order_counter.add_metric([mode], n)
        fill_counter = CounterMetricFamily(
            f"{PREFIX}_fills", "Fills, by mode and side.", labels=["mode", "side"]
        )
        for mode, side, n in fills:
            fill_counter.add_metric([mode, side], n)
        decision_counter = CounterMetricFamily(
            f"{PREFIX}_decisions",
            "Strategy decisions, by mode and the policy's answer.",
            labels=["mode", "policy"],
        )
        for mode, policy, n in decisions:
            decision_counter.add_metric([mode, policy], n)
        risk_counter = CounterMetricFamily(
            f"{PREFIX}_risk_events",
            "Risk verdicts, trips, resets and alerts, by mode, kind and reason code.",
            labels=["mode", "kind", "reason"],
        )
        for mode, kind, reason, n in risk:
            risk_counter.add_metric([mode, kind, reason], n)
        open_claims = GaugeMetricFamily(
            f"{PREFIX}_open_round_claims", "Round claims not released: rounds running, or left to recover."
        )
        open_claims.add_metric([], claims)
        kill = GaugeMetricFamily(
            f"{PREFIX}_kill_switch_engaged",
            "1 when the store's kill switch is engaged (or unreadable), else 0.",
        )
        kill.add_metric([], _engaged(switch))
        return [
            round_gauge,
            pnl,
            fee,
            by_strategy,
            outcomes,
            to_order,
            alert_counter,
            order_counter,
            fill_counter,
            decision_counter,
            risk_counter,
            open_claims,
            kill,
            *self._live(beats),
        ]

    def _live(self, beats: dict[str, HeartbeatRow | None]) -> list[Metric]:
        """What the running round reports of itself, from its latest heartbeat: its age always, the rest
        only while it is fresh (a stale heartbeat describes a round that is gone)."""
        now = self.clock.now()
        age = GaugeMetricFamily(
            f"{PREFIX}_round_heartbeat_age_seconds",
            "Seconds since the round process of this mode last published its state.",
            labels=["mode"],
        )
        labels = ["mode", "feed"]
        connected = GaugeMetricFamily(
            f"{PREFIX}_feed_connected", "1 while the feed is connected.", labels=labels
        )
        stale = GaugeMetricFamily(f"{PREFIX}_feed_stale", "1 while the feed is stale.", labels=labels)
        silence = GaugeMetricFamily(
            f"{PREFIX}_feed_last_message_age_seconds", "Seconds since the feed's last message.", labels=labels
        )
        reconnects = GaugeMetricFamily(
            f"{PREFIX}_feed_reconnects", "Reconnections of the feed in the running round.", labels=labels
        )
        latency = GaugeMetricFamily(
            f"{PREFIX}_engine_latency_ms",
            "Receive-to-engine latency of the round's last events (quantile 1 is the maximum).",
            labels=["mode", "quantile"],
        )
        backlog = GaugeMetricFamily(
            f"{PREFIX}_round_outbox_backlog_records",
            "Records the running round's outbox holds that the store does not have yet.",
            labels=["mode"],
        )
        activation = GaugeMetricFamily(
            f"{PREFIX}_activation_error_seconds",
            "How late the running round's engine got its first chance to act after the scheduled activation.",
            labels=["mode"],
        )
        for mode, row in beats.items():
            if row is None:
                continue
            age.add_metric([mode], (now - row.ts).total_seconds())
            state, _ = fresh_state(row, mode, now)
            if state is None:
                continue
            for name, feed in state.feeds.items():
                connected.add_metric([mode, name], int(feed.connected))
                stale.add_metric([mode, name], int(feed.stale))
                reconnects.add_metric([mode, name], feed.reconnects)
                if feed.last_message_age_s is not None:
                    silence.add_metric([mode, name], feed.last_message_age_s)
            if state.latency is not None:
                for quantile, value in (("0.5", state.latency.p50_ms), ("0.99", state.latency.p99_ms)):
                    latency.add_metric([mode, quantile], value)
                latency.add_metric([mode, "1"], state.latency.max_ms)
            if state.outbox is not None:
                backlog.add_metric([mode], state.outbox.backlog)
            if state.activation_error_ms is not None:
                activation.add_metric([mode], state.activation_error_ms / 1000)
        return [age, connected, stale, silence, reconnects, latency, backlog, activation]

    def _backlog(self) -> Metric:
        backlog = GaugeMetricFamily(
            f"{PREFIX}_outbox_backlog_bytes",
            "Bytes spooled on this host that the store does not have yet, by spool (one per round attempt).",
            labels=["spool"],
        )
        if self.spool_dir.is_dir():
            for spool in sorted(p for p in self.spool_dir.iterdir() if p.is_dir()):
                backlog.add_metric([spool.name], backlog_of(spool))
        return backlog


def _per_day(
    rows: Sequence[tuple[str, datetime, Decimal, Decimal]],
) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """Summed here, not in SQL: SQLite keeps money as text, and its SUM would go through floats."""
    totals: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for mode, ts, amount, fee in rows:
        key = (mode, ts.date().isoformat())
        pnl, fees = totals.get(key, (Decimal(0), Decimal(0)))
        totals[key] = (pnl + amount, fees + fee)
    return totals


def _per_strategy(
    rows: Sequence[tuple[str, datetime, Decimal, Decimal, dict[str, Any]]],
) -> dict[tuple[str, str, str], Decimal]:
    totals: dict[tuple[str, str, str], Decimal] = {}
    for mode, ts, _, _, details in rows:
        for strategy, amount in (details or {}).get("per_strategy", {}).items():
            key = (mode, str(strategy), ts.date().isoformat())
            totals[key] = totals.get(key, Decimal(0)) + Decimal(str(amount))
    return totals


def _outcomes(rows: Sequence[tuple[str, str, str | None, int]]) -> dict[tuple[str, str, str], int]:
    """Ended orders by (mode, status, category): the engine writes an execution error's reason as
    `<category>: ...`; any other rejection is the venue's own."""
    totals: dict[tuple[str, str, str], int] = {}
    for mode, status, reason, n in rows:
        category = ""
        if status == OrderStatus.REJECTED.value:
            prefix = (reason or "").split(":", 1)[0]
            category = prefix if prefix in CATEGORIES else "venue"
        key = (mode, status, category)
        totals[key] = totals.get(key, 0) + n
    return totals


def _latency_quantiles(
    rows: Sequence[tuple[str, datetime, datetime]],
) -> dict[str, list[tuple[str, float]]]:
    per_mode: dict[str, list[float]] = {}
    for mode, ordered, decided in rows:
        per_mode.setdefault(mode, []).append((ordered - decided).total_seconds() * 1000)
    found = {}
    for mode, values in per_mode.items():
        values.sort()
        found[mode] = [
            ("0.5", values[len(values) // 2]),
            ("0.99", values[min(len(values) - 1, int(len(values) * 0.99))]),
            ("1", values[-1]),
        ]
    return found


def _engaged(row: SettingRow | None) -> int:
    if row is None:
        return 0
    try:
        return int(KillSwitch.from_setting(row.value).engaged)
    except ValueError:
        return 1


def registry_for(store: Engine, spool_dir: Path, clock: Clock) -> CollectorRegistry:
    """A registry of this app's own (not the process-global one), so several apps never collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, spool_dir, clock))
    return registry
