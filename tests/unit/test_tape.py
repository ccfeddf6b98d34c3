import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.tape import meta as bench_meta
from bench.tape import stream
from core.engine.tape import RECORDER_VERSION, TapeMeta, TapeWriter, next_segment, parts_dir, read_tape
from core.events import (
    AnyEvent,
    BookDelta,
    BookSnapshot,
    Event,
    FeedStatus,
    Fill,
    Level,
    Liquidity,
    MarketResolved,
    OrderStatus,
    OrderUpdate,
    Outcome,
    PriceSource,
    PriceTick,
    Side,
    TickSizeChange,
    Timer,
    TradePrint,
    TradeStatus,
    encode_event,
)
from core.market.fees import FeeSchedule

T0 = 1_800_000_000_000
UP, DOWN = "up-token", "down-token"
D = Decimal

META = TapeMeta(
    slug="btc-updown-15m-1800000000",
    open_ms=T0,
    close_ms=T0 + 900_000,
    up_token_id=UP,
    down_token_id=DOWN,
    tick_size=D("0.01"),
    fee_schedule=FeeSchedule(D("0.072"), 1, True, D("0.25")),
    settlement_source="chainlink btc/usd 60s twap",
    condition_id="0xcond",
    min_order_size=D(5),
    strike=D("104250.123456789012345678"),
)

EVERY_KIND: list[AnyEvent] = [
    PriceTick(
        ts_ms=T0, source=PriceSource.CHAINLINK, price=D("104250.123456789012345678"), source_ts_ms=T0 - 7
    ),
    BookSnapshot(
        ts_ms=T0 + 1,
        token_id=UP,
        bids=(Level(D("0.48"), D("120.5")), Level(D("0.47"), D(3))),
        asks=(Level(D("0.50"), D("7.25")),),
        tick_size=D("0.01"),
    ),
    BookSnapshot(ts_ms=T0 + 1, token_id=DOWN, bids=(), asks=()),
    BookDelta(ts_ms=T0 + 2, token_id=UP, side=Side.SELL, price=D("0.50"), size=D(0)),
    TradePrint(ts_ms=T0 + 3, token_id=UP, price=D("0.49"), size=D("12.5"), side=Side.BUY),
    TickSizeChange(ts_ms=T0 + 4, token_id=UP, tick_size=D("0.001")),
    OrderUpdate(ts_ms=T0 + 5, order_id="o1", status=OrderStatus.PARTIALLY_FILLED, filled_size=D(4)),
    OrderUpdate(
        ts_ms=T0 + 5, order_id="o2", status=OrderStatus.CANCELED, venue_order_id="0xab", reason="user"
    ),
    Fill(
        ts_ms=T0 + 6,
        order_id="o1",
        trade_id="paper-t1",
        token_id=UP,
        side=Side.BUY,
        price=D("0.49"),
        size=D(4),
        fee=D("0.06997"),
        liquidity=Liquidity.TAKER,
        status=TradeStatus.MATCHED,
    ),
    Timer(ts_ms=T0 + 7, name="activation"),
    FeedStatus(ts_ms=T0 + 8, feed="chainlink", stale=True),
    MarketResolved(ts_ms=T0 + 9, winning_token_id=DOWN, winning_outcome=Outcome.DOWN),
]


def record(path: Path, events: Sequence[Event], *, max_rows: int = 10_000, close: bool = True) -> TapeWriter:
    writer = TapeWriter(path, META, max_rows=max_rows, fsync=False)
    for event in events:
        writer.append(event)
    if close:
        writer.close()
    return writer


def replay(path: Path) -> list[AnyEvent]:
    return list(read_tape(path)[1])


def test_every_event_type_comes_back_equal_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    record(path, EVERY_KIND, max_rows=5)
    assert replay(path) == EVERY_KIND
    assert not parts_dir(path).exists()


def test_metadata_comes_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    record(path, EVERY_KIND)
    meta, _ = read_tape(path)
    assert meta == META
    assert meta.recorder_version == RECORDER_VERSION


