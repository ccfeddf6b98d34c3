"""The kill switch's local layer: the halt file, its fast path, and the fail-closed bookkeeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import APP_NAME, load_settings
from core.live import halt
from core.live.halt import FailClosed, HaltFileWatch, HaltNotice, clear_halt, read_halt, write_halt
from flows.launcher import kill_options

ROOT = Path(__file__).resolve().parents[2]


def test_a_halt_file_says_who_why_and_when_and_is_removed_by_resume(tmp_path: Path) -> None:
    path = halt.halt_path(tmp_path / "fresh" / "data")
    notice = HaltNotice.now("alice", "venue acting up")

    write_halt(path, notice)

    assert read_halt(path) == notice
    stored = json.loads(path.read_text())
    assert stored["actor"] == "alice"
    assert stored["reason"] == "venue acting up"
    assert stored["at"].startswith("20")
    assert notice.describe() == "halted by operator alice: venue acting up"
    assert [p.name for p in path.parent.iterdir()] == ["HALT"], "no temporary file is left behind"
    assert clear_halt(path)
    assert read_halt(path) is None
    assert not clear_halt(path)


def test_a_second_kill_replaces_the_notice_whole(tmp_path: Path) -> None:
    path = halt.halt_path(tmp_path)
    write_halt(path, HaltNotice("alice", "first", 1))
    write_halt(path, HaltNotice("bob", "second", 2))
    assert read_halt(path) == HaltNotice("bob", "second", 2)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "halt file present"), ("stop now\n", "stop now"), ("{not json", "{not json"), ("[1]", "[1]")],
)
def test_any_file_at_the_halt_path_halts(tmp_path: Path, text: str, reason: str) -> None:
    path = halt.halt_path(tmp_path)
    path.write_text(text)
    notice = HaltFileWatch(path).check()
    assert notice is not None
    assert notice.reason == reason
    assert notice.actor == "unknown"


def test_the_watch_stats_cheaply_and_sees_changes(tmp_path: Path) -> None:
    path = halt.halt_path(tmp_path)
    watch = HaltFileWatch(path)
    assert watch.check() is None
    write_halt(path, HaltNotice("alice", "one", 1))
    assert watch.check() == HaltNotice("alice", "one", 1)
    write_halt(path, HaltNotice("bob", "two", 2))
    assert watch.check() == HaltNotice("bob", "two", 2)
    clear_halt(path)
    assert watch.check() is None


def test_a_halt_path_that_cannot_be_examined_is_no_answer_and_an_unreadable_file_still_halts(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    with pytest.raises(NotADirectoryError):
        HaltFileWatch(halt.halt_path(blocked)).check()
    (tmp_path / "HALT").mkdir()
    notice = HaltFileWatch(halt.halt_path(tmp_path)).check()
    assert notice is not None
    assert "unreadable halt file" in notice.reason


@pytest.mark.parametrize("variable", ["BTC_AGENT_DATA_DIR", "btc_agent_data_dir"])
def test_the_fast_path_finds_the_data_dir_the_settings_would(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BTC_AGENT_DATA_DIR", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "somewhere"))
    assert halt.data_dir_from_env() == load_settings().data_dir == tmp_path / "somewhere"


def test_without_a_data_dir_variable_both_use_the_platform_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BTC_AGENT_DATA_DIR", raising=False)
    assert halt.APP_NAME == APP_NAME
    assert halt.data_dir_from_env({}) == load_settings().data_dir


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ("me", "operator halt")),
        (["--reason", "why"], ("me", "why")),
        (["--reason=why not", "--actor", "alice"], ("alice", "why not")),
        (["--actor=", "--reason", "--actor"], ("", "--actor")),
        (["--help"], None),
        (["--reason"], None),
        (["--reasn", "x"], None),
        (["extra"], None),
    ],
)
def test_the_fast_path_reads_kill_options_like_typer_or_leaves_them_to_it(
    args: list[str], expected: tuple[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "me")
    assert kill_options(args) == expected


def test_the_fast_path_writes_the_halt_file_before_importing_anything_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from flows.launcher import fast_kill\n"
        "fast_kill(['--reason', 'probe', '--actor', 'ci'])\n"
        "heavy = {'typer', 'click', 'pydantic', 'pydantic_settings', 'sqlalchemy', 'sqlmodel', 'alembic',\n"
        "         'prefect', 'httpx', 'psycopg', 'core.config', 'core.store'}\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))\n"
    )
    env = {**os.environ, "BTC_AGENT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
    notice = read_halt(halt.halt_path(tmp_path))
    assert notice is not None
    assert (notice.actor, notice.reason) == ("ci", "probe")


def test_kill_help_halts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "BTC_AGENT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "btc-agent"), "kill", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--reason" in done.stdout
    assert not halt.halt_path(tmp_path).exists()


def test_fail_closed_counts_the_grace_from_the_last_good_read_of_each_place() -> None:
    watch = FailClosed(2_000, 0, ("halt file", "store and Prefect"))
    assert watch.unreadable(2_000) == []
    watch.ok("halt file", 1_500)
    watch.failed("store and Prefect", "OperationalError: connection refused")
    assert watch.unreadable(2_400) == [
        "store and Prefect unreadable for 2.4 s (OperationalError: connection refused)"
    ]
    watch.ok("store and Prefect", 2_500)
    assert watch.unreadable(3_600) == ["halt file unreadable for 2.1 s (no answer)"]
    watch.ok("halt file", 3_600)
    assert watch.unreadable(3_600) == []
