"""`btc-agent kill` and `resume`, run as an operator runs them: the halt file, the store's halt flag with an
operator action for each, and the deployment; each step reported, none blocked by another that fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.store.db import make_engine
from core.store.models import OperatorActionRow
from flows.cli import app
from tasks.control import read_kill_switch

BTC_AGENT = Path(sys.executable).with_name("btc-agent")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    monkeypatch.setenv("BTC_AGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BTC_AGENT_DATABASE_URL", url)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    return url


def btc_agent(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BTC_AGENT_", "PREFECT_"))}
    return subprocess.run(
        [str(BTC_AGENT), *args],
        env={**clean, "DO_NOT_TRACK": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_kill_puts_down_the_halt_file_and_the_flag_with_who_and_why_and_resume_clears_both(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite'}"
    env = {"BTC_AGENT_DATA_DIR": str(tmp_path), "BTC_AGENT_DATABASE_URL": url, "PREFECT_HOME": str(tmp_path)}

    killed = btc_agent("kill", "--reason", "venue acting up", "--actor", "alice", **env)

    assert killed.returncode == 0, killed.stdout + killed.stderr
    lines = killed.stdout.splitlines()
    assert lines[0] == "HALT by alice: venue acting up"
    assert lines[1].startswith(f"  halt file   done     {tmp_path / 'HALT'}")
    assert lines[2].startswith("  store flag  done     set in sqlite:///")
    assert lines[3] == "  deployment  skipped  not paused: no Prefect API configured (PREFECT_API_URL)"
    assert lines[4] == "HALTED"
    notice = json.loads((tmp_path / "HALT").read_text())
    assert (notice["actor"], notice["reason"]) == ("alice", "venue acting up")
    engine = make_engine(url)
    switch = read_kill_switch(engine)
    assert switch.engaged
    assert switch.reason == "venue acting up"
    assert switch.since_ms == notice["at_ms"], "one instant for the halt, whichever layer says it"

    resumed = btc_agent("resume", "--reason", "fixed", "--actor", "bob", **env)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "  halt file   done     removed at" in resumed.stdout
    assert not (tmp_path / "HALT").exists()
    assert not read_kill_switch(engine).engaged
    with Session(engine) as session:
        actions = session.exec(select(OperatorActionRow).order_by(OperatorActionRow.ts)).all()  # type: ignore[arg-type]
    assert [(a.actor, a.action, a.reason) for a in actions] == [
        ("alice", "halt", "venue acting up"),
        ("bob", "resume", "fixed"),
    ]


def test_kill_with_the_database_and_prefect_down_still_halts_locally_and_says_what_failed(
    tmp_path: Path,
) -> None:
    dead_db = f"postgresql://agent:secret@127.0.0.1:{closed_port()}/agent"
    started = time.monotonic()

    killed = btc_agent(
        "kill",
        "--reason",
        "outage",
        BTC_AGENT_DATA_DIR=str(tmp_path),
        BTC_AGENT_DATABASE_URL=dead_db,
        PREFECT_API_URL=f"http://127.0.0.1:{closed_port()}/api",
        PREFECT_HOME=str(tmp_path),
    )

    took = time.monotonic() - started
    assert killed.returncode == 1, killed.stdout + killed.stderr
    assert (tmp_path / "HALT").exists()
    out = killed.stdout
    assert "  halt file   done" in out
    assert "  store flag  failed   NOT SET in postgresql://agent:***@127.0.0.1:" in out
    assert "Connection refused" in out or "connection failed" in out
    assert "secret" not in out
    assert "  deployment  failed   NOT PAUSED: http://127.0.0.1:" in out
    assert out.rstrip().endswith("halted, but not everywhere: fix what failed and run kill again")
    assert took < 30, f"kill took {took:.1f} s against dead services"


def test_kill_with_unusable_settings_still_puts_down_the_halt_file(tmp_path: Path) -> None:
    killed = btc_agent(
        "kill", "--reason", "bad env", BTC_AGENT_DATA_DIR=str(tmp_path), BTC_AGENT_ROUND_SECONDS="often"
    )
    assert killed.returncode == 2
    assert "  halt file   done" in killed.stdout
    assert "BTC_AGENT_ROUND_SECONDS" in killed.stderr
    assert json.loads((tmp_path / "HALT").read_text())["reason"] == "bad env"


def test_the_kill_command_in_process_writes_every_layer_it_can(store: str, tmp_path: Path) -> None:
    """Without the console script's fast path (as `flows.cli:app`), `kill` writes the halt file itself."""
    killed = CliRunner().invoke(app, ["kill", "--reason", "in process", "--actor", "carol"])
    # The deployment step depends on the Prefect settings this test process started with.
    assert killed.exit_code in (0, 1), killed.output
    assert "halt file   done" in killed.output
    assert "store flag  done" in killed.output
    assert "deployment  " in killed.output
    assert json.loads((tmp_path / "HALT").read_text())["actor"] == "carol"
    assert read_kill_switch(make_engine(store)).engaged


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
