"""The outbox against real databases: no record lost, none written twice, through outages and crashes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.store.db import make_engine
from core.store.outbox import Outbox
from tests.support.outbox_child import record_id
from tests.support.rows import audit_rows, decision
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]


def count(url: str, table: str = "decisions") -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT id FROM decisions"))}
    finally:
        engine.dispose()


def wait_until(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def proxied(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def run_child(spool: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.support.outbox_child", str(spool), url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_outbox_writes_every_record_of_every_table_once(store_url: str, tmp_path: Path) -> None:
    rows = audit_rows()
    with Outbox(tmp_path / "spool", store_url) as outbox:
        for row in rows + rows:
            outbox.put(row)
        assert outbox.flush(timeout_s=30)
        assert outbox.stats.written == 2 * len(rows)
    for row in rows:
        assert count(store_url, str(row.__tablename__)) == 1


def test_records_spooled_before_a_restart_reach_the_database_after_it(store_url: str, tmp_path: Path) -> None:
    first = Outbox(tmp_path / "spool", store_url)
    for index in range(50):
        first.put(decision(id=record_id(index)))
    first.close()
    assert count(store_url) == 0
    with Outbox(tmp_path / "spool", store_url) as second:
        assert second.flush(timeout_s=30)
    assert ids(store_url) == {record_id(index) for index in range(50)}


@pytest.mark.postgres
def test_put_never_waits_on_a_database_that_is_down_and_nothing_is_lost(
    postgres_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", make_url(postgres_url).port or 5432).start()
    proxy.cut()
    outbox = Outbox(tmp_path / "spool", proxied(postgres_url, proxy), max_backoff_s=0.5).start()
    try:
        for index in range(300):
            outbox.put(decision(id=record_id(index)))
        assert outbox.stats.spooled == 300
        wait_until(lambda: outbox.stats.failures >= 3)
        assert count(postgres_url) == 0
        assert not outbox.stats.healthy
        proxy.restore()
        assert outbox.flush(timeout_s=30)
        assert outbox.stats.healthy
    finally:
        outbox.close()
        proxy.close()
    assert ids(postgres_url) == {record_id(index) for index in range(300)}


@pytest.mark.postgres
def test_connections_dropped_while_writing_lose_and_duplicate_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", make_url(postgres_url).port or 5432).start()
    outbox = Outbox(
        tmp_path / "spool", proxied(postgres_url, proxy), batch_size=20, max_backoff_s=0.2
    ).start()
    total = 2000
    try:

        def produce() -> None:
            for index in range(total):
                outbox.put(decision(id=record_id(index)))

        producer = threading.Thread(target=produce)
        producer.start()
        for _ in range(5):
            time.sleep(random.uniform(0.02, 0.1))
            proxy.cut()
            time.sleep(random.uniform(0.05, 0.3))
            proxy.restore()
        producer.join()
        assert outbox.flush(timeout_s=60)
    finally:
        outbox.close()
        proxy.close()
    assert count(postgres_url) == total
    assert ids(postgres_url) == {record_id(index) for index in range(total)}


@pytest.mark.postgres
def test_sigkill_between_database_commit_and_checkpoint_writes_nothing_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    crashed = run_child(spool, postgres_url, "--produce", "100", "--batch", "7", "--crash-after-commits", "3")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert "spooled" in crashed.stdout
    assert count(postgres_url) == 21, "three batches of seven were committed before the kill"
    resumed = run_child(spool, postgres_url)
    assert resumed.returncode == 0, resumed.stderr
    assert ids(postgres_url) == {record_id(index) for index in range(100)}
    assert count(postgres_url) == 100


@pytest.mark.postgres
@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_flush_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    total = 3000
    command = [sys.executable, "-m", "tests.support.outbox_child", str(spool), postgres_url]
    child = subprocess.Popen(
        [*command, "--produce", str(total), "--batch", "25"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "spooled"
    kills = 0
    while True:
        time.sleep(random.uniform(0.05, 0.4))
        if child.poll() is not None:
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
        if kills >= 4:
            break
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "spooled"
    child.wait()
    written_before_last_restart = count(postgres_url)
    finished = run_child(spool, postgres_url)
    assert finished.returncode == 0, finished.stderr
    assert kills >= 1 or written_before_last_restart == total
    assert ids(postgres_url) == {record_id(index) for index in range(total)}


@pytest.mark.postgres
def test_records_that_can_never_be_written_are_set_aside_and_the_rest_are_written(
    postgres_url: str, tmp_path: Path
) -> None:
    too_long = decision(id=record_id(1)).model_copy(update={"reason": "x" * 501})
    refused_by_postgres = decision(id=record_id(2), reason="NUL \x00 byte")
    with Outbox(tmp_path / "spool", postgres_url) as outbox:
        for row in (decision(id=record_id(0)), too_long, refused_by_postgres, decision(id=record_id(3))):
            outbox.put(row)
        assert outbox.flush(timeout_s=30)
        assert outbox.stats.dead_lettered == 2
    assert ids(postgres_url) == {record_id(0), record_id(3)}
    dead = (tmp_path / "spool" / "deadletter.jsonl").read_text().splitlines()
    assert len(dead) == 2
    assert record_id(1) in dead[0]
    assert "at most 500 characters" in dead[0]
    assert record_id(2) in dead[1]
    assert "NUL" in dead[1]
