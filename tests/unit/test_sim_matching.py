from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import Liquidity, OrderType, Outcome, Side, TradePrint, TradeStatus
from core.market.fees import CRYPTO_FEES_V2, taker_fee
from core.sim.book import MARKET_MAKER
from core.sim.market_maker import TakerIntent
from core.sim.matching import (
    ALREADY_CLOSED,
    DELAYED_NOT_CANCELABLE,
    FAK_KILLED,
    FOK_KILLED,
    INVALID_EXPIRATION,
    MARKET_NOT_FOUND,
    MARKET_NOT_READY,
    NOT_ENOUGH_BALANCE,
    POST_ONLY_CROSSES,
    CancelReason,
    MarketSpec,
    MatchingEngine,
    SimOrder,
    TradeDelays,
    VenueOrderStatus,
)

MARKET = MarketSpec("0xcond", "up-token", "down-token")
CID, UP, DOWN = MARKET.condition_id, MARKET.up_token_id, MARKET.down_token_id
ME = "me"
T0 = 1_800_000_000_000
D = Decimal


def engine_with_book(
    bids: dict[str, int] | None = None, asks: dict[str, int] | None = None, collateral: int = 100
) -> MatchingEngine:
    """A market whose Up book holds the market maker's `bids` and `asks` ({price: size}), and our account."""
    engine = MatchingEngine(seed=1, delays=TradeDelays(mined_ms=2_000, confirmed_ms=6_000))
    engine.add_market(MARKET)
    ladder = {(Side.BUY, D(p)): D(s) for p, s in (bids or {}).items()}
    ladder |= {(Side.SELL, D(p)): D(s) for p, s in (asks or {}).items()}
    engine.apply_quotes(CID, ladder, T0)
    engine.open_account(ME, D(collateral))
    return engine


def order(
    order_id: str,
    side: Side,
    price: str,
    size: str | int,
    order_type: OrderType = OrderType.GTC,
    *,
    token: str = UP,
    post_only: bool = False,
    expiration_ms: int | None = None,
) -> SimOrder:
    return SimOrder(order_id, ME, token, side, D(price), D(size), order_type, post_only, expiration_ms)


def matched(engine: MatchingEngine, order_id: str) -> Decimal:
    view = engine.order(order_id)
    assert view is not None
    return view.size_matched


def take(engine: MatchingEngine, side: Side, size: int, limit: str, at: int = T0) -> None:
    engine.execute_taker(CID, TakerIntent(Outcome.UP, side, D(size), D(limit)), at)


def test_a_buy_takes_the_cheapest_asks_first_and_pays_each_level_its_price() -> None:
    engine = engine_with_book(asks={"0.52": 10, "0.51": 10, "0.53": 10})
    result = engine.submit(order("o1", Side.BUY, "0.52", 15), T0)
    assert result.accepted
    assert result.status is VenueOrderStatus.MATCHED
    assert [(t.price, t.size) for t in result.report.trades] == [(D("0.51"), D(10)), (D("0.52"), D(5))]
    assert (result.making_amount, result.taking_amount) == (D("7.70"), D(15))
    assert engine.book(CID).total(Side.SELL, D("0.52")) == 5


def test_market_volume_queued_before_ours_fills_first() -> None:
    engine = engine_with_book(bids={"0.50": 20})
    engine.submit(order("o1", Side.BUY, "0.50", 10), T0)
    take(engine, Side.SELL, 25, "0.50")
    assert matched(engine, "o1") == 5
    assert engine.book(CID).owner_total(MARKET_MAKER, Side.BUY, D("0.50")) == 0


def test_among_our_orders_the_better_price_then_the_earlier_fills_first() -> None:
    engine = engine_with_book()
    engine.submit(order("early", Side.BUY, "0.50", 10), T0)
    engine.submit(order("late", Side.BUY, "0.50", 10), T0 + 1)
    engine.submit(order("better", Side.BUY, "0.51", 10), T0 + 2)
    take(engine, Side.SELL, 25, "0.50", T0 + 3)
    filled = {o: matched(engine, o) for o in ("early", "late", "better")}
    assert filled == {"better": D(10), "early": D(10), "late": D(5)}


