"""`btc-agent kill` and `resume`: the store's halt flag, with an operator action for each."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.store.db import make_engine
from core.store.models import OperatorActionRow
from flows.cli import app
from tasks.control import read_kill_switch


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", url)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    return url


def test_kill_sets_the_halt_flag_and_records_who_and_why_and_resume_clears_it(store: str) -> None:
    runner = CliRunner()
    killed = runner.invoke(app, ["kill", "--reason", "venue acting up", "--actor", "alice"])
    assert killed.exit_code == 0, killed.output
    assert "HALTED" in killed.output
    engine = make_engine(store)
    switch = read_kill_switch(engine)
    assert switch.engaged
    assert switch.reason == "venue acting up"
    resumed = runner.invoke(app, ["resume", "--reason", "fixed", "--actor", "bob"])
    assert resumed.exit_code == 0, resumed.output
    assert not read_kill_switch(engine).engaged
    with Session(engine) as session:
        actions = session.exec(select(OperatorActionRow).order_by(OperatorActionRow.ts)).all()  # type: ignore[arg-type]
    assert [(a.actor, a.action, a.reason) for a in actions] == [
        ("alice", "halt", "venue acting up"),
        ("bob", "resume", "fixed"),
    ]


def test_backtest_refuses_a_bad_grid_before_any_work(store: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--start",
            "2025-12-10T00:00:00",
            "--end",
            "2025-12-10T01:00:00",
            "--grid",
            '{"nope": {"x": [1]}}',
        ],
    )
    assert result.exit_code == 2
    assert "not among the strategies" in result.output
