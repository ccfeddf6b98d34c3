from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.errors import ErrorCategory
from core.events import (
    BookDelta,
    BookSnapshot,
    Fill,
    Level,
    Liquidity,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Outcome,
    Side,
    TradePrint,
    TradeStatus,
)
from core.execution.base import ApprovedOrder, ExecutionError, ExecutionEvent, Executor, OrderIntent
from core.execution.paper import PaperExecutor
from core.market import venue_rules
from core.market.book import TokenBook
from core.market.fees import CRYPTO_FEES_V2, taker_fee
from core.market.venue_rules import UP_DOWN_MINIMUMS
from core.risk.verdict import ReasonCode, RiskVerdict

UP, DOWN = "up-token", "down-token"
T0 = 1_800_000_000_000
D = Decimal
Results = Sequence[ExecutionEvent | ExecutionError]


def book_of(
    bids: dict[str, str | int] | None = None, asks: dict[str, str | int] | None = None, token: str = UP
) -> TokenBook:
    book = TokenBook(token)
    book.apply_snapshot(
        BookSnapshot(
            ts_ms=T0,
            token_id=token,
            bids=tuple(Level(D(p), D(s)) for p, s in (bids or {}).items()),
            asks=tuple(Level(D(p), D(s)) for p, s in (asks or {}).items()),
        )
    )
    return book


def approved(
    order_id: str,
    side: Side,
    price: str | Decimal,
    size: str | int | Decimal,
    order_type: OrderType = OrderType.FAK,
    *,
    token: str = UP,
    post_only: bool = False,
    expires_ms: int | None = None,
) -> ApprovedOrder:
    intent = OrderIntent(
        order_id=order_id,
        round_slug="btc-updown-15m-1800000000",
        token_id=token,
        outcome=Outcome.UP if token == UP else Outcome.DOWN,
        side=side,
        price=D(price),
        size=D(size),
        order_type=order_type,
        decision_id=None,
        strategy="test",
        post_only=post_only,
        expires_ms=expires_ms,
    )
    return ApprovedOrder(intent, RiskVerdict(f"v-{order_id}", order_id, True, ReasonCode.OK, "ok"))


def paper(*books: TokenBook, latency_ms: int = 0, collateral: Decimal | None = None) -> PaperExecutor:
    return PaperExecutor(
        {b.token_id: b for b in books},
        CRYPTO_FEES_V2,
        latency_ms=latency_ms,
        id_prefix="paper",
        collateral=collateral,
    )


def fills(results: Results) -> list[Fill]:
    return [r for r in results if isinstance(r, Fill)]


def updates(results: Results) -> list[OrderUpdate]:
    return [r for r in results if isinstance(r, OrderUpdate)]


def errors(results: Results) -> list[ExecutionError]:
    return [r for r in results if isinstance(r, ExecutionError)]


def last_status(results: Results) -> OrderStatus:
    return updates(results)[-1].status


def trade(
    price: str, size: int | str, taker: Side, *, ts_ms: int = T0 + 1_000, token: str = UP
) -> TradePrint:
    return TradePrint(ts_ms=ts_ms, token_id=token, price=D(price), size=D(size), side=taker)


# --- properties -------------------------------------------------------------------------------------

cents = st.integers(1, 99).map(lambda k: D(k) / 100)
sizes = st.decimals(min_value=D("0.01"), max_value=D(300), places=2, allow_nan=False, allow_infinity=False)
ladders = st.dictionaries(cents, sizes, max_size=8)
order_types = st.sampled_from([OrderType.FOK, OrderType.FAK, OrderType.GTC])


@st.composite
def books_and_orders(draw: st.DrawFn) -> tuple[TokenBook, Side, Decimal, Decimal, OrderType]:
    mid = draw(st.integers(2, 98))
    bids = {p: s for p, s in draw(ladders).items() if p < D(mid) / 100}
    asks = {p: s for p, s in draw(ladders).items() if p >= D(mid) / 100}
    book = book_of({str(p): str(s) for p, s in bids.items()}, {str(p): str(s) for p, s in asks.items()})
    return book, draw(st.sampled_from(Side)), draw(cents), draw(sizes), draw(order_types)