def test_a_gtc_partly_filled_on_arrival_rests_the_rest() -> None:
    engine = engine_with_book(asks={"0.51": 4})
    result = engine.submit(order("o1", Side.BUY, "0.51", 10), T0)
    assert result.status is VenueOrderStatus.MATCHED
    [open_order] = engine.open_orders(ME)
    assert (open_order.status, open_order.size_matched, open_order.remaining) == (
        VenueOrderStatus.LIVE,
        D(4),
        D(6),
    )
    assert engine.book(CID).total(Side.BUY, D("0.51")) == 6


def test_a_resting_order_fills_only_when_the_market_trades_through_it() -> None:
    engine = engine_with_book(bids={"0.48": 50}, asks={"0.52": 50})
    engine.submit(order("o1", Side.BUY, "0.50", 10), T0)
    engine.apply_quotes(CID, {(Side.SELL, D("0.49")): D(50), (Side.BUY, D("0.47")): D(50)}, T0 + 1)
    assert matched(engine, "o1") == 0
    take(engine, Side.SELL, 4, "0.47", T0 + 2)
    assert matched(engine, "o1") == 4
    assert engine.trades(ME)[0].liquidity is Liquidity.MAKER
    assert engine.trades(ME)[0].fee == 0


def test_fok_is_killed_when_the_book_cannot_fill_it_whole() -> None:
    engine = engine_with_book(asks={"0.51": 5, "0.52": 4})
    result = engine.submit(order("o1", Side.BUY, "0.52", 10, OrderType.FOK), T0)
    assert (result.accepted, result.error, result.status) == (False, FOK_KILLED, VenueOrderStatus.UNMATCHED)
    assert engine.book(CID).total(Side.SELL, D("0.51")) == 5
    assert engine.collateral(ME) == 100


def test_fok_fills_whole_when_it_can() -> None:
    engine = engine_with_book(asks={"0.51": 5, "0.52": 5})
    result = engine.submit(order("o1", Side.BUY, "0.52", 10, OrderType.FOK), T0)
    assert result.accepted
    assert result.taking_amount == 10
    assert engine.open_orders(ME) == []


def test_fak_fills_what_is_there_and_cancels_the_rest() -> None:
    engine = engine_with_book(asks={"0.51": 5, "0.60": 50})
    result = engine.submit(order("o1", Side.BUY, "0.55", 10, OrderType.FAK), T0)
    assert result.accepted
    assert result.taking_amount == 5
    view = engine.order("o1")
    assert view is not None
    assert (view.status, view.cancel_reason) == (VenueOrderStatus.CANCELED, CancelReason.UNFILLED_REMAINDER)
    assert engine.open_orders(ME) == []


def test_fak_with_nothing_to_match_is_killed() -> None:
    engine = engine_with_book(asks={"0.60": 50})
    result = engine.submit(order("o1", Side.BUY, "0.55", 10, OrderType.FAK), T0)
    assert (result.accepted, result.error, result.status) == (False, FAK_KILLED, VenueOrderStatus.UNMATCHED)


def test_post_only_that_would_cross_is_rejected_and_one_that_would_not_rests() -> None:
    engine = engine_with_book(asks={"0.51": 50})
    crossing = engine.submit(order("o1", Side.BUY, "0.51", 10, post_only=True), T0)
    resting = engine.submit(order("o2", Side.BUY, "0.50", 10, post_only=True), T0)
    assert (crossing.accepted, crossing.error) == (False, POST_ONLY_CROSSES)
    assert (resting.accepted, resting.status) == (True, VenueOrderStatus.LIVE)


@pytest.mark.parametrize("price", ["0.555", "0", "1", "0.995", "-0.5"])
def test_price_off_the_tick_grid_or_outside_it_is_rejected(price: str) -> None:
    result = engine_with_book().submit(order("o1", Side.BUY, price, 10), T0)
    assert result.error == f"order o1 is invalid. Price ({price}) breaks minimum tick size rule: 0.01"


def test_resting_order_below_five_shares_is_rejected() -> None:
    result = engine_with_book().submit(order("o1", Side.BUY, "0.40", "4.99"), T0)
    assert result.error == "order o1 is invalid. Size (4.99) lower than the minimum: 5"


def test_marketable_buy_under_one_dollar_is_rejected() -> None:
    engine = engine_with_book(bids={"0.90": 50}, asks={"0.95": 50})
    result = engine.submit(order("o1", Side.BUY, "0.95", 1, OrderType.FAK), T0)
    assert result.error == "invalid amount for a marketable BUY order ($0.95), min size: $1"
    crossing_gtc = engine.submit(order("o2", Side.BUY, "0.10", 5, token=DOWN), T0)
    assert crossing_gtc.error == "invalid amount for a marketable BUY order ($0.5), min size: $1"


