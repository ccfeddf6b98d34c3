"""The round report operators read in the Prefect UI: outcome and P&L first, then what was decided and why,
what filled, what it earned per strategy, the feeds, and every halt and trip.

Built from the store (the rows the round wrote, the one record of what happened) plus the run's outcome,
and rendered as markdown; numbers are shown at the venue's precision with their units.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.store.models import (
    DecisionRow,
    FillRow,
    OrderRow,
    RiskEventRow,
    RoundRow,
    SettlementRow,
    VenueRulesRow,
)

USD_STEP = Decimal("0.01")
FEE_STEP = Decimal("0.00001")
DEFAULT_TICK = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FillLine:
    ts: datetime
    side: str
    outcome: str
    price: Decimal
    size: Decimal
    fee: Decimal
    strategy: str


@dataclass(frozen=True, slots=True)
class TripLine:
    ts: datetime
    kind: str
    reason_code: str
    message: str


@dataclass(slots=True)
class RoundReport:
    """Everything the report shows, already counted."""

    slug: str
    status: str
    window_open: datetime
    window_close: datetime
    reason: str | None = None
    winner: str | None = None
    strike: Decimal | None = None
    settle_price: Decimal | None = None
    pnl: Decimal | None = None
    fees: Decimal = Decimal(0)
    tick: Decimal = DEFAULT_TICK
    policy: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    fills: list[FillLine] = field(default_factory=list)
    per_strategy: dict[str, Decimal] = field(default_factory=dict)
    trips: list[TripLine] = field(default_factory=list)
    feed_health: dict[str, Any] = field(default_factory=dict)
    halted: str | None = None

    @property
    def headline(self) -> str:
        """One line: who won, what we made, how the round ended."""
        won = f"{self.winner.upper()} won" if self.winner else "no outcome"
        pnl = f"P&L {signed_usd(self.pnl)} pUSD" if self.pnl is not None else "P&L -"
        traded = f"{len(self.fills)} fill{'s' if len(self.fills) != 1 else ''}"
        return f"{won} · {pnl} · {traded} · {self.status}"


def load_round_report(
    store: Engine,
    slug: str,
    mode: str,
    *,
    status: str,
    feed_health: dict[str, Any] | None = None,
    halted: str | None = None,
) -> RoundReport:
    """The round's report from its stored rows (this mode's run only)."""
    with Session(store) as session:
        round_row = session.get(RoundRow, slug)
        if round_row is None:
            raise LookupError(f"no round {slug} in the store")
        rules = session.get(VenueRulesRow, slug)
        decisions = session.exec(
            select(DecisionRow)
            .where(col(DecisionRow.round_slug) == slug)
            .where(col(DecisionRow.run_id) == mode)
        ).all()
        events = session.exec(
            select(RiskEventRow)
            .where(col(RiskEventRow.round_slug) == slug)
            .where(col(RiskEventRow.run_id) == mode)
            .order_by(col(RiskEventRow.ts))
        ).all()
        orders = session.exec(
            select(OrderRow).where(col(OrderRow.round_slug) == slug).where(col(OrderRow.run_id) == mode)
        ).all()
        fills = session.exec(
            select(FillRow)
            .where(col(FillRow.round_slug) == slug)
            .where(col(FillRow.run_id) == mode)
            .order_by(col(FillRow.ts))
        ).all()
        settlement = session.exec(
            select(SettlementRow)
            .where(col(SettlementRow.round_slug) == slug)
            .where(col(SettlementRow.run_id) == mode)
        ).first()
    strategy_of_decision = {d.id: d.strategy for d in decisions}
    strategy_of_order = {o.id: strategy_of_decision.get(o.decision_id or "", "manual") for o in orders}
    report = RoundReport(
        slug=slug,
        status=status,
        window_open=round_row.open_at,
        window_close=round_row.close_at,
        reason=round_row.reason,
        strike=round_row.strike,
        tick=rules.tick_size if rules is not None else DEFAULT_TICK,
        policy=Counter(d.policy for d in decisions),
        verdicts=Counter(e.reason_code for e in events if e.kind == "verdict"),
        fills=[
            FillLine(f.ts, f.side, f.outcome, f.price, f.size, f.fee, strategy_of_order.get(f.order_id, "-"))
            for f in fills
        ],
        trips=[TripLine(e.ts, e.kind, e.reason_code, e.message) for e in events if e.kind != "verdict"],
        feed_health=feed_health or {},
        halted=halted,
    )
    if settlement is not None:
        report.winner, report.pnl, report.fees = settlement.outcome, settlement.pnl, settlement.fees
        report.strike = settlement.strike if settlement.strike is not None else report.strike
        report.settle_price = settlement.settle_price
        per_strategy = settlement.details.get("per_strategy", {})
        report.per_strategy = {name: Decimal(value) for name, value in per_strategy.items()}
    return report


def usd(value: Decimal | None) -> str:
    """A BTC price in USD, to the cent: `95,827.44 USD`."""
    return "-" if value is None else f"{value.quantize(USD_STEP, ROUND_HALF_EVEN):,} USD"


def signed_usd(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.quantize(USD_STEP, ROUND_HALF_EVEN):+,}"


def fee(value: Decimal) -> str:
    return f"{value.quantize(FEE_STEP, ROUND_HALF_EVEN)}"


def price(value: Decimal, tick: Decimal) -> str:
    return f"{value.quantize(tick, ROUND_HALF_EVEN)}"


def shares(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01"), ROUND_HALF_EVEN).normalize(), "f")


def _time(ts: datetime) -> str:
    return ts.strftime("%H:%M:%S.%f")[:-3]


def render_markdown(report: RoundReport) -> str:
    """The report as markdown for a Prefect artifact."""
    lines = [
        f"# {report.slug}: {report.headline}",
        "",
        "| round | value |",
        "|---|---|",
        f"| window (UTC) | {report.window_open:%Y-%m-%d %H:%M:%S} to {report.window_close:%H:%M:%S} |",
        f"| status | **{report.status}**{f' ({report.reason})' if report.reason else ''} |",
        f"| strike | {usd(report.strike)} |",
        f"| settlement price | {usd(report.settle_price)} |",
        f"| winner | {report.winner.upper() if report.winner else '-'} |",
        f"| P&L, net of fees | {signed_usd(report.pnl)} pUSD (fees {fee(report.fees)} pUSD) |",
        f"| halted | {report.halted or 'no'} |",
        "",
        "## Decisions",
        "",
    ]
    lines += _counts("policy", report.policy, "no strategy proposed a trade")
    lines += ["", "## Risk verdicts", ""]
    lines += _counts("verdict", report.verdicts, "no order reached the risk guard")
    lines += ["", "## Fills", ""]
    if report.fills:
        lines += [
            "| time (UTC) | side | token | price | shares | fee (pUSD) | strategy |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_time(f.ts)} | {f.side} | {f.outcome.upper()} | {price(f.price, report.tick)} | "
            f"{shares(f.size)} | {fee(f.fee)} | {f.strategy} |"
            for f in report.fills
        ]
    else:
        lines.append("No fills.")
    lines += ["", "## Positions and P&L per strategy", ""]
    lines += _positions(report)
    lines += ["", "## Feeds", ""]
    lines += _feeds(report.feed_health)
    lines += ["", "## Halts and trips", ""]
    if report.trips or report.halted:
        lines += ["| time (UTC) | kind | reason | what |", "|---|---|---|---|"]
        lines += [f"| {_time(t.ts)} | {t.kind} | {t.reason_code} | {t.message} |" for t in report.trips]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _counts(what: str, counts: Counter[str], empty: str) -> list[str]:
    if not counts:
        return [empty + "."]
    rows = [f"| {what} | count |", "|---|---|"]
    rows += [f"| {name} | {n} |" for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return rows


def _positions(report: RoundReport) -> list[str]:
    held: dict[tuple[str, str], Decimal] = {}
    for f in report.fills:
        signed = f.size if f.side.upper() == "BUY" else -f.size
        key = (f.strategy, f.outcome)
        held[key] = held.get(key, Decimal(0)) + signed
    strategies = sorted({name for name, _ in held} | set(report.per_strategy))
    if not strategies:
        return ["No position."]
    rows = ["| strategy | UP shares | DOWN shares | P&L (pUSD) |", "|---|---|---|---|"]
    for name in strategies:
        up, down = held.get((name, "up"), Decimal(0)), held.get((name, "down"), Decimal(0))
        rows.append(
            f"| {name} | {shares(up)} | {shares(down)} | {signed_usd(report.per_strategy.get(name))} |"
        )
    return rows


def _feeds(health: dict[str, Any]) -> list[str]:
    if not health:
        return ["No feed ran."]
    rows = [
        "| feed | messages | reconnects | resyncs | malformed | longest silence | stale for | stale at the end "
        "| last error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, h in sorted(health.items()):
        error = str(h.get("last_error") or "")
        error = error if len(error) <= 80 else error[:77] + "..."
        reasons = h.get("resync_reasons") or {}
        resyncs = str(h.get("resyncs", 0))
        if reasons:
            resyncs += " (" + ", ".join(f"{why} x{n}" for why, n in sorted(reasons.items())) + ")"
        malformed = str(h.get("malformed", 0))
        if h.get("quarantined"):
            malformed += f" (+{h['quarantined']} implausible)"
        rows.append(
            f"| {name} | {h.get('messages', 0)} | {h.get('reconnects', 0)} | {resyncs} | {malformed} "
            f"| {_seconds(h.get('longest_silence_s'))} | {_seconds(h.get('stale_s'))} "
            f"| {'yes' if h.get('stale') else 'no'} | {error} |"
        )
    return rows


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def history_rows(store: Engine, mode: str, since: datetime) -> list[dict[str, Any]]:
    """Every round of `mode` opened since `since`, newest first, with the running total of P&L: the table
    that answers "how have we done today" on one page."""
    with Session(store) as session:
        rounds = session.exec(
            select(RoundRow)
            .where(col(RoundRow.mode) == mode)
            .where(col(RoundRow.open_at) >= since)
            .order_by(col(RoundRow.open_at))
        ).all()
        slugs = [r.slug for r in rounds]
        settled = {
            s.round_slug: s
            for s in session.exec(
                select(SettlementRow)
                .where(col(SettlementRow.round_slug).in_(slugs))
                .where(col(SettlementRow.run_id) == mode)
            ).all()
        }
        fills = Counter(
            f.round_slug
            for f in session.exec(
                select(FillRow).where(col(FillRow.round_slug).in_(slugs)).where(col(FillRow.run_id) == mode)
            ).all()
        )
        trips: dict[str, list[str]] = {}
        for event in session.exec(
            select(RiskEventRow)
            .where(col(RiskEventRow.round_slug).in_(slugs))
            .where(col(RiskEventRow.run_id) == mode)
            .where(col(RiskEventRow.kind) == "trip")
        ).all():
            trips.setdefault(event.round_slug or "", []).append(event.reason_code)
    total = Decimal(0)
    rows: list[dict[str, Any]] = []
    for round_row in rounds:
        settlement = settled.get(round_row.slug)
        pnl = settlement.pnl if settlement is not None else None
        total += pnl or Decimal(0)
        rows.append(
            {
                "open_utc": f"{round_row.open_at:%Y-%m-%d %H:%M}",
                "slug": round_row.slug,
                "status": round_row.status,
                "winner": settlement.outcome.upper() if settlement is not None else "-",
                "fills": fills.get(round_row.slug, 0),
                "pnl_pusd": signed_usd(pnl),
                "cumulative_pnl_pusd": signed_usd(total),
                "halts": ", ".join(sorted(set(trips.get(round_row.slug, [])))) or "-",
            }
        )
    return rows[::-1]