def within_venue_rules(book: TokenBook, side: Side, price: Decimal, size: Decimal, kind: OrderType) -> bool:
    crosses = venue_rules.crosses(side, price, best_bid=book.best_bid, best_ask=book.best_ask)
    terms = venue_rules.OrderTerms("o", side, price, size, kind, crosses=crosses)
    return venue_rules.check(terms, book.tick, UP_DOWN_MINIMUMS) is None


def depth_within(book: TokenBook, side: Side, limit: Decimal) -> dict[Decimal, Decimal]:
    if side is Side.BUY:
        return {p: s for p, s in book.asks.items() if p <= limit}
    return {p: s for p, s in book.bids.items() if p >= limit}


@given(books_and_orders())
def test_marketable_fills_never_exceed_the_depth_within_the_limit(
    case: tuple[TokenBook, Side, Decimal, Decimal, OrderType],
) -> None:
    book, side, limit, size, order_type = case
    before = depth_within(book, side, limit)
    results = paper(book).submit(approved("o1", side, limit, size, order_type), T0)
    done = fills(results)
    assert sum((f.size for f in done), D(0)) <= min(size, sum(before.values(), D(0)))
    for f in done:
        assert f.size <= before[f.price]
        assert (f.price <= limit) if side is Side.BUY else (f.price >= limit)
        # What we took is gone from the shared book until the venue says otherwise.
        remaining = (book.asks if side is Side.BUY else book.bids).get(f.price, D(0))
        assert remaining == before[f.price] - f.size


@given(books_and_orders())
def test_every_taker_fill_pays_exactly_the_venues_fee(
    case: tuple[TokenBook, Side, Decimal, Decimal, OrderType],
) -> None:
    book, side, limit, size, order_type = case
    for f in fills(paper(book).submit(approved("o1", side, limit, size, order_type), T0)):
        assert f.liquidity is Liquidity.TAKER
        assert f.status is TradeStatus.MATCHED
        assert f.fee == taker_fee(f.size, f.price, CRYPTO_FEES_V2)


@given(books_and_orders())
def test_fok_fills_completely_or_not_at_all(
    case: tuple[TokenBook, Side, Decimal, Decimal, OrderType],
) -> None:
    book, side, limit, size, _ = case
    assume(within_venue_rules(book, side, limit, size, OrderType.FOK))
    enough = sum(depth_within(book, side, limit).values(), D(0)) >= size
    executor = paper(book)
    results = executor.submit(approved("o1", side, limit, size, OrderType.FOK), T0)
    filled = sum((f.size for f in fills(results)), D(0))
    if enough:
        assert (filled, last_status(results)) == (size, OrderStatus.FILLED)
    else:
        assert (filled, last_status(results)) == (D(0), OrderStatus.CANCELED)
        assert updates(results)[-1].reason == "fok_unfilled"
    assert executor.open_order_ids() == []


@given(books_and_orders())
def test_fak_never_rests(case: tuple[TokenBook, Side, Decimal, Decimal, OrderType]) -> None:
    book, side, limit, size, _ = case
    assume(within_venue_rules(book, side, limit, size, OrderType.FAK))
    executor = paper(book)
    results = executor.submit(approved("o1", side, limit, size, OrderType.FAK), T0)
    filled = sum((f.size for f in fills(results)), D(0))
    final = updates(results)[-1]
    assert final.status is (OrderStatus.FILLED if filled == size else OrderStatus.CANCELED)
    assert final.filled_size == filled
    assert executor.open_order_ids() == []
    assert executor.poll(T0 + 60_000) == []


orders = st.tuples(st.sampled_from(Side), cents, sizes, order_types)


