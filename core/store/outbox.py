"""The durable outbox: the engine hands it records and moves on; the database gets them later, exactly once.

`put` writes the record to the on-disk spool and returns (microseconds; no database involved). A drain
thread writes spooled records to the database in batches, in order, with retries and backoff while the
database is away, and checkpoints what it wrote. A crash between the insert and the checkpoint only means
the batch is offered again, and because every record has a unique key the second insert is a no-op:
nothing is lost and nothing is written twice. Records the database will never accept are set aside in
`deadletter.jsonl` with the error, never dropped.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import SQLModel

from core.store.db import make_engine
from core.store.models import table_of
from core.store.spool import Spool, SpoolPosition
from core.store.writer import PoisonRecordError, insert_rows, is_poison, to_row

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 1 << 20


class RecordSink(Protocol):
    """What the engine needs from the outbox: hand over a row, never wait on the database."""

    def put(self, row: SQLModel, *, sync: bool = False) -> None: ...


@dataclass(slots=True)
class OutboxStats:
    """What operators and health checks see of the outbox."""

    spooled: int = 0
    written: int = 0
    batches: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    dead_lettered: int = 0
    torn: int = 0
    corrupt: int = 0
    last_error: str | None = None
    last_write_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0


class Outbox:
    """One process's outbox over one spool directory and one database."""

    def __init__(
        self,
        spool_dir: Path,
        database: str | Engine,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.05,
        fsync_interval_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._spool = Spool(spool_dir)
        self._engine = make_engine(database) if isinstance(database, str) else database
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._fsync_interval_s = fsync_interval_s
        self._max_backoff_s = max_backoff_s
        self._stats = OutboxStats()
        self._done = threading.Condition()
        self._written_up_to = self._spool.checkpoint
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- the engine's side ---------------------------------------------------------------------------

    def put(self, row: SQLModel, *, sync: bool = False) -> None:
        """Spool one row (a table row or its plain record class) for the database; `sync=True` also fsyncs
        (use it before acting on the record, e.g. before an order is sent)."""
        payload = json.dumps(
            {"table": table_of(row), "row": row.model_dump(mode="json")},
            separators=(",", ":"),
        ).encode()
        if len(payload) > MAX_RECORD_BYTES:
            raise ValueError(f"{table_of(row)} record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES}")
        self._spool.append(payload, sync=sync)
        self._stats.spooled += 1
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Outbox:
        for target, name in ((self._drain_loop, "outbox-drain"), (self._sync_loop, "outbox-fsync")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything spooled so far is in the database; False if the timeout came first."""
        target = self._spool.end()
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._written_up_to >= target, timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Drain for up to `timeout_s`, then stop; what is not written stays spooled for the next start."""
        drained = self.flush(timeout_s) if self._threads else False
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self._spool.close()
        return drained

    def __enter__(self) -> Outbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def stats(self) -> OutboxStats:
        self._stats.extra["backlog_bytes"] = self._spool.backlog_bytes()
        return self._stats

    # --- the drain thread ----------------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._fsync_interval_s):
            self._spool.sync()
        self._spool.sync()

    def _drain_loop(self) -> None:
        position = self._spool.checkpoint
        backoff = 0.0
        while not self._stop.is_set():
            try:
                advanced = self._drain_once(position)
            except Exception as exc:  # a disk error must not kill the thread that owns the backlog
                log.exception("outbox: drain step failed; retrying")
                self._note_failure(exc)
                advanced = None
            if advanced is None:
                backoff = min(self._max_backoff_s, max(0.05, backoff * 2))
                self._stop.wait(backoff * random.uniform(0.5, 1.0))
                continue
            backoff = 0.0
            if advanced == position:
                self._wake.wait(self._poll_interval_s)
                self._wake.clear()
                continue
            position = advanced
            with self._done:
                self._written_up_to = position
                self._done.notify_all()

    def _drain_once(self, position: SpoolPosition) -> SpoolPosition | None:
        """Move one batch to the database: the new position, or None when the batch must be retried."""
        read = self._spool.read(position, self._batch_size)
        self._stats.torn += read.torn
        self._stats.corrupt += read.corrupt
        if read.end == position:
            return position
        if not self._write(read.payloads):
            return None
        self._spool.commit(read.end)
        return read.end

    def _write(self, payloads: list[bytes]) -> bool:
        """Write one batch; True when it is settled (written or dead-lettered), False to retry later."""
        batch, poison = _decode(payloads)
        try:
            insert_rows(self._engine, [item for item in batch if item is not None])
        except Exception as exc:
            if not is_poison(exc):
                self._note_failure(exc)
                return False
            return self._write_one_by_one(payloads, batch, poison)
        self._dead_letter(poison)
        self._note_success(len(payloads) - len(poison))
        return True

    def _write_one_by_one(
        self,
        payloads: list[bytes],
        batch: list[tuple[str, dict[str, Any]] | None],
        poison: list[tuple[bytes, str]],
    ) -> bool:
        """Isolate the records the database refuses, so one bad record cannot hold back the rest."""
        written = 0
        for payload, item in zip(payloads, batch, strict=True):
            if item is None:
                continue
            try:
                insert_rows(self._engine, [item])
            except Exception as exc:
                if not is_poison(exc):
                    self._note_failure(exc)
                    return False
                poison.append((payload, str(exc)))
            else:
                written += 1
        self._dead_letter(poison)
        self._note_success(written)
        return True

    def _dead_letter(self, poison: list[tuple[bytes, str]]) -> None:
        if not poison:
            return
        path = self._spool.directory / "deadletter.jsonl"
        with open(path, "ab") as handle:
            for payload, error in poison:
                log.error("outbox: record set aside in %s: %s", path, error)
                handle.write(
                    json.dumps({"error": error, "record": payload.decode(errors="replace")}).encode()
                )
                handle.write(b"\n")
            handle.flush()
        self._stats.dead_lettered += len(poison)

    def _note_failure(self, exc: Exception) -> None:
        self._stats.failures += 1
        self._stats.consecutive_failures += 1
        self._stats.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if self._stats.consecutive_failures in (1, 10) or self._stats.consecutive_failures % 100 == 0:
            log.warning(
                "outbox: database write failed (%d in a row), records stay spooled: %s",
                self._stats.consecutive_failures,
                self._stats.last_error,
            )
        self._engine.dispose()

    def _note_success(self, written: int) -> None:
        if self._stats.consecutive_failures:
            log.info("outbox: database reachable again after %d failures", self._stats.consecutive_failures)
        self._stats.consecutive_failures = 0
        self._stats.written += written
        self._stats.batches += 1
        self._stats.last_write_at = time.time()


def _decode(payloads: list[bytes]) -> tuple[list[tuple[str, dict[str, Any]] | None], list[tuple[bytes, str]]]:
    """Spool payloads as (table, row) pairs; undecodable ones are None in the batch and listed as poison."""
    batch: list[tuple[str, dict[str, Any]] | None] = []
    poison: list[tuple[bytes, str]] = []
    for payload in payloads:
        try:
            record = json.loads(payload)
            batch.append((record["table"], to_row(record["table"], record["row"])))
        except (ValueError, KeyError, TypeError, PoisonRecordError) as exc:
            batch.append(None)
            poison.append((payload, f"{type(exc).__name__}: {exc}"))
    return batch, poison


__all__ = ["Outbox", "OutboxStats", "RecordSink", "SpoolPosition"]
