"""The on-disk spool: framed lines, torn tails after a crash, rotation, checkpoints, one owner at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.store.spool import Spool, SpoolLockedError, SpoolPosition, frame, unframe


@given(st.binary().filter(lambda data: b"\n" not in data))
def test_a_framed_payload_unframes_to_itself(payload: bytes) -> None:
    line = frame(payload)
    assert line.endswith(b"\n")
    assert unframe(line[:-1]) == payload


@given(st.binary(min_size=1).filter(lambda data: b"\n" not in data), st.data())
def test_a_damaged_line_fails_its_checksum(payload: bytes, data: st.DataObject) -> None:
    line = bytearray(frame(payload)[:-1])
    index = data.draw(st.integers(9, len(line) - 1))
    line[index] ^= 0xFF
    assert unframe(bytes(line)) is None


def test_payloads_with_newlines_are_refused() -> None:
    with pytest.raises(ValueError, match="newlines"):
        frame(b"two\nlines")


def test_records_are_read_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    payloads = [f"record-{index:03d}".encode() * 3 for index in range(40)]
    for payload in payloads:
        spool.append(payload)
    first = spool.read(spool.checkpoint, max_records=25)
    rest = spool.read(first.end, max_records=100)
    assert first.payloads + rest.payloads == payloads
    assert len(list(tmp_path.glob("seg-*.log"))) > 1
    assert spool.read(rest.end, max_records=10).payloads == []


def test_commit_drops_spent_segments_and_survives_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    for index in range(30):
        spool.append(b"payload-%02d" % index)
    read = spool.read(spool.checkpoint, max_records=20)
    spool.commit(read.end)
    assert spool.backlog_bytes() > 0
    spool.close()
    reopened = Spool(tmp_path, segment_bytes=100)
    assert reopened.checkpoint == read.end
    remaining = reopened.read(reopened.checkpoint, max_records=100)
    assert remaining.payloads == [b"payload-%02d" % index for index in range(20, 30)]
    reopened.commit(remaining.end)
    assert reopened.backlog_bytes() == 0
    assert min(int(path.name[4:-4]) for path in tmp_path.glob("seg-*.log")) >= remaining.end.segment


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_records_are_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"before the crash")
    torn_segment = spool.end().segment
    spool.close()
    with open(tmp_path / f"seg-{torn_segment:012d}.log", "ab") as segment:
        segment.write(frame(b"half written")[:10])
    restarted = Spool(tmp_path)
    restarted.append(b"after the restart")
    read = restarted.read(restarted.checkpoint, max_records=10)
    assert read.payloads == [b"before the crash", b"after the restart"]
    assert read.torn == 1


def test_a_corrupt_line_is_counted_and_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"good one")
    segment = spool.end().segment
    spool.close()
    with open(tmp_path / f"seg-{segment:012d}.log", "ab") as handle:
        handle.write(b"deadbeef not what the checksum says\n")
    restarted = Spool(tmp_path)
    restarted.append(b"good two")
    read = restarted.read(SpoolPosition(0, 0), max_records=10)
    assert read.payloads == [b"good one", b"good two"]
    assert read.corrupt == 1


def test_the_active_segment_is_read_only_up_to_its_last_complete_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"complete")
    read = spool.read(spool.checkpoint, max_records=10)
    assert read.payloads == [b"complete"]
    assert spool.read(read.end, max_records=10).payloads == []
    spool.append(b"later", sync=True)
    assert spool.read(read.end, max_records=10).payloads == [b"later"]


def test_a_second_owner_of_a_spool_is_refused(tmp_path: Path) -> None:
    owner = Spool(tmp_path)
    with pytest.raises(SpoolLockedError, match="in use by process"):
        Spool(tmp_path)
    owner.close()
    Spool(tmp_path).close()