def test_resting_buy_under_one_dollar_is_accepted() -> None:
    result = engine_with_book(asks={"0.50": 50}).submit(order("o1", Side.BUY, "0.10", 5), T0)
    assert result.accepted


def test_the_same_order_twice_is_a_duplicate() -> None:
    engine = engine_with_book()
    engine.submit(order("o1", Side.BUY, "0.40", 10), T0)
    assert engine.submit(order("o1", Side.BUY, "0.40", 10), T0).error == "order o1 is invalid. Duplicated."


def test_a_buy_beyond_the_collateral_not_promised_to_open_orders_is_refused() -> None:
    engine = engine_with_book(collateral=10)
    assert engine.submit(order("o1", Side.BUY, "0.50", 15), T0).accepted
    result = engine.submit(order("o2", Side.BUY, "0.50", 6), T0)
    assert (result.accepted, result.error) == (False, NOT_ENOUGH_BALANCE)
    assert engine.available_collateral(ME) == D("2.5")


def test_a_marketable_buy_must_also_cover_its_taker_fee() -> None:
    engine = engine_with_book(asks={"0.50": 50}, collateral=5)
    assert engine.submit(order("o1", Side.BUY, "0.50", 10, OrderType.FOK), T0).error == NOT_ENOUGH_BALANCE


def test_selling_shares_we_do_not_hold_is_refused() -> None:
    engine = engine_with_book(bids={"0.50": 50})
    assert engine.submit(order("o1", Side.SELL, "0.50", 5), T0).error == NOT_ENOUGH_BALANCE


def test_taker_fee_follows_the_fee_formula_and_is_paid_in_collateral() -> None:
    engine = engine_with_book(asks={"0.37": 100})
    [trade] = engine.submit(order("o1", Side.BUY, "0.37", "33.33"), T0).report.trades
    assert trade.fee == taker_fee(D("33.33"), D("0.37"), CRYPTO_FEES_V2) == D("0.54384")
    assert engine.collateral(ME) == D(100) - D("33.33") * D("0.37") - trade.fee
    assert engine.position(ME, UP) == D("33.33")


def test_buying_down_takes_the_up_bids_at_the_complementary_price() -> None:
    engine = engine_with_book(bids={"0.60": 50})
    result = engine.submit(order("o1", Side.BUY, "0.40", 10, OrderType.FOK, token=DOWN), T0)
    [trade] = result.report.trades
    assert (trade.token_id, trade.price, trade.size) == (DOWN, D("0.40"), D(10))
    assert TradePrint(ts_ms=T0, token_id=DOWN, price=D("0.40"), size=D(10), side=Side.BUY) in (
        result.report.market_events
    )
    assert engine.book(CID).total(Side.BUY, D("0.60")) == 40
    assert engine.position(ME, DOWN) == 10


def test_selling_returns_the_proceeds_less_the_fee() -> None:
    engine = engine_with_book(asks={"0.50": 50}, bids={"0.45": 50})
    engine.submit(order("o1", Side.BUY, "0.50", 10, OrderType.FOK), T0)
    before = engine.collateral(ME)
    result = engine.submit(order("o2", Side.SELL, "0.45", 10, OrderType.FOK), T0)
    [trade] = result.report.trades
    assert engine.collateral(ME) == before + D("4.5") - trade.fee
    assert engine.position(ME, UP) == 0
    assert (result.making_amount, result.taking_amount) == (D(10), D("4.50"))


def test_gtd_expires_at_its_expiration() -> None:
    engine = engine_with_book()
    engine.submit(order("o1", Side.BUY, "0.40", 10, OrderType.GTD, expiration_ms=T0 + 60_000), T0)
    assert engine.advance(T0 + 59_999).orders == ()
    [expired] = engine.advance(T0 + 60_000).orders
    assert (expired.status, expired.cancel_reason) == (VenueOrderStatus.CANCELED, CancelReason.EXPIRED)
    assert engine.book(CID).total(Side.BUY, D("0.40")) == 0
    assert engine.available_collateral(ME) == 100


