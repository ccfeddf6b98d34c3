"""Risk limits: start-up values from settings, live overrides from the settings table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session

from core.config import RiskLimitsSettings
from core.risk.limits import LIMITS_KEY, LimitsError, RiskLimits, load_limits
from core.store.db import make_engine
from core.store.models import SettingRow


def test_limits_have_every_setting_with_the_same_default() -> None:
    settings = RiskLimitsSettings()
    limits = RiskLimits.from_settings(settings)
    for name, value in settings.model_dump().items():
        assert getattr(limits, name) == value
    assert limits == RiskLimits()


def test_limits_take_the_values_settings_were_given() -> None:
    settings = RiskLimitsSettings(max_daily_loss=Decimal(20), max_trades_per_round=2)
    limits = RiskLimits.from_settings(settings)
    assert (limits.max_daily_loss, limits.max_trades_per_round) == (Decimal(20), 2)


def test_limits_apply_json_overrides() -> None:
    limits = RiskLimits().with_overrides(
        {"max_daily_loss": 20.5, "min_edge_after_fees": "0.03", "max_trades_per_round": 2}
    )
    assert limits.max_daily_loss == Decimal("20.5")
    assert limits.min_edge_after_fees == Decimal("0.03")
    assert limits.max_trades_per_round == 2
    assert limits.max_position_shares == RiskLimits().max_position_shares


def test_limits_reject_unknown_override_keys() -> None:
    with pytest.raises(LimitsError, match=r"unknown risk limit\(s\): max_dayly_loss, position_cap"):
        RiskLimits().with_overrides({"position_cap": 1, "max_dayly_loss": 10, "max_daily_loss": 10})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_daily_loss", -5),
        ("max_daily_loss", "lots"),
        ("entry_price_cap", "1"),
        ("max_trades_per_round", True),
        ("max_trades_per_round", 1.5),
        ("order_error_burst", 0),
        ("stale_feed_seconds", float("inf")),
        ("require_fair_probability", "no"),
    ],
)
def test_limits_reject_invalid_override_values_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(LimitsError, match=key):
        RiskLimits().with_overrides({key: value})


def test_limits_are_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        RiskLimits().max_daily_loss = Decimal(1)  # type: ignore[misc]


def test_load_limits_without_overrides_gives_the_defaults(sqlite_url: str) -> None:
    defaults = RiskLimits().with_overrides({"max_daily_loss": 30})
    assert load_limits(make_engine(sqlite_url), defaults) is defaults


def test_load_limits_applies_the_stored_overrides(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        session.add(SettingRow(key=LIMITS_KEY, value={"max_daily_loss": "12.5", "min_book_depth_ticks": 1}))
        session.commit()

    limits = load_limits(engine, RiskLimits())
    with Session(engine) as session:
        from_session = load_limits(session, RiskLimits())

    assert limits == from_session
    assert limits.max_daily_loss == Decimal("12.5")
    assert limits.min_book_depth_ticks == 1


@pytest.mark.parametrize("value", [{"max_daily_loss": 0}, {"nope": 1}, ["max_daily_loss", 5]])
def test_load_limits_fails_loudly_on_a_bad_stored_override(sqlite_url: str, value: object) -> None:
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        session.add(SettingRow(key=LIMITS_KEY, value=value))
        session.commit()

    with pytest.raises(LimitsError):
        load_limits(engine, RiskLimits())
