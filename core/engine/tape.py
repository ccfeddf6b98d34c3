"""A round's tape: every event the engine saw or produced, in order, as Parquet, with the round's venue rules.

Columns: `ts_ms` int64 (delta-encoded), `type` (dictionary-encoded tag) and `event`, the event as
`core.events.encode_event` writes it. One generic payload column rather than typed columns: events differ in
shape (snapshots nest levels), their Decimals keep their exact digits only as strings, and zstd removes the
repeated keys, so typed columns would buy little size for a second encoding to keep in step with the events.
Reading decodes a batch of a few thousand events in one msgspec call.

Crash safety: while recording, each row group is a small complete Parquet file, `<path>.parts/<n>.parquet`,
written aside, fsynced and renamed into place, so a crash loses at most the unflushed buffer (a row group's
worth of events, or `max_span_ms` of event time). `close()` joins the parts into `<path>` (row groups of about
128k events) and removes them.
`read_tape` reads `<path>`, or, after a crash, every part that was renamed into place; a new `TapeWriter` on
the same path (a retried run) carries on after the last part.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from core.events import AnyEvent, Event, encode_event
from core.market.fees import FeeSchedule

TAPE_FORMAT = 1
META_KEY = b"btc_agent.tape"


def _recorder_version() -> str:
    try:
        return f"polymarket-btc-agent {version('polymarket-btc-agent')}"
    except PackageNotFoundError:
        return "polymarket-btc-agent (not installed)"


RECORDER_VERSION = _recorder_version()


class TapeMeta(msgspec.Struct, frozen=True, kw_only=True):
    """A round's identity and venue rules, stored in the file's key-value metadata."""

    slug: str
    open_ms: int
    close_ms: int
    up_token_id: str
    down_token_id: str
    tick_size: Decimal
    fee_schedule: FeeSchedule
    settlement_source: str
    condition_id: str | None = None
    min_order_size: Decimal | None = None
    strike: Decimal | None = None
    recorder_version: str = RECORDER_VERSION
    format: int = TAPE_FORMAT


SCHEMA = pa.schema(
    [
        pa.field("ts_ms", pa.int64(), nullable=False),
        pa.field("type", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("event", pa.binary(), nullable=False),
    ]
)
_WRITE_OPTIONS: dict[str, object] = {
    "compression": "zstd",
    "use_dictionary": ["type"],
    "column_encoding": {"ts_ms": "DELTA_BINARY_PACKED"},
}
_meta_decoder = msgspec.json.Decoder(TapeMeta)
_batch_decoder: msgspec.json.Decoder[list[AnyEvent]] = msgspec.json.Decoder(list[AnyEvent])
_PART_SUFFIX = ".parquet"
# Row groups of the closed tape: parts are small for crash safety, a closed tape reads better in big groups.
_JOINED_ROWS = 131_072
# Events decoded per msgspec call: one call per batch, in batches that stay in the CPU's caches.
_READ_BATCH = 4_096
_Writer = Callable[[Path], None]


def parts_dir(path: Path) -> Path:
    """Where a tape's row groups wait while it is being recorded."""
    return path.with_name(path.name + ".parts")


