"""A durable append-only log on local disk: where records wait, crash-safe, until the database has them.

Layout of a spool directory: `seg-<n>.log` segments of lines `<crc32 hex> <json>\n`, a `checkpoint`
naming the first position not yet in the database, and a `LOCK` held by the one process that owns it.
A process never appends to a segment it did not create, so a line torn by a crash stays at the end of an
old segment, where the reader recognises and skips it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "seg-", ".log"


class SpoolLockedError(RuntimeError):
    """Another live process owns this spool directory."""


class SpoolPosition(NamedTuple):
    """A byte offset in a numbered segment; positions order like the records they point at."""

    segment: int
    offset: int


@dataclass(slots=True)
class ReadResult:
    payloads: list[bytes]
    end: SpoolPosition
    torn: int = 0
    corrupt: int = 0


@dataclass(slots=True)
class _Active:
    number: int
    fd: int
    size: int = 0
    dirty: bool = False


def frame(payload: bytes) -> bytes:
    """One spool line: the CRC guards against torn and bit-rotted lines, the newline ends it."""
    if b"\n" in payload:
        raise ValueError("spool payloads must not contain newlines")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def unframe(line: bytes) -> bytes | None:
    """The payload of a complete line (without its newline), or None when it fails its CRC."""
    if len(line) < 9 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        expected = int(line[:8], 16)
    except ValueError:
        return None
    return payload if zlib.crc32(payload) == expected else None


class Spool:
    """The append side and the read side of one spool directory, for one owning process."""

    def __init__(self, directory: Path, *, segment_bytes: int = 8 << 20) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _acquire_lock(directory / "LOCK")
        self._mutex = threading.Lock()
        self._checkpoint = self._read_checkpoint()
        newest = max(self._segments(), default=self._checkpoint.segment)
        self._active = self._open_segment(max(newest, self._checkpoint.segment) + 1)

    # --- writing -----------------------------------------------------------------------------------

    def append(self, payload: bytes, *, sync: bool = False) -> SpoolPosition:
        """Write one record; once this returns, a crash of the process cannot lose it (the kernel has it).

        With `sync=True` it is also on the disk (fsync), surviving a power loss; otherwise `sync()` does that
        for everything written, a few milliseconds later.
        """
        line = frame(payload)
        with self._mutex:
            if self._active.size and self._active.size + len(line) > self.segment_bytes:
                self._rotate()
            os.write(self._active.fd, line)
            self._active.size += len(line)
            self._active.dirty = True
            if sync:
                os.fsync(self._active.fd)
                self._active.dirty = False
            return SpoolPosition(self._active.number, self._active.size)

    def sync(self) -> None:
        """fsync what was appended since the last sync."""
        with self._mutex:
            if self._active.dirty:
                os.fsync(self._active.fd)
                self._active.dirty = False

    def end(self) -> SpoolPosition:
        with self._mutex:
            return SpoolPosition(self._active.number, self._active.size)

    def _rotate(self) -> None:
        os.fsync(self._active.fd)
        os.close(self._active.fd)
        self._active = self._open_segment(self._active.number + 1)

    def _open_segment(self, number: int) -> _Active:
        path = self._segment_path(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)
        return _Active(number=number, fd=fd)

    # --- reading and checkpointing -------------------------------------------------------------------

    @property
    def checkpoint(self) -> SpoolPosition:
        return self._checkpoint

    def read(self, start: SpoolPosition, max_records: int, max_bytes: int = 4 << 20) -> ReadResult:
        """Up to `max_records` complete, valid records from `start`, and the position after the last one."""
        result = ReadResult(payloads=[], end=start)
        active = self.end().segment
        for number in self._segments():
            if number < start.segment:
                continue
            offset = start.offset if number == start.segment else 0
            with open(self._segment_path(number), "rb") as segment:
                segment.seek(offset)
                data = segment.read(max_bytes)
            consumed = self._parse(data, offset, number, max_records, result)
            result.end = SpoolPosition(number, offset + consumed)
            if len(result.payloads) >= max_records or number == active or len(data) == max_bytes:
                return result
            if consumed < len(data):
                result.torn += 1
                log.warning("spool segment %d: torn line at its end skipped (a crash while writing)", number)
            result.end = SpoolPosition(number + 1, 0)
        return result

    @staticmethod
    def _parse(data: bytes, offset: int, number: int, max_records: int, result: ReadResult) -> int:
        consumed = 0
        while len(result.payloads) < max_records:
            newline = data.find(b"\n", consumed)
            if newline < 0:
                break
            payload = unframe(data[consumed:newline])
            if payload is None:
                result.corrupt += 1
                log.error("spool segment %d: corrupt line at byte %d skipped", number, offset + consumed)
            else:
                result.payloads.append(payload)
            consumed = newline + 1
        return consumed

    def commit(self, position: SpoolPosition) -> None:
        """Everything before `position` is in the database: record that durably and drop spent segments."""
        tmp = self.directory / "checkpoint.tmp"
        tmp.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.directory / "checkpoint")
        _fsync_dir(self.directory)
        self._checkpoint = position
        active = self.end().segment
        for number in self._segments():
            if number < position.segment and number != active:
                self._segment_path(number).unlink(missing_ok=True)

    def backlog_bytes(self) -> int:
        """Bytes written but not yet checkpointed: the database's debt."""
        return _backlog(self.directory, self._checkpoint)

    def close(self) -> None:
        with self._mutex:
            if self._active.fd >= 0:
                os.fsync(self._active.fd)
                os.close(self._active.fd)
                self._active.fd = -1
        os.close(self._lock_fd)

    def _read_checkpoint(self) -> SpoolPosition:
        return _read_checkpoint(self.directory)

    def _segments(self) -> list[int]:
        return _segments(self.directory)

    def _segment_path(self, number: int) -> Path:
        return _segment_path(self.directory, number)


def backlog_of(directory: Path) -> int:
    """The backlog of a spool directory seen from outside, without taking its lock (a running outbox may
    own it): an estimate of the moment, for metrics."""
    try:
        return _backlog(directory, _read_checkpoint(directory))
    except (OSError, ValueError, KeyError):
        return 0


def _backlog(directory: Path, checkpoint: SpoolPosition) -> int:
    total = 0
    for number in _segments(directory):
        if number < checkpoint.segment:
            continue
        size = _segment_path(directory, number).stat().st_size
        total += size - (checkpoint.offset if number == checkpoint.segment else 0)
    return max(total, 0)


def _read_checkpoint(directory: Path) -> SpoolPosition:
    path = directory / "checkpoint"
    if not path.exists():
        return SpoolPosition(0, 0)
    data = json.loads(path.read_text())
    return SpoolPosition(int(data["segment"]), int(data["offset"]))


def _segments(directory: Path) -> list[int]:
    numbers = []
    for path in directory.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"):
        digits = path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
        if digits.isdigit():
            numbers.append(int(digits))
    return sorted(numbers)


def _segment_path(directory: Path, number: int) -> Path:
    return directory / f"{_SEGMENT_PREFIX}{number:012d}{_SEGMENT_SUFFIX}"


def _acquire_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SpoolLockedError(f"spool {path.parent} is in use by process {holder}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
