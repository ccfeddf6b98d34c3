"""Our settlement rule against one real day of the Chainlink feed and Polymarket's official outcomes."""

import pytest

from bench.settlement import Day, Market, read_chainlink_ticks, read_venue_markets, score_day
from core.events import Outcome
from core.market.settlement import (
    SettlementSource,
    Uncovered,
    decide_outcome,
    price_in_effect,
    settle_round,
    settlement_price,
)
from tests.support.shared_data import SHARED_DATA

DATA = SHARED_DATA / "chainlink_btc_1s_2026-06-08"
PRICES = DATA / "BTCUSD-prices-2026-06-08.csv.gz"
MARKETS = DATA / "BTC-5m-markets-2026-06-08.jsonl.gz"

# Measured on this (checksummed, read-only) day; pinned so a loader regression cannot shrink the check.
MARKETS_WITH_CLOSING_TICK = 280
MARKETS_WITH_OPENING_TICK = 284
DECIDED = 285
UNDECIDABLE = {
    "btc-updown-5m-1780876500": "open: no_report (no report at or before it)",
    "btc-updown-5m-1780930200": "close: stale_report (the report in effect is 77 s old)",
    "btc-updown-5m-1780930500": "open: stale_report (the report in effect is 77 s old)",
    "btc-updown-5m-1780962900": "close: feed_not_past (no report within 10 s after it)",
    "btc-updown-5m-1780963200": (
        "open: feed_not_past (no report within 10 s after it); "
        "close: stale_report (the report in effect is 301 s old)"
    ),
    "btc-updown-5m-1780963500": (
        "open: stale_report (the report in effect is 301 s old); "
        "close: stale_report (the report in effect is 601 s old)"
    ),
    "btc-updown-5m-1780963800": (
        "open: stale_report (the report in effect is 601 s old); "
        "close: stale_report (the report in effect is 901 s old)"
    ),
}
# The rounds after the feed's last report (23:59:59), which the old rule settled on a tie of one carried
# price, so Up; the venue says Down.
CARRIED_FORWARD_WRONGLY = {"btc-updown-5m-1780963200", "btc-updown-5m-1780963500", "btc-updown-5m-1780963800"}

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(),
    reason=(f"real data folder {DATA} is absent (only on the team's machines; set BTC_AGENT_SHARED_DATA)"),
)


@pytest.fixture(scope="module")
def day() -> Day:
    """Loaded as `python -m bench.settlement` loads it."""
    return Day(DATA.name, read_chainlink_ticks(PRICES), read_venue_markets(MARKETS))


@pytest.fixture(scope="module")
def reported_at(day: Day) -> frozenset[int]:
    return frozenset(ts for ts, _ in day.ticks)


def test_spot_rule_reproduces_every_official_outcome_with_a_closing_tick(
    day: Day, reported_at: frozenset[int]
) -> None:
    checked: list[str] = []
    wrong: list[str] = []
    for m in day.markets:
        if m.winner is None or m.strike is None or m.close_ms not in reported_at:
            continue
        close = settlement_price(day.ticks, m.close_ms, SettlementSource.CHAINLINK_SPOT)
        assert close is not None
        checked.append(m.slug)
        if decide_outcome(m.strike, close) is not m.winner:
            wrong.append(m.slug)
    print(f"{len(checked) - len(wrong)} of {len(checked)} markets with a closing tick reproduce")
    assert wrong == []
    assert len(checked) == MARKETS_WITH_CLOSING_TICK
    assert len(checked) >= 250


def test_strike_is_the_tick_at_the_open(day: Day, reported_at: frozenset[int]) -> None:
    # Holds for all 284 markets with an exact opening tick (the strike string even equals the tick's
    # full_accuracy_value). The 4 null strikes sit on the 4 in-day boundary seconds with no report, which
    # is also why 4 in-day markets lack a closing tick; the other 4 without one close after midnight.
    opened = [m for m in day.markets if m.strike is not None and m.open_ms in reported_at]
    mismatched = [m.slug for m in opened if price_in_effect(day.ticks, m.open_ms) != m.strike]
    print(f"{len(opened) - len(mismatched)} of {len(opened)} strikes equal the opening tick")
    assert mismatched == []
    assert len(opened) == MARKETS_WITH_OPENING_TICK


def test_our_settlement_agrees_on_every_market_it_decides_and_names_the_rest(day: Day) -> None:
    score = score_day(day)
    assert all(m.winner is not None for m in day.markets), "every market of the day is resolved"
    assert score.having("disagreed") == []
    assert score.count("agreed") == DECIDED
    undecidable = {s.market.slug: s.ours.undecidable for s in score.having("unsettled")}
    assert undecidable == UNDECIDABLE
    assert DECIDED + len(UNDECIDABLE) == len(day.markets) == 292


def test_the_markets_the_old_rule_got_wrong_are_now_undecidable(day: Day) -> None:
    def carried_forward(m: Market) -> Outcome | None:
        strike, close = price_in_effect(day.ticks, m.open_ms), price_in_effect(day.ticks, m.close_ms)
        return None if strike is None or close is None else decide_outcome(strike, close)

    wrong = {m.slug for m in day.markets if carried_forward(m) not in (None, m.winner)}
    assert wrong == CARRIED_FORWARD_WRONGLY
    for m in day.markets:
        if m.slug in wrong:
            settled = settle_round(day.ticks, m.open_ms, m.close_ms, m.source)
            assert settled.winner is None
            assert {settled.strike.uncovered, settled.final.uncovered} <= {
                Uncovered.STALE_REPORT,
                Uncovered.FEED_NOT_PAST,
            }
