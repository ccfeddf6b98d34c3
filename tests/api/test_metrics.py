"""GET /metrics: Prometheus text that Prometheus's own parser reads, with every documented series, and
values that agree with the rows in the store (the agent's own runs only, never a backtest's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from core.clock import SimulatedClock
from core.config import Settings
from core.live.state import Latency, heartbeat
from core.risk.state import KILL_SWITCH_KEY, KillSource, KillSwitch
from core.store.auth import Role
from core.store.models import (
    AlertRow,
    OrderEventRow,
    OrderRow,
    RiskEventRow,
    RoundClaimRow,
    SettingRow,
    SettlementRow,
)
from core.store.outbox import OutboxStats
from core.store.spool import Spool
from tests.api.conftest import NOW, Headers
from tests.api.history_rows import HISTORY, history_rows, insert, round_state
from tests.support.rows import decision

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

SERIES = {
    "btc_agent_store_up",
    "btc_agent_rounds",
    "btc_agent_pnl_pusd",
    "btc_agent_fees_pusd",
    "btc_agent_orders_total",
    "btc_agent_fills_total",
    "btc_agent_decisions_total",
    "btc_agent_risk_events_total",
    "btc_agent_open_round_claims",
    "btc_agent_kill_switch_engaged",
    "btc_agent_outbox_backlog_bytes",
}
ORDER_SERIES = {
    "btc_agent_strategy_pnl_pusd",
    "btc_agent_order_outcomes_total",
    "btc_agent_decision_to_order_ms",
    "btc_agent_alerts_total",
}
"""Series that need orders, alerts or per-strategy settlements (tested on their own)."""
LIVE_SERIES = {
    "btc_agent_round_heartbeat_age_seconds",
    "btc_agent_feed_connected",
    "btc_agent_feed_stale",
    "btc_agent_feed_last_message_age_seconds",
    "btc_agent_feed_reconnects",
    "btc_agent_engine_latency_ms",
    "btc_agent_round_outbox_backlog_records",
    "btc_agent_activation_error_seconds",
}


def scrape(client: TestClient, headers: Headers) -> tuple[Samples, set[str]]:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    documented = set()
    for family in text_string_to_metric_families(answer.text):
        assert family.documentation, f"{family.name} has no help text"
        documented.add(family.name)
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples, documented


def risk(run_id: str, kind: str, reason: str) -> RiskEventRow:
    return RiskEventRow(
        run_id=run_id, kind=kind, approved=kind == "verdict", reason_code=reason, message=reason, ts=NOW
    )


def order(run_id: str) -> OrderRow:
    mode = "live" if run_id == "live" else "paper"
    return OrderRow(
        round_slug=HISTORY[0].round.slug,
        run_id=run_id,
        ts=NOW,
        mode=mode,
        token_id="111",
        outcome="up",
        side="BUY",
        order_type="FAK",
        price=Decimal("0.53"),
        size=Decimal(10),
    )


def test_the_metrics_parse_and_agree_with_the_store(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine, settings: Settings
) -> None:
    insert(store, history_rows())
    old = SettlementRow(
        round_slug="old",
        run_id="paper",
        ts=NOW - timedelta(days=40),
        outcome="up",
        source="chainlink_spot",
        pnl=Decimal(7),
        fees=Decimal(0),
    )
    switch = KillSwitch(engaged=True, reason="test", source=KillSource.MANUAL, since_ms=0)
    insert(
        store,
        [
            old,
            decision(run_id="paper", policy="accepted"),
            decision(run_id="paper", policy="accepted"),
            decision(run_id="live", policy="below_confidence"),
            decision(run_id="backtest-1"),
            order("paper"),
            order("paper"),
            order("live"),
            order("backtest-1"),
            risk("paper", "verdict", "ok"),
            risk("paper", "verdict", "entry_price_cap"),
            risk("live", "trip", "daily_loss"),
            risk("backtest-1", "trip", "daily_loss"),
            RoundClaimRow(
                slug=HISTORY[0].round.slug, holder="h", host="x", pid=1, claimed_at=NOW, lease_until=NOW
            ),
            RoundClaimRow(
                slug=HISTORY[1].round.slug,
                holder="h",
                host="x",
                pid=1,
                claimed_at=NOW,
                lease_until=NOW,
                released=True,
            ),
            SettingRow(key=KILL_SWITCH_KEY, value=switch.to_setting()),
        ],
    )
    spool = Spool(settings.resolved_spool_dir / f"{HISTORY[0].round.slug}-attempt-1")
    spool.append(b'{"table": "decisions"}')
    spool.sync()

    samples, documented = scrape(client, as_role(Role.VIEWER))
    spool.close()

    assert set(samples) >= SERIES
    assert documented >= {name.removesuffix("_total") for name in SERIES}
    assert samples["btc_agent_store_up"] == {(): 1.0}
    assert samples["btc_agent_rounds"] == {
        (("mode", mode), ("status", status)): n
        for (mode, status), n in Counter((s.mode, s.status) for s in HISTORY).items()
    }
    day = (("day", "2026-05-10"),)
    paper_pnl = sum((s.pnl for s in HISTORY if s.mode == "paper" and s.pnl is not None), Decimal(0))
    live_pnl = sum((s.pnl for s in HISTORY if s.mode == "live" and s.pnl is not None), Decimal(0))
    assert samples["btc_agent_pnl_pusd"] == {
        (*day, ("mode", "live")): float(live_pnl),
        (*day, ("mode", "paper")): float(paper_pnl),
    }, "by day of settlement, the last 30 days only"
    settled_live = sum(1 for s in HISTORY if s.mode == "live" and s.pnl is not None)
    assert samples["btc_agent_fees_pusd"][(*day, ("mode", "live"))] == float(
        Decimal("0.17436") * settled_live
    )
    assert samples["btc_agent_fills_total"] == {
        (("mode", mode), ("side", "BUY")): sum(1 for s in HISTORY if s.traded and s.mode == mode)
        for mode in ("paper", "live")
    }
    assert samples["btc_agent_orders_total"] == {(("mode", "paper"),): 2, (("mode", "live"),): 1}
    assert samples["btc_agent_decisions_total"] == {
        (("mode", "paper"), ("policy", "accepted")): 2,
        (("mode", "live"), ("policy", "below_confidence")): 1,
    }
    assert samples["btc_agent_risk_events_total"] == {
        (("kind", "verdict"), ("mode", "paper"), ("reason", "ok")): 1,
        (("kind", "verdict"), ("mode", "paper"), ("reason", "entry_price_cap")): 1,
        (("kind", "trip"), ("mode", "live"), ("reason", "daily_loss")): 1,
    }
    assert samples["btc_agent_open_round_claims"] == {(): 1}
    assert samples["btc_agent_kill_switch_engaged"] == {(): 1}
    backlog = samples["btc_agent_outbox_backlog_bytes"]
    assert backlog == {
        (("spool", f"{HISTORY[0].round.slug}-attempt-1"),): float(len(b'{"table": "decisions"}') + 10)
    }


def test_an_empty_store_still_gives_every_family_its_help(
    client: TestClient, as_role: Callable[[Role], Headers]
) -> None:
    samples, documented = scrape(client, as_role(Role.VIEWER))

    assert documented == {name.removesuffix("_total") for name in SERIES | LIVE_SERIES | ORDER_SERIES}
    assert samples["btc_agent_kill_switch_engaged"] == {(): 0}
    assert samples["btc_agent_open_round_claims"] == {(): 0}


def test_metrics_need_a_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401


def test_the_running_round_s_heartbeat_gives_feed_latency_and_outbox_series_while_fresh(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine, clock: SimulatedClock
) -> None:
    latency = Latency(samples=40, p50_ms=3.0, p99_ms=11.0, max_ms=19.0)
    outbox = OutboxStats(spooled=50, written=46)
    insert(store, [heartbeat(round_state(clock.now_ms() - 2000, latency=latency, outbox=outbox))])
    headers = as_role(Role.VIEWER)

    fresh, _ = scrape(client, headers)
    clock.advance(60_000)
    stale, _ = scrape(client, headers)

    feed = (("feed", "market"), ("mode", "paper"))
    assert fresh["btc_agent_round_heartbeat_age_seconds"] == {(("mode", "paper"),): 2.0}
    assert fresh["btc_agent_feed_connected"] == {feed: 1}
    assert fresh["btc_agent_feed_stale"] == {feed: 0}
    assert fresh["btc_agent_feed_last_message_age_seconds"] == {feed: 0.2}
    assert fresh["btc_agent_feed_reconnects"] == {feed: 1}
    assert fresh["btc_agent_engine_latency_ms"] == {
        (("mode", "paper"), ("quantile", "0.5")): 3.0,
        (("mode", "paper"), ("quantile", "0.99")): 11.0,
        (("mode", "paper"), ("quantile", "1")): 19.0,
    }
    assert fresh["btc_agent_round_outbox_backlog_records"] == {(("mode", "paper"),): 4}
    assert stale["btc_agent_round_heartbeat_age_seconds"] == {(("mode", "paper"),): 62.0}
    assert "btc_agent_feed_connected" not in stale, "a stale heartbeat describes a round that is gone"


def ended(order_row: OrderRow, status: str, reason: str | None = None, after_ms: int = 0) -> OrderEventRow:
    return OrderEventRow(
        order_id=order_row.id,
        ts=order_row.ts + timedelta(milliseconds=after_ms),
        status=status,
        filled_size=Decimal(10) if status == "filled" else Decimal(0),
        reason=reason,
    )


def test_orders_end_by_category_latency_strategy_pnl_and_alerts_agree_with_the_store(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine
) -> None:
    settled = [
        SettlementRow(
            round_slug=f"round-{i}",
            run_id=mode,
            mode=mode,
            ts=NOW - timedelta(days=days),
            outcome="up",
            source="chainlink_spot",
            pnl=Decimal(0),
            fees=Decimal(0),
            details={"per_strategy": per_strategy},
        )
        for i, (mode, days, per_strategy) in enumerate(
            [
                ("live", 0, {"fair_value": "1.25", "momentum": "-0.5"}),
                ("live", 0, {"fair_value": "0.75"}),
                ("paper", 1, {"momentum": "2"}),
                ("paper", 45, {"momentum": "9"}),  # older than 30 days: not a series any more
            ]
        )
    ]
    insert(store, settled)
    decided = decision(run_id="live", policy="accepted")
    filled, late, refused, errored = order("live"), order("live"), order("live"), order("paper")
    filled.decision_id = decided.id
    filled.ts = decided.ts
    insert(
        store,
        [
            decided,
            filled,
            late,
            refused,
            errored,
            ended(filled, "live", after_ms=120),
            ended(filled, "filled", after_ms=400),
            ended(late, "canceled"),
            ended(refused, "rejected", "not enough balance / allowance"),
            ended(errored, "rejected", "transient: timeout: the venue did not answer in 5 s"),
            AlertRow(ts=NOW, code="feed_down", severity="warning", message="m", source="round"),
            AlertRow(ts=NOW, code="feed_down", severity="warning", message="m", source="round", sent=True),
        ],
    )

    samples, _ = scrape(client, as_role(Role.VIEWER))

    assert samples["btc_agent_order_outcomes_total"] == {
        (("category", ""), ("mode", "live"), ("status", "filled")): 1,
        (("category", ""), ("mode", "live"), ("status", "canceled")): 1,
        (("category", "venue"), ("mode", "live"), ("status", "rejected")): 1,
        (("category", "transient"), ("mode", "paper"), ("status", "rejected")): 1,
    }
    assert samples["btc_agent_decision_to_order_ms"] == {
        (("mode", "live"), ("quantile", q)): 120.0 for q in ("0.5", "0.99", "1")
    }, "from the decision to the venue's first answer"
    assert samples["btc_agent_alerts_total"] == {(("code", "feed_down"), ("severity", "warning")): 2}
    today, yesterday = NOW.date().isoformat(), (NOW - timedelta(days=1)).date().isoformat()
    assert samples["btc_agent_strategy_pnl_pusd"] == {
        (("day", today), ("mode", "live"), ("strategy", "fair_value")): 2.0,
        (("day", today), ("mode", "live"), ("strategy", "momentum")): -0.5,
        (("day", yesterday), ("mode", "paper"), ("strategy", "momentum")): 2.0,
    }


def test_the_running_round_s_activation_error_is_a_series(
    client: TestClient, as_role: Callable[[Role], Headers], store: Engine, clock: SimulatedClock
) -> None:
    state = round_state(clock.now_ms() - 1000).model_copy(update={"activation_error_ms": 350})
    insert(store, [heartbeat(state)])

    samples, _ = scrape(client, as_role(Role.VIEWER))

    assert samples["btc_agent_activation_error_seconds"] == {(("mode", "paper"),): 0.35}
