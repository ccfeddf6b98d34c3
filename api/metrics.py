"""GET /metrics: the agent's history as Prometheus series, read from the store at each scrape (the rounds
run in other processes; the store is what they share). Counts cover the live and paper runs only, never
backtests. docs/api/README.md lists every series."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from api.status import fresh_state, latest_heartbeat
from core.clock import Clock
from core.risk.state import KILL_SWITCH_KEY, KillSwitch
from core.store.models import (
    DecisionRow,
    FillRow,
    HeartbeatRow,
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
            settled = session.exec(
                select(
                    col(SettlementRow.run_id),
                    col(SettlementRow.ts),
                    col(SettlementRow.pnl),
                    col(SettlementRow.fees),
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
        per_day = _per_day(settled)
        for (mode, day), (total, fees) in sorted(per_day.items()):
            pnl.add_metric([mode, day], float(total))
            fee.add_metric([mode, day], float(fees))
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
        return [age, connected, stale, silence, reconnects, latency, backlog]

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
