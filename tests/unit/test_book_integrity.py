"""Book integrity: a book is trusted only from a snapshot on, and loses that trust on a reconnect, a silence,
a lasting crossing or best prices that are not the venue's; the risk guard refuses to trade on it then."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from core.engine.assembly import build_engine
from core.engine.engine import ListSink
from core.events import BookDelta, BookReset, FeedStatus, Outcome, Side, TickSizeChange
from core.market.book import TokenBook
from core.risk.rules import book_integrity
from core.risk.verdict import ReasonCode
from tests.support.engine_runs import market_of, model_path, recipe, rounds
from tests.support.feature_events import DOWN_TOKEN, OPEN_MS, UP_TOKEN, book, feed, make_state, quotes
from tests.support.risk import Scenario

D = Decimal
T = OPEN_MS + 60_000


def delta(ts: int, side: Side, price: str, size: str, token: str = UP_TOKEN, **best: str) -> BookDelta:
    stated = {name: D(value) for name, value in best.items()}
    return BookDelta(ts_ms=ts, token_id=token, side=side, price=D(price), size=D(size), **stated)


def synced_book() -> TokenBook:
    tokens = TokenBook(UP_TOKEN)
    tokens.apply_snapshot(book(UP_TOKEN, T, bids=[("0.48", "100")], asks=[("0.52", "100")]))
    return tokens


def test_a_book_is_untrusted_until_its_first_snapshot() -> None:
    tokens = TokenBook(UP_TOKEN)
    tokens.apply_delta(delta(T, Side.BUY, "0.48", "100"))
    assert (tokens.synced, tokens.desync_reason) == (False, "no_snapshot")

    tokens.apply_snapshot(book(UP_TOKEN, T + 1, bids=[("0.48", "100")], asks=[("0.52", "100")]))
    assert (tokens.synced, tokens.desync_reason) == (True, None)


def test_a_reset_holds_until_the_next_snapshot_whatever_deltas_come() -> None:
    tokens = synced_book()
    tokens.reset("reconnect")
    tokens.apply_delta(delta(T + 1, Side.SELL, "0.53", "10"))

    assert (tokens.synced, tokens.desync_reason) == (False, "reconnect")
    assert tokens.asks == {D("0.52"): D(100), D("0.53"): D(10)}, "levels are still kept"
    tokens.apply_snapshot(book(UP_TOKEN, T + 2, bids=[("0.47", "5")], asks=[("0.50", "5")]))
    assert tokens.synced
    assert tokens.asks == {D("0.50"): D(5)}


def test_a_crossing_inside_one_frame_is_fine_one_that_outlives_it_is_not() -> None:
    tokens = synced_book()
    # One frame (one receive time): a bid at the ask's price, then the ask's removal.
    tokens.apply_delta(delta(T + 1, Side.BUY, "0.52", "40"))
    assert tokens.crossed
    tokens.apply_delta(delta(T + 1, Side.SELL, "0.52", "0"))
    tokens.apply_delta(delta(T + 2, Side.SELL, "0.55", "10"))
    assert tokens.synced
    assert not tokens.crossed

    tokens.apply_delta(delta(T + 3, Side.BUY, "0.56", "10"))  # crosses the ask at 0.55
    tokens.apply_delta(delta(T + 4, Side.SELL, "0.60", "10"))  # a later frame, still crossed
    assert (tokens.synced, tokens.desync_reason) == (False, "crossed")


def test_best_prices_the_venue_states_must_be_ours() -> None:
    tokens = synced_book()
    tokens.apply_delta(delta(T + 1, Side.SELL, "0.51", "10", best_bid="0.48", best_ask="0.51"))
    assert tokens.synced

    tokens.apply_delta(delta(T + 2, Side.SELL, "0.53", "10", best_bid="0.48", best_ask="0.53"))
    assert (tokens.synced, tokens.desync_reason) == (False, "mismatch"), "0.51 and 0.52 are ghosts"


def test_features_reset_books_on_book_reset_market_staleness_and_a_silence_between_deltas() -> None:
    state = feed(make_state(), quotes(T, up_ask="0.52", down_ask="0.50"))
    assert state.book(Outcome.UP).synced
    assert state.book(Outcome.DOWN).synced

    state.apply(BookReset(ts_ms=T + 1, token_id=DOWN_TOKEN, reason="reconnect"))
    assert state.book(Outcome.UP).synced
    assert not state.book(Outcome.DOWN).synced
    assert state.feed_age_s("market") == 0.001, "a reset is not market data"

    state = feed(make_state(), quotes(T, up_ask="0.52", down_ask="0.50"))
    state.apply(FeedStatus(ts_ms=T + 6_000, feed="market", stale=True))
    assert [state.book(o).desync_reason for o in Outcome] == ["stale", "stale"]

    state = feed(make_state(), quotes(T, up_ask="0.52", down_ask="0.50"))
    state.apply(delta(T + 4_000, Side.BUY, "0.40", "5"))
    assert state.book(Outcome.UP).synced, "4 s between market events is no silence"
    state.apply(delta(T + 9_001, Side.BUY, "0.41", "5"))
    assert [state.book(o).desync_reason for o in Outcome] == ["silence", "silence"]


def _unsync(tokens: TokenBook) -> None:
    tokens.reset("reconnect")


def _cross(tokens: TokenBook) -> None:
    assert tokens.best_ask is not None
    tokens.apply_delta(delta(tokens.updated_ms, Side.BUY, str(tokens.best_ask), "5", token=tokens.token_id))


@pytest.mark.parametrize(
    ("spoil", "reason"), [(_unsync, ReasonCode.BOOK_UNSYNCED), (_cross, ReasonCode.BOOK_CROSSED)]
)
def test_the_guard_refuses_to_trade_on_an_unsynced_or_crossed_book_of_either_token(
    spoil: Callable[[TokenBook], None], reason: ReasonCode
) -> None:
    for outcome in Outcome:
        scenario = Scenario()
        assert book_integrity.check(scenario.intent, scenario.context(), scenario.limits) is None
        spoil(scenario.features.books[outcome])

        refusal = book_integrity.check(scenario.intent, scenario.context(), scenario.limits)

        assert refusal is not None
        assert refusal.reason is reason
        assert refusal.details["outcome"] == outcome.value


def test_the_engine_takes_tick_size_changes_and_book_resets() -> None:
    round_ = rounds(1)[0]
    engine = build_engine(round_, market_of(round_, model_path()), recipe(), run_id="test", sink=ListSink())
    up = engine.features.token_id(Outcome.UP)
    engine.on_event(TickSizeChange(ts_ms=engine.round.open_ms, token_id=up, tick_size=D("0.001")))
    engine.on_event(BookReset(ts_ms=engine.round.open_ms, token_id=up, reason="reconnect"))

    assert engine.features.book(Outcome.UP).tick == D("0.001")
    assert engine.features.book(Outcome.UP).desync_reason is not None
