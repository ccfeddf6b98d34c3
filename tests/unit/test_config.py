import json
import os
import traceback
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import ENV_PREFIX, SECRET_FIELDS, Settings, SettingsError, env_name, load_settings

PRIVATE_KEY = "0xPRIVATE-KEY-abc123-must-never-be-printed"
DB_PASSWORD = "db-pass-hunter2-never-printed"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean BTC_AGENT_ environment whose data directory is the test's own."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    return tmp_path


def secret_location(field: str) -> tuple[str, ...]:
    """Where a secret lives in the settings: the API's signing key is in the `api` group."""
    return ("api", field) if field == "jwt_secret" else (field,)


def public_value(settings: Settings, location: tuple[str, ...]) -> object:
    value: object = settings.public_view()
    for part in location:
        assert isinstance(value, dict)
        value = value[part]
    return value


def everything_printable(settings: Settings) -> str:
    return "\n".join([json.dumps(settings.public_view()), repr(settings), str(settings)])


def test_defaults_run_a_paper_agent(environment: Path) -> None:
    settings = load_settings()

    assert settings.mode == "paper"
    assert not settings.live_confirmed
    assert not settings.live_trading_allowed
    assert settings.private_key is None


def test_default_database_is_a_sqlite_file_in_the_data_directory(environment: Path) -> None:
    settings = load_settings()

    assert settings.data_dir == environment
    assert settings.resolved_database_url == f"sqlite:///{environment / 'agent.sqlite'}"
    assert settings.resolved_spool_dir == environment / "spool"


def test_defaults_follow_the_venues_15_minute_schedule() -> None:
    settings = load_settings()

    assert (settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds) == (
        900,
        180,
        240,
    )


def test_top_level_values_are_read_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "300")
    monkeypatch.setenv("BTC_AGENT_ACTIVATION_LEAD_SECONDS", "60")
    monkeypatch.setenv("BTC_AGENT_WAKE_LEAD_SECONDS", "120")
    monkeypatch.setenv("BTC_AGENT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", "postgresql+psycopg://agent@db/agent")

    settings = load_settings()

    assert (settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds) == (
        300,
        60,
        120,
    )
    assert settings.log_level == "DEBUG"
    assert settings.resolved_database_url == "postgresql+psycopg://agent@db/agent"


def test_nested_values_are_read_with_a_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_RISK__MAX_DAILY_LOSS", "12.50")
    monkeypatch.setenv("BTC_AGENT_VENUE__CHAIN_ID", "80002")

    settings = load_settings()

    assert settings.risk.max_daily_loss == Decimal("12.50")
    assert settings.venue.chain_id == 80002


def test_setting_one_nested_value_keeps_the_other_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_RISK__MAX_DAILY_LOSS", "12.50")

    settings = load_settings()

    assert settings.risk.max_position_shares == Decimal(100)
    assert settings.risk.entry_price_cap == Decimal("0.95")


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUND_SECONDS", "300")
    monkeypatch.setenv("MODE", "live")

    settings = load_settings()

    assert settings.round_seconds == 900
    assert settings.mode == "paper"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BTC_AGENT_ROUND_SECONDS", "abc"),
        ("BTC_AGENT_ROUND_SECONDS", "0"),
        ("BTC_AGENT_RISK__MAX_DAILY_LOSS", "nan"),
        ("BTC_AGENT_RISK__MAX_DAILY_LOSS", "-5"),
        ("BTC_AGENT_RISK__ENTRY_PRICE_CAP", "1.5"),
        ("BTC_AGENT_RISK__NO_SUCH_LIMIT", "1"),
        ("BTC_AGENT_MODE", "demo"),
        ("BTC_AGENT_LOG_LEVEL", "LOUD"),
        ("BTC_AGENT_LIVE_CONFIRMED", "maybe"),
        ("BTC_AGENT_RISK", "not json"),
    ],
)
def test_malformed_values_fail_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_every_malformed_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "abc")
    monkeypatch.setenv("BTC_AGENT_RISK__MAX_DAILY_LOSS", "nan")

    with pytest.raises(SettingsError) as refused:
        load_settings()

    assert "BTC_AGENT_ROUND_SECONDS" in str(refused.value)
    assert "BTC_AGENT_RISK__MAX_DAILY_LOSS" in str(refused.value)


def test_the_bad_value_is_shown_beside_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "abc")

    with pytest.raises(SettingsError, match=r"BTC_AGENT_ROUND_SECONDS: .*'abc'"):
        load_settings()


def test_activation_lead_longer_than_the_round_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "120")

    with pytest.raises(SettingsError, match=r"activation_lead_seconds \(180\) exceeds round_seconds \(120\)"):
        load_settings()


def test_wake_lead_shorter_than_the_activation_lead_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_WAKE_LEAD_SECONDS", "120")

    with pytest.raises(SettingsError, match="wake_lead_seconds must lie between"):
        load_settings()


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_live_mode_without_a_private_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_MODE", "live")
    monkeypatch.setenv("BTC_AGENT_LIVE_CONFIRMED", "true")

    with pytest.raises(SettingsError, match="mode=live needs both BTC_AGENT_PRIVATE_KEY"):
        load_settings()


@pytest.mark.parametrize("confirmation", [None, "false"])
def test_live_mode_without_the_explicit_confirmation_is_refused(
    monkeypatch: pytest.MonkeyPatch, confirmation: str | None
) -> None:
    monkeypatch.setenv("BTC_AGENT_MODE", "live")
    monkeypatch.setenv("BTC_AGENT_PRIVATE_KEY", PRIVATE_KEY)
    if confirmation is not None:
        monkeypatch.setenv("BTC_AGENT_LIVE_CONFIRMED", confirmation)

    with pytest.raises(SettingsError, match="BTC_AGENT_LIVE_CONFIRMED=true") as refused:
        load_settings()

    assert PRIVATE_KEY not in str(refused.value)