@settings(max_examples=200)
@given(
    asks=ladders,
    bids=ladders,
    collateral=st.integers(0, 2_000).map(D),
    sequence=st.lists(orders, min_size=1, max_size=12),
)
def test_cash_and_shares_are_conserved(
    asks: dict[Decimal, Decimal],
    bids: dict[Decimal, Decimal],
    collateral: Decimal,
    sequence: list[tuple[Side, Decimal, Decimal, OrderType]],
) -> None:
    # A crossed book is fine here: each side is walked on its own.
    book = book_of({str(p): str(s) for p, s in bids.items()}, {str(p): str(s) for p, s in asks.items()})
    executor = paper(book, collateral=collateral)
    done: list[Fill] = []
    for n, (side, price, size, order_type) in enumerate(sequence):
        results = executor.submit(approved(f"o{n}", side, price, size, order_type), T0 + n)
        done += fills(results)
        refused = [u for u in updates(results) if u.status is OrderStatus.REJECTED]
        assert [e.reason for e in errors(results)] == [u.reason for u in refused]
        assert executor.collateral is not None
        assert executor.collateral >= 0
        assert executor.position(UP) >= 0
    bought = [f for f in done if f.side is Side.BUY]
    sold = [f for f in done if f.side is Side.SELL]
    spent = sum((f.price * f.size + f.fee for f in bought), D(0))
    received = sum((f.price * f.size - f.fee for f in sold), D(0))
    assert executor.collateral == collateral - spent + received
    assert executor.position(UP) == sum((f.size for f in bought), D(0)) - sum((f.size for f in sold), D(0))


resting = st.tuples(st.sampled_from(Side), cents, sizes)
prints = st.tuples(st.sampled_from(Side), cents, sizes)


@given(
    bids=ladders,
    asks=ladders,
    placed=st.lists(resting, min_size=1, max_size=6),
    market=st.lists(prints, min_size=1, max_size=10),
)
def test_trades_fill_resting_orders_only_at_or_through_their_price_and_never_beyond_the_trade(
    bids: dict[Decimal, Decimal],
    asks: dict[Decimal, Decimal],
    placed: list[tuple[Side, Decimal, Decimal]],
    market: list[tuple[Side, Decimal, Decimal]],
) -> None:
    # Post-only, so nothing takes on arrival: every fill below is a maker fill from a trade.
    book = book_of({str(p): str(s) for p, s in bids.items()}, {str(p): str(s) for p, s in asks.items()})
    executor = paper(book)
    limits = {}
    for n, (side, price, size) in enumerate(placed):
        order = approved(f"o{n}", side, price, size, OrderType.GTC, post_only=True)
        if last_status(executor.submit(order, T0)) is OrderStatus.LIVE:
            limits[f"o{n}"] = (side, price, size)
    filled = dict.fromkeys(limits, D(0))
    for n, (taker, price, size) in enumerate(market):
        done = fills(
            executor.observe(TradePrint(ts_ms=T0 + n, token_id=UP, price=price, size=size, side=taker))
        )
        assert sum((f.size for f in done), D(0)) <= size
        for f in done:
            side, limit, _ = limits[f.order_id]
            assert (f.side, f.price, f.fee, f.liquidity) == (side, limit, D(0), Liquidity.MAKER)
            assert side is not taker
            assert (price <= limit) if side is Side.BUY else (price >= limit)
            filled[f.order_id] += f.size
    for order_id, (_, _, size) in limits.items():
        assert filled[order_id] <= size
        assert (order_id in executor.open_order_ids()) is (filled[order_id] < size)


# --- marketable orders ---------------------------------------------------------------------------


def test_the_paper_executor_is_an_executor() -> None:
    executor: Executor = paper(book_of())
    assert executor.mode == "paper"


