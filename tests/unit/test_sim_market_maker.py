from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import BookDelta, BookSnapshot, Level, Outcome, Side, TradePrint
from core.money import ONE
from core.sim.book import MARKET_MAKER, Entry, PairBook, to_canonical
from core.sim.market_maker import MarketMaker, MarketMakerConfig, TakerIntent
from core.sim.matching import EngineReport, MarketSpec, MatchingEngine, SimOrder

MARKET = MarketSpec("0xcond", "up-token", "down-token")
TICK = Decimal("0.01")
T0 = 1_800_000_000_000


def run_market(seed: int, fairs: list[float], config: MarketMakerConfig | None = None) -> list[EngineReport]:
    engine = MatchingEngine(seed=seed)
    engine.add_market(MARKET)
    maker = MarketMaker(config, seed=seed)
    book = engine.book(MARKET.condition_id)
    reports = []
    for i, fair in enumerate(fairs):
        now = T0 + i * 1000
        reports.append(engine.apply_quotes(MARKET.condition_id, maker.quote(now, fair, book), now))
        for intent in maker.takers(now, fair, book, 0 if i == 0 else 1000):
            reports.append(engine.execute_taker(MARKET.condition_id, intent, now))
    return reports


def snapshots(engine_book: PairBook) -> tuple[BookSnapshot, BookSnapshot]:
    return engine_book.snapshot(MARKET.up_token_id, T0), engine_book.snapshot(MARKET.down_token_id, T0)


def assert_complementary(up: BookSnapshot, down: BookSnapshot) -> None:
    assert [(ONE - lv.price, lv.size) for lv in up.asks] == [(lv.price, lv.size) for lv in down.bids]
    assert [(ONE - lv.price, lv.size) for lv in up.bids] == [(lv.price, lv.size) for lv in down.asks]


def test_down_orders_sit_on_the_up_book_at_the_complementary_price() -> None:
    assert to_canonical(Outcome.DOWN, Side.BUY, Decimal("0.40")) == (Side.SELL, Decimal("0.60"))
    assert to_canonical(Outcome.DOWN, Side.SELL, Decimal("0.40")) == (Side.BUY, Decimal("0.60"))
    assert to_canonical(Outcome.UP, Side.BUY, Decimal("0.40")) == (Side.BUY, Decimal("0.40"))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), fairs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_books_are_complementary_on_grid_and_within_one_and_ninety_nine_cents(
    seed: int, fairs: list[float]
) -> None:
    config = MarketMakerConfig(takers_per_second=3.0)
    engine = MatchingEngine(seed=seed)
    book = engine.add_market(MARKET)
    maker = MarketMaker(config, seed=seed)
    for i, fair in enumerate(fairs):
        now = T0 + i * 1000
        engine.apply_quotes(MARKET.condition_id, maker.quote(now, fair, book), now)
        for intent in maker.takers(now, fair, book, 1000):
            engine.execute_taker(MARKET.condition_id, intent, now)
        up, down = snapshots(book)
        assert_complementary(up, down)
        for snapshot in (up, down):
            levels = snapshot.bids + snapshot.asks
            assert all(TICK <= lv.price <= ONE - TICK and lv.price % TICK == 0 for lv in levels)
            assert all(lv.size > 0 for lv in levels)
            if snapshot.bids and snapshot.asks:
                assert snapshot.bids[0].price < snapshot.asks[0].price
            assert list(snapshot.bids) == sorted(snapshot.bids, key=lambda lv: -lv.price)
            assert list(snapshot.asks) == sorted(snapshot.asks, key=lambda lv: lv.price)


def test_quotes_straddle_the_fair_value_with_the_configured_spread_and_depth() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    maker = MarketMaker(MarketMakerConfig(spread_ticks=2, levels=4, fair_noise=0.0), seed=1)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.62, book), T0)
    up, _ = snapshots(book)
    assert [lv.price for lv in up.bids] == [Decimal(p) for p in ("0.61", "0.60", "0.59", "0.58")]
    assert [lv.price for lv in up.asks] == [Decimal(p) for p in ("0.63", "0.64", "0.65", "0.66")]
    assert all(Decimal(20) <= lv.size <= Decimal(300) for lv in up.bids + up.asks)


def test_quotes_near_certainty_keep_to_the_price_range() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    maker = MarketMaker(MarketMakerConfig(fair_noise=0.0), seed=1)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.99, book), T0)
    up, down = snapshots(book)
    assert up.asks == ()
    assert up.bids[0].price == Decimal("0.98")
    assert down.bids == ()