def test_live_mode_with_a_key_and_the_confirmation_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_MODE", "live")
    monkeypatch.setenv("BTC_AGENT_PRIVATE_KEY", PRIVATE_KEY)
    monkeypatch.setenv("BTC_AGENT_LIVE_CONFIRMED", "true")

    settings = load_settings()

    assert settings.live_trading_allowed
    assert settings.private_key is not None
    assert settings.private_key.get_secret_value() == PRIVATE_KEY


def test_paper_mode_never_allows_live_trading_even_with_key_and_confirmation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BTC_AGENT_PRIVATE_KEY", PRIVATE_KEY)
    monkeypatch.setenv("BTC_AGENT_LIVE_CONFIRMED", "true")

    assert not load_settings().live_trading_allowed


def test_secrets_never_appear_in_the_public_view_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in SECRET_FIELDS:
        monkeypatch.setenv(env_name(secret_location(field)), f"{PRIVATE_KEY}-{field}")

    settings = load_settings()

    assert PRIVATE_KEY not in everything_printable(settings)
    assert all(public_value(settings, secret_location(field)) == "**********" for field in SECRET_FIELDS)


def test_a_secret_never_appears_in_the_error_about_another_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_PRIVATE_KEY", PRIVATE_KEY)
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "abc")

    with pytest.raises(SettingsError) as refused:
        load_settings()

    assert PRIVATE_KEY not in str(refused.value)


@pytest.mark.parametrize("field", sorted(SECRET_FIELDS))
def test_an_invalid_secret_is_named_but_its_value_is_not_shown(field: str) -> None:
    not_a_string = 987_654_321_987_654_321

    *group, name = secret_location(field)
    overrides: dict[str, object] = {group[0]: {name: not_a_string}} if group else {name: not_a_string}
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)

    assert env_name(secret_location(field)) in str(refused.value)
    assert str(not_a_string) not in "".join(traceback.format_exception(refused.value))


def test_public_view_masks_the_password_of_a_postgres_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", f"postgresql+psycopg://agent:{DB_PASSWORD}@db:5432/agent")

    settings = load_settings()

    assert settings.public_view()["database_url"] == "postgresql+psycopg://agent:***@db:5432/agent"
    assert DB_PASSWORD not in everything_printable(settings)


def test_public_view_does_not_echo_a_database_url_it_cannot_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", f"not a url {DB_PASSWORD}")

    assert load_settings().public_view()["database_url"] == "<unparseable URL>"


def test_public_view_shows_the_resolved_paths_and_is_json_safe(environment: Path) -> None:
    view = load_settings().public_view()

    assert json.loads(json.dumps(view)) == view
    assert view["database_url"] == f"sqlite:///{environment / 'agent.sqlite'}"
    assert view["spool_dir"] == str(environment / "spool")
    assert view["risk"]["max_daily_loss"] == "50"


def test_settings_cannot_be_changed_once_loaded() -> None:
    settings = load_settings()

    with pytest.raises(ValidationError):
        settings.mode = "live"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("location", "name"),
    [
        (("round_seconds",), "BTC_AGENT_ROUND_SECONDS"),
        (("risk", "max_daily_loss"), "BTC_AGENT_RISK__MAX_DAILY_LOSS"),
        (("risk", 0, "max_daily_loss"), "BTC_AGENT_RISK__MAX_DAILY_LOSS"),
        ((), "settings"),
    ],
)
def test_env_name_spells_a_field_location_as_its_variable(location: tuple[int | str, ...], name: str) -> None:
    assert env_name(location) == name


def test_public_view_masks_credentials_in_any_url_query_strings_included(
    monkeypatch: pytest.MonkeyPatch, environment: Path
) -> None:
    monkeypatch.setenv(
        "BTC_AGENT_DATABASE_URL", f"postgresql://agent@db:5432/agent?sslmode=require&password={DB_PASSWORD}"
    )
    monkeypatch.setenv("BTC_AGENT_VENUE__CLOB_URL", "https://trader:venue-pass-1@clob.example/api")
    monkeypatch.setenv("BTC_AGENT_VENUE__RTDS_URL", "wss://rtds.example/ws?token=venue-token-2&v=1")
    settings = load_settings()
    view = settings.public_view()
    assert view["database_url"] == "postgresql://agent@db:5432/agent?sslmode=require&password=***"
    assert view["venue"]["clob_url"] == "https://trader:***@clob.example/api"
    assert view["venue"]["rtds_url"] == "wss://rtds.example/ws?token=***&v=1"
    printable = everything_printable(settings)
    for secret in (DB_PASSWORD, "venue-pass-1", "venue-token-2"):
        assert secret not in printable


def test_btc_agent_config_prints_no_password_from_a_url(
    monkeypatch: pytest.MonkeyPatch, environment: Path
) -> None:
    from typer.testing import CliRunner

    from core.cli import app

    monkeypatch.setenv(
        "BTC_AGENT_DATABASE_URL", f"postgresql://agent:{DB_PASSWORD}@db/agent?password={DB_PASSWORD}"
    )
    monkeypatch.setenv("BTC_AGENT_VENUE__GAMMA_URL", "https://u:gamma-secret@gamma.example")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert DB_PASSWORD not in result.output
    assert "gamma-secret" not in result.output
    assert "postgresql://agent:***@db/agent?password=***" in result.output
