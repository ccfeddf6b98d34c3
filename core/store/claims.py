"""One round, one trader: a run claims its round in the store before it trades.

The claim is a row per round, taken with an insert or a compare-and-set update, so two runs started
together cannot both win. A holder is alive while its process runs (checked directly on the same host,
where a SIGKILLed process is seen dead at once) or, on another host, while its lease is fresh; a dead
holder's claim is taken over and the next attempt resumes the round. The holder that claimed it again
(Prefect's retry in the same process) simply gets the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.store.models import RoundClaimRow

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0


class RoundClaimedError(RuntimeError):
    """Another live run holds the round; the message says who."""


class RoundFinishedError(RuntimeError):
    """The round was already run to its end by an earlier run."""


class ClaimLostError(RuntimeError):
    """Our claim was taken over (our lease ran out and another run resumed the round)."""


def process_started(pid: int) -> str:
    """The start time of a process in clock ticks since boot ('' when unknown): with the pid it names the
    process exactly, so a recycled pid is not mistaken for a live holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True, slots=True)
class Holder:
    """This process as a claimant."""

    token: str
    host: str
    pid: int
    pid_started: str
    flow_run_id: str | None = None

    @classmethod
    def this_process(cls, flow_run_id: str | None = None) -> Holder:
        pid = os.getpid()
        return cls(uuid.uuid4().hex, socket.gethostname(), pid, process_started(pid), flow_run_id)

    @property
    def name(self) -> str:
        run = f", flow run {self.flow_run_id}" if self.flow_run_id else ""
        return f"pid {self.pid} on {self.host}{run}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A held claim: `attempt` counts the runs that traded this round, this one included."""

    slug: str
    holder: Holder
    attempt: int
    previous: str | None = None

    @property
    def resumed(self) -> bool:
        return self.attempt > 1


def _holder_alive(row: RoundClaimRow, now: datetime, here: str) -> bool:
    if row.host == here and row.pid_started:
        return process_started(row.pid) == row.pid_started
    if row.host == here and not _pid_exists(row.pid):
        return False
    return row.lease_until > now


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(row: RoundClaimRow) -> str:
    run = f", flow run {row.flow_run_id}" if row.flow_run_id else ""
    return (
        f"pid {row.pid} on {row.host}{run} (attempt {row.attempt}, lease until {row.lease_until.isoformat()})"
    )


def claim_round(
    engine: Engine, slug: str, holder: Holder, now: datetime, *, lease_s: float = DEFAULT_LEASE_S
) -> Claim:
    """Take the round, or raise RoundClaimedError (a live holder has it) or RoundFinishedError."""
    lease = now + timedelta(seconds=lease_s)
    try:
        with Session(engine) as session:
            session.add(
                RoundClaimRow(
                    slug=slug,
                    holder=holder.token,
                    host=holder.host,
                    pid=holder.pid,
                    pid_started=holder.pid_started,
                    flow_run_id=holder.flow_run_id,
                    attempt=1,
                    claimed_at=now,
                    lease_until=lease,
                )
            )
            session.commit()
        return Claim(slug, holder, 1)
    except IntegrityError:
        pass
    with Session(engine) as session:
        row = session.get(RoundClaimRow, slug)
    if row is None:  # released and removed between our insert and our read: cannot happen; be clear
        raise RoundClaimedError(f"{slug}: the claim changed while it was being taken; try again")
    if row.released:
        raise RoundFinishedError(f"{slug} already ran to its end ({row.outcome}, attempt {row.attempt})")
    if row.holder != holder.token and _holder_alive(row, now, holder.host):
        raise RoundClaimedError(f"{slug} is being traded by {_describe(row)}")
    taken = _compare_and_set(
        engine,
        slug,
        expected_holder=row.holder,
        expected_attempt=row.attempt,
        holder=holder,
        attempt=row.attempt + 1,
        now=now,
        lease=lease,
    )
    if not taken:
        raise RoundClaimedError(f"{slug} was taken over by another run at the same moment")
    previous = None if row.holder == holder.token else _describe(row)
    return Claim(slug, holder, row.attempt + 1, previous)


def _compare_and_set(
    engine: Engine,
    slug: str,
    *,
    expected_holder: str,
    expected_attempt: int,
    holder: Holder,
    attempt: int,
    now: datetime,
    lease: datetime,
) -> bool:
    statement = (
        update(RoundClaimRow)
        .where(col(RoundClaimRow.slug) == slug)
        .where(col(RoundClaimRow.holder) == expected_holder)
        .where(col(RoundClaimRow.attempt) == expected_attempt)
        .where(col(RoundClaimRow.released).is_(False))
        .values(
            holder=holder.token,
            host=holder.host,
            pid=holder.pid,
            pid_started=holder.pid_started,
            flow_run_id=holder.flow_run_id,
            attempt=attempt,
            claimed_at=now,
            lease_until=lease,
        )
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def renew_claim(engine: Engine, claim: Claim, now: datetime, *, lease_s: float = DEFAULT_LEASE_S) -> None:
    """Extend the lease; ClaimLostError when another run has taken the round over."""
    statement = (
        update(RoundClaimRow)
        .where(col(RoundClaimRow.slug) == claim.slug)
        .where(col(RoundClaimRow.holder) == claim.holder.token)
        .where(col(RoundClaimRow.attempt) == claim.attempt)
        .values(lease_until=now + timedelta(seconds=lease_s))
    )
    with engine.begin() as connection:
        if connection.execute(statement).rowcount != 1:
            raise ClaimLostError(f"{claim.slug}: another run has taken this round over")


def release_claim(engine: Engine, claim: Claim, outcome: str, now: datetime) -> None:
    """The round is finished (settled, aborted, missed...): nobody is to run it again."""
    statement = (
        update(RoundClaimRow)
        .where(col(RoundClaimRow.slug) == claim.slug)
        .where(col(RoundClaimRow.holder) == claim.holder.token)
        .values(released=True, outcome=outcome[:32], lease_until=now)
    )
    with engine.begin() as connection:
        connection.execute(statement)


def claim_holder_alive(engine: Engine, slug: str, now: datetime, here: str | None = None) -> bool:
    """Whether a live run holds the round now (a released or absent claim: no)."""
    with Session(engine) as session:
        row = session.get(RoundClaimRow, slug)
    if row is None or row.released:
        return False
    return _holder_alive(row, now, here or socket.gethostname())


def dead_claims(engine: Engine, now: datetime, here: str) -> list[RoundClaimRow]:
    """Unreleased claims whose holder is gone: rounds a dead process left unfinished."""
    with Session(engine) as session:
        rows = session.exec(select(RoundClaimRow).where(col(RoundClaimRow.released).is_(False))).all()
    return [row for row in rows if not _holder_alive(row, now, here)]


class LeaseKeeper:
    """Renews a claim's lease while its round runs; `lost` says why trading must stop when another run
    has taken the round over (our lease ran out while the store was away, say)."""

    def __init__(self, engine: Engine, claim: Claim, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        self._engine = engine
        self._claim = claim
        self._lease_s = lease_s
        self.lost: str | None = None

    async def run(self) -> None:
        while self.lost is None:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await asyncio.to_thread(
                    renew_claim, self._engine, self._claim, datetime.now(UTC), lease_s=self._lease_s
                )
            except ClaimLostError as exc:
                self.lost = str(exc)
            except Exception as exc:  # the store away: the lease may lapse, the claim check will tell
                log.warning("%s: claim lease not renewed: %s", self._claim.slug, exc)