class TapeWriter:
    """Buffers events and writes a row group every `max_rows` events or `max_span_ms` of event time."""

    def __init__(
        self,
        path: Path | str,
        meta: TapeMeta,
        *,
        max_rows: int = 10_000,
        max_span_ms: int = 10_000,
        fsync: bool = True,
    ) -> None:
        if max_rows <= 0 or max_span_ms <= 0:
            raise ValueError("max_rows and max_span_ms must be positive")
        self.path = Path(path)
        self.meta = meta
        self._max_rows = max_rows
        self._max_span_ms = max_span_ms
        self._fsync = fsync
        if self.path.exists():
            raise FileExistsError(f"tape {self.path} is already closed; it is never rewritten")
        self._parts = parts_dir(self.path)
        self._next_part = _resume(self._parts, meta)
        self._metadata = {META_KEY: msgspec.json.encode(meta)}
        self._ts: list[int] = []
        self._types: list[str] = []
        self._events: list[bytes] = []
        self._closed = False

    def append(self, event: Event) -> None:
        if self._closed:
            raise ValueError(f"tape {self.path} is closed")
        if self._ts and event.ts_ms - self._ts[0] >= self._max_span_ms:
            self.flush()
        self._ts.append(event.ts_ms)
        self._types.append(_tag(type(event)))
        self._events.append(encode_event(event))
        if len(self._ts) >= self._max_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered events as one row group, durable once this returns."""
        if not self._ts:
            return
        table = pa.table(
            [
                pa.array(self._ts, pa.int64()),
                pa.array(self._types, pa.string()).dictionary_encode().cast(SCHEMA.field("type").type),
                pa.array(self._events, pa.binary()),
            ],
            schema=SCHEMA.with_metadata(self._metadata),
        )
        self._parts.mkdir(parents=True, exist_ok=True)
        part = self._parts / f"{self._next_part:06d}{_PART_SUFFIX}"
        _write_atomically(part, self._fsync, lambda tmp: pq.write_table(table, tmp, **_WRITE_OPTIONS))
        self._next_part += 1
        self._ts, self._types, self._events = [], [], []

    def close(self) -> None:
        """Flush, then join the parts into the tape file and remove them."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        schema = SCHEMA.with_metadata(self._metadata)

        def join(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, schema, **_WRITE_OPTIONS) as writer:
                pending: list[pa.Table] = []
                for part in _finished_parts(self._parts):
                    pending.append(pq.read_table(part))
                    if sum(t.num_rows for t in pending) >= _JOINED_ROWS:
                        writer.write_table(pa.concat_tables(pending))
                        pending = []
                if pending:
                    writer.write_table(pa.concat_tables(pending))

        _write_atomically(self.path, self._fsync, join)
        shutil.rmtree(self._parts, ignore_errors=True)

    def __enter__(self) -> TapeWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # On an error the parts stay, so a retried run carries on with the same tape.
        if exc_type is None:
            self.close()
        else:
            self.flush()


def segment_path(path: Path, number: int) -> Path:
    """Segment `number` of the tape at `path`: the first is the path itself, later ones are
    `<slug>.seg<n>.parquet`, written by attempts that resumed a round after its tape was closed."""
    if number == 1:
        return path
    return path.with_name(f"{path.name.removesuffix(_PART_SUFFIX)}.seg{number}{_PART_SUFFIX}")


def next_segment(path: Path) -> Path:
    """Where a recording of this round goes on: the first segment not yet closed (its parts, if a crashed
    attempt left some, are carried on)."""
    number = 1
    while segment_path(path, number).exists():
        number += 1
    return segment_path(path, number)


def _segment_files(path: Path) -> list[Path]:
    files: list[Path] = []
    number = 1
    while True:
        segment = segment_path(path, number)
        found = [segment] if segment.exists() else _finished_parts(parts_dir(segment))
        if not found:
            return files
        files.extend(found)
        number += 1


def read_tape(path: Path | str) -> tuple[TapeMeta, Iterator[AnyEvent]]:
    """The round's metadata and its events in recorded order, across every segment; a crashed recording
    gives its flushed prefix."""
    path = Path(path)
    files = _segment_files(path)
    if not files:
        raise FileNotFoundError(f"no tape at {path} and no recorded parts beside it")
    metadata = pq.read_schema(files[0]).metadata or {}
    if META_KEY not in metadata:
        raise ValueError(f"{files[0]} is not a tape: no {META_KEY.decode()} metadata")
    return _meta_decoder.decode(metadata[META_KEY]), _events(files)


def _events(files: list[Path]) -> Iterator[AnyEvent]:
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=_READ_BATCH, columns=["event"]):
            yield from _batch_decoder.decode(b"[" + b",".join(batch.column(0).to_pylist()) + b"]")


@cache
def _tag(kind: type[Event]) -> str:
    return str(kind.__struct_config__.tag)


def _resume(parts: Path, meta: TapeMeta) -> int:
    """The number of the next part: after the last one a crashed recording of the same round left."""
    if not parts.is_dir():
        return 0
    for leftover in parts.glob("*.tmp"):
        leftover.unlink()
    finished = _finished_parts(parts)
    if not finished:
        return 0
    found = pq.read_schema(finished[0]).metadata or {}
    previous = _meta_decoder.decode(found[META_KEY]) if META_KEY in found else None
    if previous is None or previous.slug != meta.slug:
        raise ValueError(f"{parts} holds parts of another recording, not of {meta.slug}")
    return int(finished[-1].name.removesuffix(_PART_SUFFIX)) + 1


def _finished_parts(parts: Path) -> list[Path]:
    if not parts.is_dir():
        return []
    return sorted(p for p in parts.iterdir() if p.name.endswith(_PART_SUFFIX))


def _write_atomically(target: Path, fsync: bool, write: _Writer) -> None:
    """Write beside the target and rename into place, so a reader sees the whole file or none of it."""
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, target)
    if fsync:
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