def test_gtd_expiring_now_or_earlier_is_invalid() -> None:
    result = engine_with_book().submit(order("o1", Side.BUY, "0.40", 10, OrderType.GTD, expiration_ms=T0), T0)
    assert result.error == INVALID_EXPIRATION


def test_trades_progress_matched_then_mined_then_confirmed() -> None:
    engine = engine_with_book(asks={"0.50": 50})
    [trade] = engine.submit(order("o1", Side.BUY, "0.50", 10), T0).report.trades
    assert trade.status is TradeStatus.MATCHED
    assert engine.advance(T0 + 1_999).trades == ()
    assert [t.status for t in engine.advance(T0 + 2_000).trades] == [TradeStatus.MINED]
    assert [t.status for t in engine.advance(T0 + 6_000).trades] == [TradeStatus.CONFIRMED]
    assert engine.trades(ME)[0].status is TradeStatus.CONFIRMED


def test_late_catch_up_reports_every_status_in_order() -> None:
    engine = engine_with_book(asks={"0.50": 50})
    engine.submit(order("o1", Side.BUY, "0.50", 10), T0)
    report = engine.advance(T0 + 60_000)
    assert [(t.status, t.updated_ms) for t in report.trades] == [
        (TradeStatus.MINED, T0 + 2_000),
        (TradeStatus.CONFIRMED, T0 + 6_000),
    ]


def test_cancel_removes_the_order_and_says_why_others_were_not_canceled() -> None:
    engine = engine_with_book(asks={"0.50": 50})
    engine.submit(order("rest", Side.BUY, "0.40", 10), T0)
    engine.submit(order("done", Side.BUY, "0.50", 10), T0)
    result = engine.cancel_orders(ME, ["rest", "done", "nope"], T0)
    assert result.canceled == ("rest",)
    assert result.not_canceled["done"] == ALREADY_CLOSED
    assert "nope" in result.not_canceled
    assert engine.book(CID).total(Side.BUY, D("0.40")) == 0


def test_cancel_all_cancels_only_our_open_orders() -> None:
    engine = engine_with_book()
    engine.open_account("other", D(100))
    engine.submit(order("a", Side.BUY, "0.40", 10), T0)
    engine.submit(order("b", Side.BUY, "0.30", 10, token=DOWN), T0)
    engine.submit(SimOrder("c", "other", UP, Side.BUY, D("0.40"), D(10)), T0)
    assert set(engine.cancel_all(ME, T0).canceled) == {"a", "b"}
    assert [o.order_id for o in engine.open_orders("other")] == ["c"]


def test_a_resolved_market_cancels_what_rests_and_redeems_winning_shares() -> None:
    engine = engine_with_book(asks={"0.50": 50})
    engine.submit(order("o1", Side.BUY, "0.50", 10, OrderType.FOK), T0)
    engine.submit(order("o2", Side.BUY, "0.40", 10), T0)
    cash = engine.collateral(ME)
    report = engine.resolve(CID, Outcome.UP, T0 + 1)
    assert [o.cancel_reason for o in report.orders] == [CancelReason.MARKET_RESOLVED]
    assert engine.collateral(ME) == cash + 10
    assert engine.position(ME, UP) == 0
    assert engine.submit(order("o3", Side.BUY, "0.40", 10), T0 + 2).error == MARKET_NOT_READY


def test_time_never_runs_backwards() -> None:
    engine = engine_with_book()
    with pytest.raises(ValueError, match="backwards"):
        engine.advance(T0 - 1)


prices = st.integers(1, 99).map(lambda cents: D(cents) / 100)
sizes = st.integers(1, 30_000).map(lambda hundredths: D(hundredths) / 100)
ladders = st.dictionaries(st.tuples(st.sampled_from(Side), prices), sizes, max_size=12)
orders = st.lists(
    st.tuples(
        st.sampled_from((UP, DOWN)),
        st.sampled_from(Side),
        prices,
        sizes,
        st.sampled_from((OrderType.FOK, OrderType.FAK)),
    ),
    max_size=10,
)


def uncrossed(ladder: dict[tuple[Side, Decimal], Decimal]) -> dict[tuple[Side, Decimal], Decimal]:
    asks = [p for side, p in ladder if side is Side.SELL]
    floor = min(asks, default=D(1))
    return {(side, p): s for (side, p), s in ladder.items() if side is Side.SELL or p < floor}


