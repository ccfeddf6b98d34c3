"""The settle task's half that talks to the venue: the official outcome from the simulated venue's Gamma on a
loopback port, through 503s, mismatches and an outcome that never comes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from core.adapters.polymarket.gamma import GammaClient
from core.clock import WallClock
from core.config import Settings
from core.events import Outcome
from core.live.runner import RoundOutcome
from core.market.rounds import RoundSchedule
from core.risk.trip_policy import TripScope, trip_scope
from core.risk.verdict import ReasonCode
from core.sim.server import SimServer
from core.sim.venue import SimConfig
from core.store.db import make_engine
from core.store.models import RiskEventRow
from tasks.control import TripResponse
from tasks.rounds import OFFICIAL_OUTCOME_MISSING, confirm_settlement

pytestmark = [pytest.mark.slow]

ROUND_S = 10
LOGGER = "test.settle"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=ROUND_S, seed=11)) as server:
        yield server


@pytest.fixture(scope="module")
def resolved(sim: SimServer) -> tuple[str, Outcome]:
    """A round the venue has resolved: the one open now, once it has closed and Gamma names its winner."""
    round_ = RoundSchedule(ROUND_S, ROUND_S, ROUND_S).round_at_ms(WallClock().now_ms())

    async def winner() -> Outcome:
        client = GammaClient(sim.urls.gamma_url)
        try:
            for _ in range(240):
                found = (await client.market(round_.slug)).winner
                if found is not None:
                    return found
                await asyncio.sleep(0.25)
        finally:
            await client.close()
        raise AssertionError(f"the simulated venue never resolved {round_.slug}")

    return round_.slug, asyncio.run(winner())


@dataclass(frozen=True)
class Venue:
    """The simulated venue with a resolved round, and settings pointing the settle task at it."""

    sim: SimServer
    slug: str
    winner: Outcome
    store: str
    data_dir: Path

    @property
    def faults(self) -> str:
        return f"{self.sim.base_url}/_sim/faults"

    def answer_503(self, count: int) -> None:
        """The venue's next `count` Gamma requests get 503."""
        fault = {"http": {"status": 503, "count": count, "path_prefix": "/gamma"}}
        httpx.post(self.faults, json=fault).raise_for_status()

    def armed(self) -> list[object]:
        return list(httpx.get(self.faults).json()["http"])

    def settings(self, *, wait_s: float = 30.0) -> Settings:
        return Settings(
            venue=self.sim.urls,
            database_url=self.store,
            data_dir=self.data_dir,
            official_outcome_wait_seconds=wait_s,
            official_outcome_retry_seconds=0.05,
        )

    def risk_events(self) -> list[RiskEventRow]:
        with Session(make_engine(self.store)) as session:
            return list(session.exec(select(RiskEventRow)).all())


@pytest.fixture
def venue(sim: SimServer, resolved: tuple[str, Outcome], sqlite_url: str, tmp_path: Path) -> Iterator[Venue]:
    found = Venue(sim, *resolved, sqlite_url, tmp_path)
    yield found
    httpx.delete(found.faults).raise_for_status()


def confirm(
    settings: Settings, outcome: RoundOutcome, on_trip: Callable[[str], None] = print
) -> RoundOutcome:
    return asyncio.run(confirm_settlement(settings, outcome, logging.getLogger(LOGGER), on_trip=on_trip))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_settle_asks_again_through_503s_until_the_venue_answers(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    venue.answer_503(3)
    trips: list[str] = []
    ours = RoundOutcome(slug=venue.slug, status="settled", winner=venue.winner)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert confirm(venue.settings(), ours, trips.append) is ours
    failed = warnings(caplog)
    assert len(failed) == 3, failed
    for n, line in enumerate(failed, start=1):
        assert line.startswith(f"{venue.slug}: official outcome not readable (attempt {n}): ")
        assert "503" in line
    assert venue.armed() == [], "every armed 503 was met"
    assert trips == []
    assert venue.risk_events() == []


def test_a_settlement_that_differs_from_the_venues_is_a_trip_that_pauses_the_deployment(venue: Venue) -> None:
    wrong = Outcome.DOWN if venue.winner is Outcome.UP else Outcome.UP
    paused: list[bool] = []

    async def pause(flag: bool) -> str | None:
        paused.append(flag)
        return "deployment-id"

    async def scenario() -> None:
        logger = logging.getLogger(LOGGER)
        response = TripResponse(logger, pause=pause)
        ours = RoundOutcome(slug=venue.slug, status="settled", winner=wrong)
        await confirm_settlement(venue.settings(), ours, logger, on_trip=response)
        await response.wait()

    asyncio.run(scenario())
    assert paused == [True]
    assert trip_scope(ReasonCode.SETTLEMENT_MISMATCH) is TripScope.DEPLOYMENT
    [event] = venue.risk_events()
    assert (event.round_slug, event.kind, event.reason_code) == (venue.slug, "trip", "settlement_mismatch")
    assert event.message == f"our outcome {wrong.value} differs from the venue's {venue.winner.value}"


def test_an_outcome_that_never_arrives_leaves_the_round_unsettled_with_an_alert(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    venue.answer_503(10_000)
    trips: list[str] = []
    undecided = RoundOutcome(slug=venue.slug, status="unsettled", reason="our feed does not decide")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        confirmed = confirm(venue.settings(wait_s=0.5), undecided, trips.append)
    assert (confirmed.status, confirmed.winner) == ("unsettled", None)
    failed = warnings(caplog)
    assert len(failed) >= 2, "each failed attempt is a warning"
    assert failed[-1] == (
        f"{venue.slug}: the venue's official outcome did not arrive within 0.5 s: the round stays unsettled"
    )
    [event] = venue.risk_events()
    assert (event.round_slug, event.kind, event.reason_code) == (
        venue.slug,
        "alert",
        OFFICIAL_OUTCOME_MISSING,
    )
    assert event.approved is False
    assert trips == []


def test_a_round_our_feed_did_not_decide_stays_unsettled_when_the_venue_answers(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    undecided = RoundOutcome(slug=venue.slug, status="unsettled")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        confirmed = confirm(venue.settings(), undecided)
    assert (confirmed.status, confirmed.winner) == ("unsettled", None)
    assert warnings(caplog) == [
        f"{venue.slug}: the venue says {venue.winner.value}; our feed did not decide the round, so it stays "
        "unsettled until a later run's recover task settles it on the venue's outcome"
    ]
    assert venue.risk_events() == []


def test_a_round_that_never_reached_its_settlement_asks_the_venue_nothing(venue: Venue) -> None:
    venue.answer_503(1)
    missed = RoundOutcome(slug=venue.slug, status="missed_activation")
    assert confirm(venue.settings(), missed) is missed
    assert len(venue.armed()) == 1, "the armed 503 is still waiting"
    assert venue.risk_events() == []
