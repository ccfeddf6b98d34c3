"""The command line: useful answers, clear errors with exit code 2, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    return tmp_path


def test_round_shows_the_window_activation_and_cron_of_a_slug() -> None:
    result = runner.invoke(app, ["round", "--slug", "btc-updown-15m-1778437800"])
    assert result.exit_code == 0
    assert "open       2026-05-10T18:30:00+00:00" in result.output
    assert "activation 2026-05-10T18:42:00+00:00" in result.output
    assert "cron       11,26,41,56 * * * *" in result.output


def test_round_refuses_a_bad_slug_with_the_expected_form() -> None:
    result = runner.invoke(app, ["round", "--slug", "btc-updown-15m-12"])
    assert result.exit_code == 2
    assert "not a multiple of 900" in result.output


def test_fee_reproduces_the_venue_worked_example() -> None:
    result = runner.invoke(app, ["fee", "100", "0.50"])
    assert result.exit_code == 0
    assert "taker fee  1.75" in result.output


def test_fee_refuses_a_price_outside_the_unit_interval() -> None:
    result = runner.invoke(app, ["fee", "100", "1.2"])
    assert result.exit_code == 2
    assert "outside (0, 1)" in result.output


def test_config_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_PRIVATE_KEY", "0xsecret-key-material")
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", "postgresql://agent:hunter2@db.example/agent")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert "0xsecret-key-material" not in result.output
    assert "hunter2" not in result.output
    assert '"mode": "paper"' in result.output


def test_malformed_settings_stop_the_command_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTC_AGENT_ROUND_SECONDS", "fifteen minutes")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "BTC_AGENT_ROUND_SECONDS" in result.output


def test_db_upgrade_creates_the_default_sqlite_store(isolated_data_dir: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (isolated_data_dir / "agent.sqlite").exists()