@settings(max_examples=60, deadline=None)
@given(ladder=ladders, takes=orders)
def test_taking_conserves_cash_and_shares_and_fees_follow_the_formula(
    ladder: dict[tuple[Side, Decimal], Decimal], takes: list[tuple[str, Side, Decimal, Decimal, OrderType]]
) -> None:
    engine = MatchingEngine(seed=3)
    book = engine.add_market(MARKET)
    engine.apply_quotes(CID, uncrossed(ladder), T0)
    engine.open_account(ME, D(10_000))
    depth = book.depth(Side.BUY) + book.depth(Side.SELL)
    for i, (token, side, price, size, order_type) in enumerate(takes):
        engine.submit(SimOrder(f"o{i}", ME, token, side, price, size, order_type), T0)
    trades = engine.trades(ME)
    sign = {Side.BUY: 1, Side.SELL: -1}
    assert sum((t.size for t in trades), D(0)) == depth - book.depth(Side.BUY) - book.depth(Side.SELL)
    for token in (UP, DOWN):
        net = sum((sign[t.side] * t.size for t in trades if t.token_id == token), D(0))
        assert engine.position(ME, token) == net >= 0
    paid = sum((sign[t.side] * t.size * t.price for t in trades), D(0))
    fees = sum((t.fee for t in trades), D(0))
    assert engine.collateral(ME) + paid + fees == 10_000
    assert all(t.fee == taker_fee(t.size, t.price, CRYPTO_FEES_V2) for t in trades)
    assert engine.collateral(ME) >= 0


@settings(max_examples=40, deadline=None)
@given(
    ladder=ladders,
    resting=st.lists(st.tuples(st.sampled_from((UP, DOWN)), prices, sizes), max_size=6),
    takers=st.lists(st.tuples(st.sampled_from(Outcome), st.sampled_from(Side), prices, sizes), max_size=6),
)
def test_other_takers_fill_our_resting_orders_without_creating_or_losing_shares(
    ladder: dict[tuple[Side, Decimal], Decimal],
    resting: list[tuple[str, Decimal, Decimal]],
    takers: list[tuple[Outcome, Side, Decimal, Decimal]],
) -> None:
    engine = MatchingEngine(seed=3)
    book = engine.add_market(MARKET)
    engine.open_account(ME, D(10_000))
    engine.apply_quotes(CID, uncrossed(ladder), T0)
    for i, (token, price, size) in enumerate(resting):
        engine.submit(SimOrder(f"r{i}", ME, token, Side.BUY, price, size + 5, OrderType.GTC), T0)
    depth = book.depth(Side.BUY) + book.depth(Side.SELL)
    printed = D(0)
    for outcome, side, limit, size in takers:
        report = engine.execute_taker(CID, TakerIntent(outcome, side, size, limit), T0)
        prints = [e for e in report.market_events if isinstance(e, TradePrint)]
        assert sum((p.size for p in prints), D(0)) <= size
        printed += sum((p.size for p in prints), D(0))
    assert depth - book.depth(Side.BUY) - book.depth(Side.SELL) == printed
    trades = engine.trades(ME)
    assert all(t.fee == 0 for t in trades if t.liquidity is Liquidity.MAKER)
    assert engine.position(ME, UP) + engine.position(ME, DOWN) == sum((t.size for t in trades), D(0))
    paid = sum((t.size * t.price + t.fee for t in trades), D(0))
    assert engine.collateral(ME) + paid == 10_000
    for view in [engine.order(f"r{i}") for i in range(len(resting))]:
        if view is not None:
            assert view.size_matched <= view.original_size


@settings(max_examples=60, deadline=None)
@given(ladder=ladders, price=prices, size=sizes, order_type=st.sampled_from((OrderType.FOK, OrderType.FAK)))
def test_a_taker_never_fills_more_than_it_asked_or_the_book_held_within_its_limit(
    ladder: dict[tuple[Side, Decimal], Decimal], price: Decimal, size: Decimal, order_type: OrderType
) -> None:
    engine = MatchingEngine(seed=3)
    book = engine.add_market(MARKET)
    engine.apply_quotes(CID, uncrossed(ladder), T0)
    engine.open_account(ME, D(10_000))
    within_limit = sum((book.total(Side.SELL, p) for p in book.prices(Side.SELL) if p <= price), D(0))
    result = engine.submit(SimOrder("o", ME, UP, Side.BUY, price, size, order_type), T0)
    assert result.taking_amount <= min(size, within_limit)
    if result.accepted and order_type is OrderType.FOK:
        assert result.taking_amount == size
    if result.accepted and order_type is OrderType.FAK:
        assert result.taking_amount == min(size, within_limit)
    assert all(t.price <= price for t in result.report.trades)


