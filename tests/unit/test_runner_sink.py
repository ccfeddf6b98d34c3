"""The round runner's sink: records pass through; trips reach the pause hook; people see what matters."""

from __future__ import annotations

from decimal import Decimal

from core.engine.engine import ListSink
from core.live.runner import TeeSink
from core.store.models import FillRecord, RiskEventRecord


def trip(kind: str) -> RiskEventRecord:
    return RiskEventRecord(
        round_slug="btc-updown-15m-0",
        run_id="paper",
        kind=kind,
        approved=False,
        reason_code="daily_loss",
        message="lost 50",
    )


def test_an_automatic_trip_calls_the_pause_hook_and_a_verdict_does_not() -> None:
    calls: list[str] = []
    inner = ListSink()
    sink = TeeSink(inner, progress=None, on_trip=calls.append)
    sink.put(trip("verdict"))
    sink.put(trip("trip"))
    assert calls == ["daily_loss: lost 50"]
    assert len(inner.rows) == 2


def test_fills_are_shown_to_whoever_watches() -> None:
    lines: list[str] = []
    sink = TeeSink(ListSink(), progress=lines.append)
    sink.put(
        FillRecord(
            order_id="o",
            round_slug="s",
            run_id="paper",
            trade_id="t",
            token_id="up",
            outcome="up",
            side="BUY",
            price=Decimal("0.5"),
            size=Decimal(10),
            fee=Decimal("0.175"),
            liquidity="taker",
            status="MATCHED",
        )
    )
    assert lines == ["fill      BUY 10 up @ 0.5 fee 0.175 (taker)"]


def verdict(reason: str, *, approved: bool = False) -> RiskEventRecord:
    return RiskEventRecord(
        round_slug="s", run_id="paper", kind="verdict", approved=approved, reason_code=reason, message=reason
    )


def test_the_first_refusal_of_each_reason_is_a_warning_its_repeats_are_not_and_approvals_are_quiet() -> None:
    lines: list[str] = []
    alerts: list[str] = []
    sink = TeeSink(ListSink(), progress=lines.append, alert=alerts.append)
    for reason in ("stale_feed", "stale_feed", "max_trades_per_round", "stale_feed"):
        sink.put(verdict(reason))
    sink.put(verdict("ok", approved=True))
    assert [a.split(":")[1].split(" - ")[0].strip() for a in alerts] == ["stale_feed", "max_trades_per_round"]
    assert lines == [
        "risk      refused again (2x): stale_feed - stale_feed",
        "risk      refused again (3x): stale_feed - stale_feed",
    ]