def test_fak_walks_the_depth_at_each_levels_price_and_cancels_the_rest() -> None:
    book = book_of(asks={"0.51": 10, "0.52": 20, "0.60": 100})
    results = paper(book).submit(approved("o1", Side.BUY, "0.55", 50), T0)
    assert [(f.price, f.size, f.trade_id) for f in fills(results)] == [
        (D("0.51"), D(10), "paper-t1"),
        (D("0.52"), D(20), "paper-t2"),
    ]
    final = updates(results)[-1]
    assert (final.status, final.filled_size, final.reason) == (
        OrderStatus.CANCELED,
        D(30),
        "unfilled_remainder",
    )
    assert final.venue_order_id == "paper-o1"
    assert all(r.ts_ms == T0 for r in results if not isinstance(r, ExecutionError))


def test_fak_with_nothing_to_take_is_cancelled() -> None:
    results = paper(book_of(asks={"0.60": 10})).submit(approved("o1", Side.BUY, "0.55", 5), T0)
    assert fills(results) == []
    assert (last_status(results), updates(results)[-1].reason) == (OrderStatus.CANCELED, "fak_unfilled")


def test_consumed_liquidity_is_gone_until_the_venue_restores_it() -> None:
    book = book_of(bids={"0.40": 30})
    executor = paper(book)
    first = executor.submit(approved("o1", Side.SELL, "0.40", 20), T0)
    second = executor.submit(approved("o2", Side.SELL, "0.40", 20), T0)
    assert [f.size for f in fills(first)] == [D(20)]
    assert [f.size for f in fills(second)] == [D(10)]
    assert book.best_bid is None
    book.apply_delta(BookDelta(ts_ms=T0 + 5, token_id=UP, side=Side.BUY, price=D("0.40"), size=D(30)))
    assert [f.size for f in fills(executor.submit(approved("o3", Side.SELL, "0.40", 20), T0 + 5))] == [D(20)]


def test_a_crossing_gtc_takes_what_crosses_and_rests_the_rest() -> None:
    book = book_of(bids={"0.45": 7}, asks={"0.50": 10})
    executor = paper(book)
    results = executor.submit(approved("o1", Side.BUY, "0.50", 25, OrderType.GTC), T0)
    assert [(f.size, f.liquidity) for f in fills(results)] == [(D(10), Liquidity.TAKER)]
    assert (last_status(results), updates(results)[-1].filled_size) == (OrderStatus.PARTIALLY_FILLED, D(10))
    assert executor.open_order_ids() == ["o1"]


def test_venue_refusals_come_back_as_rejected_updates_and_errors() -> None:
    executor = paper(book_of(asks={"0.50": 10}))
    cases = {
        "off-grid": approved("off-grid", Side.BUY, "0.505", 5),
        "out-of-range": approved("out-of-range", Side.BUY, "1.00", 5),
        "no-market": approved("no-market", Side.BUY, "0.50", 5, token="elsewhere"),
        "zero": approved("zero", Side.BUY, "0.50", 0),
        "post-only-fok": approved("post-only-fok", Side.BUY, "0.40", 5, OrderType.FOK, post_only=True),
        "stale-gtd": approved("stale-gtd", Side.BUY, "0.40", 5, OrderType.GTD, expires_ms=T0),
    }
    reasons = {}
    for name, order in cases.items():
        results = executor.submit(order, T0)
        assert [u.status for u in updates(results)] == [OrderStatus.REJECTED]
        (error,) = errors(results)
        assert error.category is ErrorCategory.REJECTED
        reasons[name] = error.reason
    assert reasons == {
        "off-grid": "tick_grid",
        "out-of-range": "tick_grid",
        "no-market": "market_not_found",
        "zero": "size",
        "post-only-fok": "post_only",
        "stale-gtd": "invalid_expiration",
    }


