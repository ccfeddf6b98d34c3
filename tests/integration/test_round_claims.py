"""One round, one trader: claims against SQLite and PostgreSQL, with real processes as holders."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from core.store.claims import (
    ClaimLostError,
    Holder,
    RoundClaimedError,
    RoundFinishedError,
    claim_holder_alive,
    claim_round,
    process_started,
    release_claim,
    renew_claim,
)
from core.store.db import make_engine
from core.store.models import RoundClaimRow

SLUG = "btc-updown-15m-1796535000"
NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def dead_process_holder(host: str) -> Holder:
    """A holder whose process really existed and was SIGKILLed."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = process_started(child.pid)
    child.kill()
    child.wait()
    return Holder("dead-token", host, child.pid, started)


def test_the_first_claim_wins_and_a_second_live_run_is_told_who_holds_it(store_url: str) -> None:
    engine = make_engine(store_url)
    first = Holder.this_process("run-a")
    claim = claim_round(engine, SLUG, first, NOW)
    assert claim.attempt == 1
    assert not claim.resumed
    other = Holder("other-token", first.host, first.pid, first.pid_started, "run-b")
    with pytest.raises(
        RoundClaimedError, match=rf"{SLUG} is being traded by pid {first.pid} .*flow run run-a"
    ):
        claim_round(engine, SLUG, other, NOW)


def test_runs_claiming_together_get_exactly_one_claim(store_url: str) -> None:
    engine = make_engine(store_url)
    me = Holder.this_process()
    holders = [Holder(f"token-{n}", me.host, me.pid, me.pid_started) for n in range(8)]
    won: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(len(holders))

    def contend(holder: Holder) -> None:
        barrier.wait()
        try:
            won.append(claim_round(engine, SLUG, holder, NOW).holder.token)
        except RoundClaimedError:
            refused.append(holder.token)

    threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert len(refused) == len(holders) - 1


def test_a_holder_killed_on_this_host_loses_its_claim_at_once_and_the_next_run_resumes(
    store_url: str,
) -> None:
    engine = make_engine(store_url)
    me = Holder.this_process("run-new")
    dead = dead_process_holder(me.host)
    claim_round(engine, SLUG, dead, NOW)
    assert not claim_holder_alive(engine, SLUG, NOW, me.host)
    resumed = claim_round(engine, SLUG, me, NOW)
    assert resumed.attempt == 2
    assert resumed.resumed
    assert resumed.previous is not None
    assert f"pid {dead.pid}" in resumed.previous


def test_a_holder_on_another_host_keeps_the_round_until_its_lease_runs_out(store_url: str) -> None:
    engine = make_engine(store_url)
    remote = Holder("remote-token", "another-host", 4242, "123")
    claim_round(engine, SLUG, remote, NOW, lease_s=30)
    me = Holder.this_process()
    with pytest.raises(RoundClaimedError, match="another-host"):
        claim_round(engine, SLUG, me, NOW + timedelta(seconds=29))
    taken = claim_round(engine, SLUG, me, NOW + timedelta(seconds=31))
    assert taken.attempt == 2


def test_a_holder_whose_claim_was_taken_over_learns_it_when_it_renews(store_url: str) -> None:
    engine = make_engine(store_url)
    remote = Holder("remote-token", "another-host", 4242, "123")
    stale = claim_round(engine, SLUG, remote, NOW, lease_s=5)
    claim_round(engine, SLUG, Holder.this_process(), NOW + timedelta(seconds=10))
    with pytest.raises(ClaimLostError, match="taken this round over"):
        renew_claim(engine, stale, NOW + timedelta(seconds=11))


def test_the_same_process_claiming_again_is_its_next_attempt(store_url: str) -> None:
    engine = make_engine(store_url)
    me = Holder.this_process()
    assert claim_round(engine, SLUG, me, NOW).attempt == 1
    assert claim_round(engine, SLUG, me, NOW).attempt == 2


def test_a_released_round_is_never_run_again(store_url: str) -> None:
    engine = make_engine(store_url)
    me = Holder.this_process()
    claim = claim_round(engine, SLUG, me, NOW)
    release_claim(engine, claim, "settled", NOW)
    with Session(engine) as session:
        row = session.get(RoundClaimRow, SLUG)
    assert row is not None
    assert row.released
    with pytest.raises(RoundFinishedError, match="already ran to its end \\(settled"):
        claim_round(engine, SLUG, Holder.this_process(), NOW)