def test_an_empty_round_is_a_readable_tape(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    record(path, [])
    assert read_tape(path)[0] == META
    assert replay(path) == []


prices = st.decimals(allow_nan=False, allow_infinity=False, min_value=D(0), max_value=D(10) ** 7, places=18)
cents = st.integers(1, 99).map(lambda k: D(k) / 100)
sizes = st.decimals(allow_nan=False, allow_infinity=False, min_value=D(0), max_value=D(10) ** 6, places=6)
ticks = st.builds(
    PriceTick,
    ts_ms=st.integers(0, 2**62),
    source=st.sampled_from(PriceSource),
    price=prices,
    source_ts_ms=st.integers(-(2**62), 2**62),
    symbol=st.sampled_from(["btc/usd", "btcusdt"]),
)
deltas = st.builds(
    BookDelta,
    ts_ms=st.integers(0, 2**62),
    token_id=st.sampled_from([UP, DOWN]),
    side=st.sampled_from(Side),
    price=cents,
    size=sizes,
)


@settings(max_examples=50, deadline=None)
@given(events=st.lists(st.one_of(ticks, deltas), max_size=40), max_rows=st.integers(1, 16))
def test_price_ticks_and_book_deltas_round_trip_exactly(events: list[AnyEvent], max_rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "round.parquet"
        record(path, events, max_rows=max_rows)
        back = replay(path)
    assert back == events
    # Equal Decimals can differ in digits (1.0 vs 1.00); the tape keeps the digits too.
    assert [encode_event(e) for e in back] == [encode_event(e) for e in events]


def test_a_crashed_recording_is_readable_up_to_its_last_flushed_row_group(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    events = [Timer(ts_ms=T0 + n, name=f"t{n}") for n in range(10)]
    record(path, events, max_rows=4, close=False)  # the process dies: 2 row groups written, 2 events buffered
    (parts_dir(path) / "000002.parquet.tmp").write_bytes(b"PAR1 torn by the crash")
    meta, replayed = read_tape(path)
    assert meta == META
    assert list(replayed) == events[:8]


def test_a_retried_recording_carries_on_after_the_crashed_prefix(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    first = [Timer(ts_ms=T0 + n, name=f"t{n}") for n in range(10)]
    record(path, first, max_rows=4, close=False)
    later = [Timer(ts_ms=T0 + 100 + n, name=f"r{n}") for n in range(3)]
    record(path, later, max_rows=4)
    assert replay(path) == first[:8] + later
    assert not parts_dir(path).exists()


def test_a_recording_of_another_round_is_not_mixed_in(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    record(path, EVERY_KIND, max_rows=2, close=False)
    other = msgspec.structs.replace(META, slug="btc-updown-15m-1800000900")
    with pytest.raises(ValueError, match="another recording"):
        TapeWriter(path, other)


def test_a_closed_tape_is_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    record(path, EVERY_KIND)
    with pytest.raises(FileExistsError):
        TapeWriter(path, META)


def test_an_attempt_after_the_tape_was_closed_records_a_segment_that_replays_as_one_tape(
    tmp_path: Path,
) -> None:
    path = tmp_path / "round.parquet"
    first = [Timer(ts_ms=T0 + n, name=f"t{n}") for n in range(5)]
    record(next_segment(path), first)
    assert next_segment(path) == tmp_path / "round.seg2.parquet"
    resumed = [Timer(ts_ms=T0 + 100 + n, name=f"r{n}") for n in range(3)]
    record(next_segment(path), resumed, max_rows=2, close=False)  # the resumed attempt crashed too
    third = [Timer(ts_ms=T0 + 200, name="third")]
    record(next_segment(path), third)  # it carries on the second segment's parts, then closes it
    assert next_segment(path) == tmp_path / "round.seg3.parquet"
    meta, events = read_tape(path)
    assert meta == META
    assert list(events) == first + resumed[:2] + third


def test_quiet_periods_are_flushed_by_event_time(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"
    writer = TapeWriter(path, META, max_rows=1_000, max_span_ms=10_000, fsync=False)
    for n in range(3):
        writer.append(Timer(ts_ms=T0 + n * 6_000, name=f"t{n}"))  # the third is 12 s after the first
    assert [e.ts_ms for e in replay(path)] == [T0, T0 + 6_000]


def test_an_error_inside_the_context_leaves_a_resumable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "round.parquet"

    def run_round() -> None:
        with TapeWriter(path, META, fsync=False) as writer:
            writer.append(EVERY_KIND[0])
            raise RuntimeError("feed task died")

    with pytest.raises(RuntimeError):
        run_round()
    assert not path.exists()
    assert replay(path) == EVERY_KIND[:1]


def test_the_tape_is_much_smaller_than_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = stream(50_000, seed=3)
    path = tmp_path / "round.parquet"
    with TapeWriter(path, bench_meta(), fsync=False) as writer:
        for event in events:
            writer.append(event)
    jsonl = sum(len(encode_event(e)) + 1 for e in events)
    tape = path.stat().st_size
    with capsys.disabled():
        print(
            f"\ntape of {len(events):,} events: {tape:,} B ({tape / len(events):.1f} B/event); "
            f"JSON lines {jsonl:,} B ({jsonl / len(events):.1f} B/event); {jsonl / tape:.1f}x smaller"
        )
    assert tape < jsonl / 4
    assert replay(path) == events