def test_an_expired_gtd_is_not_filled_by_a_later_taker() -> None:
    engine = engine_with_book()
    engine.submit(order("o1", Side.BUY, "0.40", 10, OrderType.GTD, expiration_ms=T0 + 1_000), T0)
    take(engine, Side.SELL, 10, "0.40", T0 + 1_000)
    assert matched(engine, "o1") == 0


def test_an_order_for_an_unknown_token_is_refused() -> None:
    result = engine_with_book().submit(order("o1", Side.BUY, "0.40", 10, token="nope"), T0)
    assert (result.accepted, result.error) == (False, MARKET_NOT_FOUND)


any_order = st.builds(
    SimOrder,
    order_id=st.just("o"),
    owner=st.just(ME),
    token_id=st.sampled_from((UP, DOWN, "nope")),
    side=st.sampled_from(Side),
    price=st.decimals(-1, 2, places=3),
    size=st.decimals(-10, 1_000, places=2),
    order_type=st.sampled_from(OrderType),
    post_only=st.booleans(),
    expiration_ms=st.none() | st.integers(T0 - 1, T0 + 10_000),
)


@settings(max_examples=150, deadline=None)
@given(spec=any_order)
def test_every_order_gets_an_answer_and_a_refusal_changes_nothing(spec: SimOrder) -> None:
    engine = engine_with_book(bids={"0.48": 20}, asks={"0.52": 20})
    result = engine.submit(spec, T0)
    assert result.accepted != bool(result.error)
    if not result.accepted:
        assert engine.collateral(ME) == 100
        assert engine.open_orders(ME) == []
        assert engine.book(CID).depth(Side.BUY) == engine.book(CID).depth(Side.SELL) == 20


# --- delayed takers (crypto Up/Down markets hold takers ~250 ms) -------------------------------------

DELAY_MS = 250


def delayed_engine(
    bids: dict[str, int] | None = None, asks: dict[str, int] | None = None, collateral: int = 100
) -> MatchingEngine:
    engine = MatchingEngine(seed=1, taker_delay_ms=DELAY_MS)
    engine.add_market(MARKET)
    ladder = {(Side.BUY, D(p)): D(s) for p, s in (bids or {}).items()}
    ladder |= {(Side.SELL, D(p)): D(s) for p, s in (asks or {}).items()}
    engine.apply_quotes(CID, ladder, T0)
    engine.open_account(ME, D(collateral))
    return engine


@pytest.mark.parametrize(
    "taker",
    [
        order("fok", Side.BUY, "0.52", 10, OrderType.FOK),
        order("fak", Side.BUY, "0.52", 10, OrderType.FAK),
        order("crossing-gtc", Side.BUY, "0.52", 10),
    ],
)
def test_a_taker_is_answered_delayed_and_matched_after_the_delay(taker: SimOrder) -> None:
    engine = delayed_engine(asks={"0.52": 50})
    result = engine.submit(taker, T0)
    assert (result.accepted, result.status, result.trade_ids) == (True, VenueOrderStatus.DELAYED, ())
    assert result.report.trades == ()
    assert engine.book(CID).total(Side.SELL, D("0.52")) == 50, "nothing taken yet"
    assert engine.advance(T0 + DELAY_MS - 1).trades == ()
    released = engine.advance(T0 + DELAY_MS)
    assert [(t.order_id, t.size, t.liquidity) for t in released.trades] == [
        (taker.order_id, D(10), Liquidity.TAKER)
    ]
    assert [o.status for o in released.orders] == [VenueOrderStatus.MATCHED]
    assert engine.book(CID).total(Side.SELL, D("0.52")) == 40


def test_a_resting_order_that_does_not_cross_is_not_delayed() -> None:
    result = delayed_engine(asks={"0.52": 50}).submit(order("o1", Side.BUY, "0.40", 10), T0)
    assert result.status is VenueOrderStatus.LIVE