def test_every_level_change_is_published_for_both_tokens() -> None:
    deltas = [e for r in run_market(3, [0.5, 0.55, 0.4]) for e in r.market_events if isinstance(e, BookDelta)]
    up = {(d.ts_ms, d.side, d.price, d.size) for d in deltas if d.token_id == MARKET.up_token_id}
    down = {(d.ts_ms, d.side, d.price, d.size) for d in deltas if d.token_id == MARKET.down_token_id}
    mirrored = {(ts, Side.SELL if side is Side.BUY else Side.BUY, ONE - p, s) for ts, side, p, s in up}
    assert up
    assert mirrored == down
    assert any(d.size == 0 for d in deltas)


def test_the_market_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    fairs = [0.5, 0.52, 0.55, 0.51, 0.47] * 4
    assert run_market(5, fairs) == run_market(5, fairs)
    assert run_market(5, fairs) != run_market(6, fairs)


def test_other_takers_print_trades_and_reduce_the_levels_they_hit() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    maker = MarketMaker(MarketMakerConfig(fair_noise=0.0), seed=1)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.5, book), T0)
    best_ask = book.total(Side.SELL, Decimal("0.51"))
    report = engine.execute_taker(
        MARKET.condition_id, TakerIntent(Outcome.UP, Side.BUY, Decimal(7), Decimal("0.51")), T0
    )
    assert report.market_events[0] == TradePrint(
        ts_ms=T0, token_id=MARKET.up_token_id, price=Decimal("0.51"), size=Decimal(7), side=Side.BUY
    )
    assert book.total(Side.SELL, Decimal("0.51")) == best_ask - 7
    assert (
        BookDelta(
            ts_ms=T0, token_id=MARKET.down_token_id, side=Side.BUY, price=Decimal("0.49"), size=best_ask - 7
        )
        in report.market_events
    )


def test_random_takers_arrive_at_about_the_configured_rate_and_only_hit_the_best_level() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    maker = MarketMaker(MarketMakerConfig(takers_per_second=0.5, fair_noise=0.0), seed=2)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.5, book), T0)
    intents = [i for s in range(1, 401) for i in maker.takers(T0 + s * 1000, 0.5, book, 1000)]
    assert 150 < len(intents) < 250
    for intent in intents:
        own_book = book.snapshot(book.token_of(intent.outcome), T0)
        best = own_book.asks[0] if intent.side is Side.BUY else own_book.bids[0]
        assert intent.limit_price == best.price
        assert Decimal(5) <= intent.size <= Decimal(150)


def test_informed_takers_pick_off_a_resting_order_far_from_fair_value() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    engine.open_account("me", Decimal(100))
    engine.submit(SimOrder("o1", "me", MARKET.up_token_id, Side.BUY, Decimal("0.70"), Decimal(10)), T0)
    maker = MarketMaker(MarketMakerConfig(pickoff_probability=1.0, takers_per_second=0.0), seed=1)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.5, book), T0)
    for intent in maker.takers(T0, 0.5, book, 1000):
        engine.execute_taker(MARKET.condition_id, intent, T0)
    order = engine.order("o1")
    assert order is not None
    assert order.size_matched == 10


def test_the_market_maker_never_quotes_through_our_resting_order() -> None:
    engine = MatchingEngine()
    book = engine.add_market(MARKET)
    engine.open_account("me", Decimal(100))
    engine.submit(SimOrder("o2", "me", MARKET.up_token_id, Side.BUY, Decimal("0.53"), Decimal(10)), T0)
    maker = MarketMaker(MarketMakerConfig(fair_noise=0.0), seed=1)
    engine.apply_quotes(MARKET.condition_id, maker.quote(T0, 0.5, book), T0)
    up, _ = snapshots(book)
    assert [lv.price for lv in up.asks] == [Decimal("0.54"), Decimal("0.55")]
    assert up.bids[0] == Level(Decimal("0.53"), Decimal(10))
    assert engine.open_orders("me")[0].size_matched == 0


def test_level_sizes_give_way_from_the_back_so_earlier_volume_keeps_its_place() -> None:
    book = PairBook("u", "d", TICK)
    price = Decimal("0.50")
    book.set_owner_total(MARKET_MAKER, Side.BUY, price, Decimal(100))
    book.add(Side.BUY, price, Entry("me", Decimal(10), "o1"))
    book.set_owner_total(MARKET_MAKER, Side.BUY, price, Decimal(150))
    book.set_owner_total(MARKET_MAKER, Side.BUY, price, Decimal(60))
    matches = book.take(Side.SELL, price, Decimal(70))
    assert [(m.owner, m.size) for m in matches] == [(MARKET_MAKER, Decimal(60)), ("me", Decimal(10))]