@pytest.mark.parametrize(
    ("order", "reason", "message"),
    [
        (
            approved("small-gtc", Side.BUY, "0.40", 3, OrderType.GTC),
            "min_size",
            "order small-gtc is invalid. Size (3) lower than the minimum: 5",
        ),
        (
            approved("cheap-cross", Side.BUY, "0.10", 5, OrderType.GTC),
            "min_notional",
            "invalid amount for a marketable BUY order ($0.5), min size: $1",
        ),
        (
            approved("cheap-fak", Side.BUY, "0.10", 9),
            "min_notional",
            "invalid amount for a marketable BUY order ($0.9), min size: $1",
        ),
    ],
)
def test_paper_refuses_what_the_venue_refuses_with_its_words(
    order: ApprovedOrder, reason: str, message: str
) -> None:
    """A 3-share resting order and a crossing GTC buy under $1 used to fill on paper."""
    book = book_of(bids={"0.05": 100}, asks={"0.10": 100})
    results = paper(book).submit(order, T0)
    assert [u.status for u in updates(results)] == [OrderStatus.REJECTED]
    assert [(e.reason, e.message) for e in errors(results)] == [(reason, message)]
    assert fills(results) == []
    assert book.asks == {D("0.10"): D(100)}


def test_a_resting_buy_under_one_dollar_that_does_not_cross_is_accepted() -> None:
    executor = paper(book_of(bids={"0.05": 100}, asks={"0.10": 100}))
    assert last_status(executor.submit(approved("o1", Side.BUY, "0.05", 5, OrderType.GTC), T0)) is (
        OrderStatus.LIVE
    )


def test_a_duplicate_order_id_is_refused_without_touching_the_first_order() -> None:
    executor = paper(book_of(bids={"0.45": 5}))
    executor.submit(approved("o1", Side.BUY, "0.40", 5, OrderType.GTC), T0)
    results = executor.submit(approved("o1", Side.BUY, "0.41", 5, OrderType.GTC), T0)
    assert updates(results) == []
    assert [e.reason for e in errors(results)] == ["duplicate"]
    assert executor.open_order_ids() == ["o1"]


def test_runs_are_deterministic() -> None:
    def run() -> list[ExecutionEvent | ExecutionError]:
        book = book_of(bids={"0.45": 50}, asks={"0.50": 10, "0.51": 10})
        executor = paper(book, latency_ms=50)
        out = executor.submit(approved("o1", Side.BUY, "0.51", 15), T0)
        out += executor.submit(approved("o2", Side.BUY, "0.44", 10, OrderType.GTC), T0 + 10)
        out += executor.observe(trade("0.44", 20, Side.SELL, ts_ms=T0 + 100))
        return out

    assert run() == run()


# --- resting orders -----------------------------------------------------------------------------


def test_a_resting_bid_fills_only_after_the_visible_queue_ahead_of_it_trades() -> None:
    executor = paper(book_of(bids={"0.48": 100}, asks={"0.50": 50}))
    placed = executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    assert last_status(placed) is OrderStatus.LIVE
    assert executor.observe(trade("0.49", 500, Side.SELL)) == []  # above our bid: not through us
    assert executor.observe(trade("0.48", 60, Side.SELL)) == []  # 40 still ahead of us
    partial = executor.observe(trade("0.48", 50, Side.SELL, ts_ms=T0 + 2_000))
    (maker,) = fills(partial)
    assert (maker.price, maker.size, maker.fee, maker.liquidity) == (D("0.48"), D(10), D(0), Liquidity.MAKER)
    assert maker.ts_ms == T0 + 2_000
    assert last_status(partial) is OrderStatus.PARTIALLY_FILLED
    done = executor.observe(trade("0.48", 100, Side.SELL))
    assert [f.size for f in fills(done)] == [D(20)]
    assert (last_status(done), updates(done)[-1].filled_size) == (OrderStatus.FILLED, D(30))
    assert executor.open_order_ids() == []


