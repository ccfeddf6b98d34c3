"""The simulated venue without a network: deterministic for a seed, settles rounds by the rule."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from core.clock import SimulatedClock
from core.market.rounds import RoundSchedule
from core.market.settlement import SettlementSource, decide_outcome, settlement_price
from core.sim.venue import SimConfig, SimVenue

START_MS = 1_795_000_020_000


def run(seed: int, seconds: int, round_seconds: int = 60) -> tuple[SimVenue, str]:
    """Step a venue on a simulated clock; the digest covers every book it showed and every price."""
    clock = SimulatedClock(START_MS)
    venue = SimVenue(SimConfig(seed=seed, round_seconds=round_seconds), clock)
    digest = hashlib.sha256()
    for _ in range(seconds * 4):
        clock.advance(250)
        venue.step()
        state = venue.describe()
        current = state["rounds"][state["current_round"]]
        digest.update(repr(venue.book(current["up_token_id"])["asks"]).encode())
        digest.update(state["btc"].encode())
    return venue, digest.hexdigest()


def test_the_same_seed_gives_the_same_market() -> None:
    assert run(5, 90)[1] == run(5, 90)[1]


def test_another_seed_gives_another_market() -> None:
    assert run(5, 90)[1] != run(6, 90)[1]


def test_rounds_settle_after_the_close_by_the_settlement_rule() -> None:
    venue, _ = run(9, 200)
    schedule = RoundSchedule(60, 60, 60)
    settled = {slug: info for slug, info in venue.describe()["rounds"].items() if info["settled"]}
    assert len(settled) >= 2
    assert {info["settlement_source"] for info in settled.values()} == {"chainlink_twap_60s"}, (
        "rounds after 2026-08-07"
    )
    ticks = venue._chainlink.ticks(START_MS - 120_000, START_MS + 260_000)
    for slug, info in settled.items():
        round_ = schedule.from_slug(slug)
        source = SettlementSource(info["settlement_source"])
        strike = settlement_price(ticks, round_.open_ms, source)
        final = settlement_price(ticks, round_.close_ms, source)
        assert strike is not None
        assert final is not None
        assert Decimal(info["strike"]) == strike
        assert info["outcome"] == decide_outcome(strike, final).value


def test_gamma_lists_a_round_a_day_ahead_but_not_a_week() -> None:
    clock = SimulatedClock(START_MS)
    venue = SimVenue(SimConfig(seed=1), clock)
    schedule = RoundSchedule()
    tomorrow = schedule.round_at_ms(START_MS + 23 * 3600 * 1000)
    next_week = schedule.round_at_ms(START_MS + 7 * 86400 * 1000)
    event = venue.gamma_event(tomorrow.slug)
    assert event is not None
    assert event["markets"][0]["slug"] == tomorrow.slug
    assert "eventMetadata" not in event, "no strike before the window opens"
    assert venue.gamma_event(next_week.slug) is None
    assert venue.gamma_event("btc-updown-15m-12") is None


def test_two_heartbeats_within_one_millisecond_get_two_ids() -> None:
    from core.sim.auth import ApiCreds

    venue = SimVenue(SimConfig(round_seconds=60), SimulatedClock(START_MS))
    creds = ApiCreds("key", "secret", "pass", "0x" + "ab" * 20)
    first = venue.heartbeat({}, creds)["heartbeat_id"]
    second = venue.heartbeat({"heartbeat_id": first}, creds)["heartbeat_id"]
    assert second != first
