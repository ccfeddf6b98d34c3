"""Round exposure and account state: pure transitions, and what a restart rebuilds from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import datetime_to_ms, ms_to_datetime
from core.events import Fill, Liquidity, Outcome, Side
from core.ids import IdFactory
from core.risk.guard import RiskGuard
from core.risk.limits import RiskLimits
from core.risk.state import AccountState, KillSource, KillSwitch, RoundExposure
from core.risk.verdict import ReasonCode
from core.store.models import SettlementRow
from tests.support.risk import buy

DAY = datetime(2026, 5, 10, tzinfo=UTC)
ROUND = timedelta(minutes=15)


def settlement(at: datetime, pnl: str) -> SettlementRow:
    return SettlementRow(
        round_slug=f"btc-updown-15m-{int(at.timestamp())}",
        run_id="paper",
        ts=at,
        outcome="up",
        source="chainlink_spot",
        pnl=Decimal(pnl),
        fees=Decimal(0),
    )


def test_daily_loss_counts_only_settlements_of_the_current_utc_day() -> None:
    rows = [settlement(DAY - ROUND, "-40"), settlement(DAY + ROUND, "-7"), settlement(DAY + 2 * ROUND, "2")]

    state = AccountState.from_settlements(rows, datetime_to_ms(DAY + 3 * ROUND), RiskLimits())

    assert state.daily_pnl == Decimal(-5)
    assert state.day == DAY.date()


def test_the_loss_streak_survives_midnight() -> None:
    rows = [settlement(DAY - ROUND, "-1"), settlement(DAY + ROUND, "-1")]
    state = AccountState.from_settlements(rows, datetime_to_ms(DAY + 2 * ROUND), RiskLimits())
    assert state.loss_streak == 2


def test_a_cooldown_survives_a_restart() -> None:
    rows = [settlement(DAY + i * ROUND, "-1") for i in range(1, 4)]
    now = DAY + 4 * ROUND

    state = AccountState.from_settlements(rows, datetime_to_ms(now), RiskLimits())

    assert state.cooldown_until_ms == datetime_to_ms(DAY + 3 * ROUND + 4 * ROUND)
    assert state.in_cooldown(datetime_to_ms(now))


def test_a_daily_loss_trip_survives_a_restart_the_same_day_only() -> None:
    rows = [settlement(DAY + ROUND, "-50")]
    limits = RiskLimits()

    same_day = AccountState.from_settlements(rows, datetime_to_ms(DAY + 2 * ROUND), limits)
    next_day = AccountState.from_settlements(rows, datetime_to_ms(DAY + timedelta(days=1)), limits)

    assert same_day.kill_switch.is_automatic(ReasonCode.DAILY_LOSS)
    assert not next_day.kill_switch.engaged


def test_settlements_after_now_are_ignored() -> None:
    rows = [settlement(DAY + 2 * ROUND, "-9")]
    assert AccountState.from_settlements(rows, datetime_to_ms(DAY + ROUND), RiskLimits()).daily_pnl == 0


pnls = st.lists(st.integers(-30, 30).map(Decimal), max_size=12)


@given(pnls=pnls, data=st.data())
def test_rebuilding_from_settlements_gives_the_state_the_live_guard_ended_with(
    pnls: list[Decimal], data: st.DataObject
) -> None:
    start = DAY + timedelta(hours=22)
    rows = [settlement(start + i * ROUND, str(pnl)) for i, pnl in enumerate(pnls)]
    guard = RiskGuard(RiskLimits(), id_factory=IdFactory("live"))
    for row in rows:
        guard.record_settlement(row.pnl, datetime_to_ms(row.ts))
    now_ms = datetime_to_ms(start + len(pnls) * ROUND)

    rebuilt = AccountState.from_settlements(data.draw(st.permutations(rows)), now_ms, RiskLimits())

    assert rebuilt == guard.account.rolled(now_ms)


def test_kill_switch_setting_round_trips() -> None:
    switch = KillSwitch(True, "halted from the console", KillSource.MANUAL, ReasonCode.KILL_SWITCH, 17)
    assert KillSwitch.from_setting(switch.to_setting()) == switch
    assert KillSwitch.from_setting({"engaged": False}) == KillSwitch()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "on",
        {"engaged": "yes"},
        {"engaged": True, "source": "robot"},
        {"engaged": True, "since_ms": "0"},
    ],
)
def test_a_malformed_kill_switch_setting_is_an_error_not_a_release(value: object) -> None:
    with pytest.raises(ValueError, match="kill_switch"):
        KillSwitch.from_setting(value)


def test_exposure_tracks_orders_from_placement_to_fill() -> None:
    intent = buy(size=Decimal(10), price=Decimal("0.50"))
    exposure = RoundExposure().placed(intent)
    assert exposure.trades_placed == 1
    assert exposure.pending_buy_shares(Outcome.UP) == 10

    fill = Fill(
        ts_ms=1,
        order_id=intent.order_id,
        trade_id="t-1",
        token_id=intent.token_id,
        side=Side.BUY,
        price=Decimal("0.50"),
        size=Decimal(4),
        fee=Decimal("0.07"),
        liquidity=Liquidity.TAKER,
    )
    exposure = exposure.filled(fill, Outcome.UP)

    assert exposure.held(Outcome.UP) == 4
    assert exposure.pending_buy_shares(Outcome.UP) == 6
    assert exposure.notional_spent == Decimal("2.07")
    assert exposure.closed(intent.order_id).open_orders == ()
    assert exposure.closed(intent.order_id).held(Outcome.UP) == 4


def test_utc_day_of_an_instant() -> None:
    assert AccountState().rolled(datetime_to_ms(DAY)).day == ms_to_datetime(datetime_to_ms(DAY)).date()