def test_a_delayed_order_cannot_be_cancelled_and_reserves_its_cost() -> None:
    engine = delayed_engine(asks={"0.50": 50}, collateral=10)
    engine.submit(order("o1", Side.BUY, "0.50", 10, OrderType.FAK), T0)
    assert engine.available_collateral(ME) == D(10) - D(5) - taker_fee(D(10), D("0.50"), CRYPTO_FEES_V2)
    refused = engine.cancel(ME, "o1", T0 + 10)
    assert (refused.canceled, dict(refused.not_canceled)) == ((), {"o1": DELAYED_NOT_CANCELABLE})
    assert dict(engine.cancel_all(ME, T0 + 20).not_canceled) == {"o1": DELAYED_NOT_CANCELABLE}
    assert engine.submit(order("o2", Side.BUY, "0.50", 10, OrderType.FAK), T0 + 30).error == (
        NOT_ENOUGH_BALANCE
    )
    assert engine.submit(order("o1", Side.BUY, "0.50", 10, OrderType.FAK), T0 + 40).error == (
        "order o1 is invalid. Duplicated."
    ), "an identical resubmission is refused"


def test_a_delayed_fok_the_book_no_longer_fills_is_killed_at_release() -> None:
    engine = delayed_engine(asks={"0.52": 10})
    engine.submit(order("o1", Side.BUY, "0.52", 10, OrderType.FOK), T0)
    take(engine, Side.BUY, 5, "0.52", at=T0 + 100)  # someone else gets there first
    [killed] = engine.advance(T0 + DELAY_MS).orders
    assert (killed.order_id, killed.status, killed.size_matched) == ("o1", VenueOrderStatus.UNMATCHED, D(0))
    assert engine.available_collateral(ME) == 100


def test_a_delayed_gtc_that_no_longer_crosses_rests_at_release() -> None:
    engine = delayed_engine(asks={"0.52": 10})
    engine.submit(order("o1", Side.BUY, "0.52", 10), T0)
    take(engine, Side.BUY, 10, "0.52", at=T0 + 100)
    [rested] = engine.advance(T0 + DELAY_MS).orders
    assert (rested.status, rested.size_matched) == (VenueOrderStatus.LIVE, D(0))
    assert [v.order_id for v in engine.open_orders(ME)] == ["o1"]
    assert engine.book(CID).total(Side.BUY, D("0.52")) == 10


def test_a_resolution_cancels_a_delayed_order() -> None:
    engine = delayed_engine(asks={"0.52": 50})
    engine.submit(order("o1", Side.BUY, "0.52", 10, OrderType.FAK), T0)
    report = engine.resolve(CID, Outcome.DOWN, T0 + 10)
    assert [(o.order_id, o.status, o.cancel_reason) for o in report.orders] == [
        ("o1", VenueOrderStatus.CANCELED, CancelReason.MARKET_RESOLVED)
    ]
    assert engine.advance(T0 + DELAY_MS).trades == ()
    assert engine.collateral(ME) == 100


# --- the tick, and the last trade ---------------------------------------------------------------------


def test_after_a_tick_change_prices_on_the_finer_grid_are_accepted() -> None:
    engine = engine_with_book(asks={"0.99": 50})
    assert (
        "breaks minimum tick size rule: 0.01" in engine.submit(order("o1", Side.BUY, "0.975", 10), T0).error
    )
    assert engine.change_tick(CID, D("0.001")) == D("0.01")
    assert engine.tick_size(CID) == D("0.001")
    placed = engine.submit(order("o2", Side.BUY, "0.975", 10), T0)
    assert (placed.accepted, placed.status) == (True, VenueOrderStatus.LIVE)
    assert engine.book(CID).total(Side.BUY, D("0.975")) == 10
    assert engine.cancel(ME, "o2", T0).canceled == ("o2",)
    assert engine.book(CID).total(Side.BUY, D("0.975")) == 0


def test_the_last_trade_is_kept_per_token_with_the_takers_side() -> None:
    engine = engine_with_book(bids={"0.40": 50}, asks={"0.60": 50})
    assert engine.last_trade(UP) is None
    take(engine, Side.SELL, 5, "0.40")
    assert engine.last_trade(UP) == (D("0.40"), Side.SELL)
    engine.submit(order("o1", Side.BUY, "0.60", 10, OrderType.FAK, token=DOWN), T0)  # the Up bid at 0.40
    assert engine.last_trade(DOWN) == (D("0.60"), Side.BUY)
    assert engine.last_trade(UP) == (D("0.40"), Side.SELL)
