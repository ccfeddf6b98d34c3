"""The simulated venue's RTDS price stream, frame by frame, against the frames polyoxide captured from
wss://ws-live-data.polymarket.com on 2026-09-05 (samples/polyoxide_rtds_captured): the envelope of an
update names its connection (`connection_id`, the same on every frame of a connection); the `subscribe`
backfill does not."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from core.adapters.polymarket import wire
from core.sim.server import SimServer
from core.sim.venue import SimConfig

REFERENCE = Path(
    os.environ.get("BTC_AGENT_SHARED_REFERENCE")
    or Path(__file__).resolve().parents[2].parent / "shared" / "reference"
)
CAPTURED = REFERENCE / "samples" / "polyoxide_rtds_captured" / "rtds_frames_2026-09-05.jsonl"
SUBSCRIBE = json.dumps(
    {
        "action": "subscribe",
        "subscriptions": [
            {"topic": wire.RTDS_CHAINLINK, "type": "*", "filters": '{"symbol":"btc/usd"}'},
            {"topic": wire.RTDS_BINANCE, "type": "update", "filters": '{"symbol":"btcusdt"}'},
        ],
    }
)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(round_seconds=60, seed=37, step_ms=100)) as server:
        yield server


async def frames_of_one_connection(url: str, updates: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with connect(url) as ws:
        await ws.send(SUBSCRIBE)
        deadline = time.monotonic() + 10
        while sum(frame["type"] == "update" for frame in frames) < updates and time.monotonic() < deadline:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    return frames


@pytest.fixture(scope="module")
def two_connections(sim: SimServer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first, second = await asyncio.gather(
            frames_of_one_connection(sim.urls.rtds_url, 4), frames_of_one_connection(sim.urls.rtds_url, 4)
        )
        return first, second

    return asyncio.run(both())


def test_every_update_names_its_connection_and_the_name_holds_for_the_connection(
    two_connections: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    ids = []
    for frames in two_connections:
        updates = [frame for frame in frames if frame["type"] == "update"]
        assert len(updates) >= 4
        names = {frame.get("connection_id") for frame in updates}
        assert len(names) == 1
        name = names.pop()
        assert isinstance(name, str)
        assert len(name) == 20, "14 bytes in base64, like the captured 'gZexFa6cUWeIKEiTDA=='"
        ids.append(name)
    assert ids[0] != ids[1], "each connection has its own"


def test_the_backfill_has_no_connection_id_as_captured(
    two_connections: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    backfills = [frame for frame in two_connections[0] if frame["type"] == "subscribe"]
    assert {frame["topic"] for frame in backfills} == {wire.RTDS_CHAINLINK, wire.RTDS_BINANCE}
    assert all("connection_id" not in frame for frame in backfills)


@pytest.mark.skipif(not CAPTURED.is_file(), reason=f"captured RTDS frames {CAPTURED} are absent")
def test_frames_have_the_captured_envelopes_and_payloads(
    two_connections: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    captured = [json.loads(line) for line in CAPTURED.read_text().splitlines() if line.strip()]
    updates = {frame["topic"]: frame for frame in captured if frame.get("type") == "update"}
    backfill = next(
        frame
        for frame in captured
        if frame.get("topic") == wire.RTDS_BINANCE and frame["type"] == "subscribe"
    )
    for frame in two_connections[0]:
        like = updates[frame["topic"]] if frame["type"] == "update" else backfill
        assert set(frame) == set(like), frame["topic"]
        assert set(frame["payload"]) == set(like["payload"]), frame["topic"]