def test_a_trade_strictly_through_a_resting_order_fills_it_up_to_the_trade_size() -> None:
    executor = paper(book_of(bids={"0.48": 100}))
    executor.submit(approved("o1", Side.SELL, "0.55", 30, OrderType.GTC), T0)
    assert [f.size for f in fills(executor.observe(trade("0.56", 12, Side.BUY)))] == [D(12)]
    assert [(f.price, f.size) for f in fills(executor.observe(trade("0.57", 50, Side.BUY)))] == [
        (D("0.55"), D(18))
    ]


def test_book_changes_and_trades_that_do_not_reach_a_resting_order_never_fill_it() -> None:
    book = book_of(bids={"0.48": 100}, asks={"0.52": 10})
    executor = paper(book)
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    # The ask moving down through our bid is a quote, not a trade.
    delta = BookDelta(ts_ms=T0 + 1, token_id=UP, side=Side.SELL, price=D("0.47"), size=D(5))
    assert executor.observe(delta) == []
    assert executor.observe(trade("0.47", 50, Side.BUY)) == []  # a buyer's trade: not on our side
    assert executor.observe(trade("0.40", 50, Side.SELL, token=DOWN)) == []  # the other token
    assert executor.open_order_ids() == ["o1"]


def test_one_trade_is_shared_over_our_orders_best_price_first() -> None:
    executor = paper(book_of())
    executor.submit(approved("low", Side.BUY, "0.47", 30, OrderType.GTC), T0)
    executor.submit(approved("high", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    results = executor.observe(trade("0.47", 40, Side.SELL))
    assert [(f.order_id, f.size) for f in fills(results)] == [("high", D(30)), ("low", D(10))]


def test_gtd_expires_at_its_instant_and_then_never_fills() -> None:
    executor = paper(book_of())
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTD, expires_ms=T0 + 5_000), T0)
    assert executor.poll(T0 + 4_999) == []
    results = executor.observe(trade("0.40", 100, Side.SELL, ts_ms=T0 + 6_000))
    assert [(u.status, u.reason, u.ts_ms) for u in updates(results)] == [
        (OrderStatus.EXPIRED, "expired", T0 + 5_000)
    ]
    assert fills(results) == []


def test_cancel_stops_a_resting_order() -> None:
    executor = paper(book_of())
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    results = executor.cancel("o1", T0 + 10)
    assert [(u.status, u.reason) for u in updates(results)] == [(OrderStatus.CANCELED, "user")]
    assert executor.observe(trade("0.40", 100, Side.SELL)) == []
    assert [e.reason for e in errors(executor.cancel("o1", T0 + 20))] == ["already_closed"]
    assert [e.reason for e in errors(executor.cancel("nope", T0 + 20))] == ["order_not_found"]


def test_cancel_all_cancels_every_resting_order() -> None:
    executor = paper(book_of())
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    executor.submit(approved("o2", Side.SELL, "0.58", 30, OrderType.GTC), T0)
    assert [u.order_id for u in updates(executor.cancel_all(T0 + 1))] == ["o1", "o2"]
    assert executor.open_order_ids() == []


def test_post_only_that_would_cross_is_refused_and_takes_nothing() -> None:
    book = book_of(asks={"0.50": 10})
    executor = paper(book)
    results = executor.submit(approved("o1", Side.BUY, "0.50", 5, OrderType.GTC, post_only=True), T0)
    assert [u.status for u in updates(results)] == [OrderStatus.REJECTED]
    assert [(e.category, e.reason) for e in errors(results)] == [
        (ErrorCategory.REJECTED, "post_only_crosses")
    ]
    assert book.asks == {D("0.50"): D(10)}
    resting = executor.submit(approved("o2", Side.BUY, "0.49", 5, OrderType.GTC, post_only=True), T0)
    assert last_status(resting) is OrderStatus.LIVE


# --- latency ------------------------------------------------------------------------------------


def test_latency_delays_execution_and_uses_the_book_at_execution_time() -> None:
    book = book_of(asks={"0.50": 10})
    executor = paper(book, latency_ms=200)
    assert executor.submit(approved("o1", Side.BUY, "0.55", 10), T0) == []
    assert executor.poll(T0 + 199) == []
    book.apply_delta(BookDelta(ts_ms=T0 + 150, token_id=UP, side=Side.SELL, price=D("0.50"), size=D(4)))
    book.apply_delta(BookDelta(ts_ms=T0 + 150, token_id=UP, side=Side.SELL, price=D("0.53"), size=D(20)))
    results = executor.poll(T0 + 260)
    assert [(f.price, f.size, f.ts_ms) for f in fills(results)] == [
        (D("0.50"), D(4), T0 + 200),
        (D("0.53"), D(6), T0 + 200),
    ]
    assert (last_status(results), updates(results)[-1].ts_ms) == (OrderStatus.FILLED, T0 + 200)


def test_a_delayed_order_runs_before_the_market_event_that_reveals_its_time_has_come() -> None:
    executor = paper(book_of(bids={"0.48": 10}), latency_ms=100)
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    results = executor.observe(trade("0.48", 25, Side.SELL, ts_ms=T0 + 150))
    assert [(u.status, u.ts_ms) for u in updates(results)] == [
        (OrderStatus.LIVE, T0 + 100),
        (OrderStatus.PARTIALLY_FILLED, T0 + 150),
    ]
    assert [f.size for f in fills(results)] == [D(15)]


def test_a_delayed_cancel_lets_the_order_fill_until_it_lands() -> None:
    executor = paper(book_of(), latency_ms=100)
    executor.submit(approved("o1", Side.BUY, "0.48", 30, OrderType.GTC), T0)
    executor.poll(T0 + 100)
    assert executor.cancel("o1", T0 + 200) == []
    assert [f.size for f in fills(executor.observe(trade("0.47", 10, Side.SELL, ts_ms=T0 + 250)))] == [D(10)]
    results = executor.observe(trade("0.47", 10, Side.SELL, ts_ms=T0 + 300))
    assert fills(results) == []
    assert [(u.status, u.ts_ms) for u in updates(results)] == [(OrderStatus.CANCELED, T0 + 300)]


# --- collateral ---------------------------------------------------------------------------------


def test_a_buy_it_cannot_pay_is_refused_as_fatal() -> None:
    book = book_of(asks={"0.50": 100})
    executor = paper(book, collateral=D(10))
    results = executor.submit(approved("o1", Side.BUY, "0.50", 20), T0)  # 10 + taker fee
    assert [u.status for u in updates(results)] == [OrderStatus.REJECTED]
    assert [(e.category, e.reason) for e in errors(results)] == [(ErrorCategory.FATAL, "not_enough_balance")]
    assert book.asks == {D("0.50"): D(100)}
    assert executor.collateral == D(10)


def test_resting_buys_reserve_cash_and_sells_need_shares() -> None:
    executor = paper(book_of(asks={"0.50": 100}), collateral=D(20))
    assert last_status(executor.submit(approved("o1", Side.BUY, "0.40", 40, OrderType.GTC), T0)) is (
        OrderStatus.LIVE
    )
    assert executor.available_collateral == D(4)
    assert [e.reason for e in errors(executor.submit(approved("o2", Side.BUY, "0.50", 10), T0))] == [
        "not_enough_balance"
    ]
    assert [e.reason for e in errors(executor.submit(approved("o3", Side.SELL, "0.40", 5), T0))] == [
        "not_enough_balance"
    ]
    executor.observe(trade("0.40", 40, Side.SELL))
    assert (executor.collateral, executor.position(UP)) == (D(4), D(40))


@pytest.mark.parametrize("latency_ms", [0, 1])
def test_nothing_happens_without_an_order(latency_ms: int) -> None:
    executor = paper(book_of(bids={"0.48": 10}), latency_ms=latency_ms)
    assert executor.observe(trade("0.48", 10, Side.SELL)) == []
    assert executor.poll(T0 + 10_000) == []
    assert executor.cancel_all(T0 + 10_000) == []
