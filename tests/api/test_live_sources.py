"""Where /status and /readyz read the running round: Redis when configured (and the real Redis on loopback
answers here), the store otherwise or when Redis cannot answer, said in the answer; /readyz checks Redis and
the running round's feeds."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from core.clock import SimulatedClock
from core.live.publish import state_key
from core.live.state import heartbeat
from core.store.auth import Role
from tests.api.conftest import Headers, make_settings
from tests.api.history_rows import insert, round_state
from tests.support.redis_server import redis_or_skip

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_url() -> str:
    return redis_or_skip()


def client_with(tmp_path: Path, store_url: str, clock: SimulatedClock, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, store_url).model_copy(update=settings), clock=clock))


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    redis.Redis.from_url(redis_url).delete(state_key(name, "paper"))


def test_status_reads_the_live_state_from_redis_when_it_is_set(
    tmp_path: Path,
    *,
    store_url: str,
    clock: SimulatedClock,
    as_role: Callable[[Role], Headers],
    redis_url: str,
    namespace: str,
) -> None:
    state = round_state(clock.now_ms() - 500)
    redis.Redis.from_url(redis_url).set(state_key(namespace, "paper"), state.model_dump_json(), ex=10)

    with client_with(tmp_path, store_url, clock, redis_url=redis_url, redis_namespace=namespace) as client:
        body = client.get("/status", headers=as_role(Role.VIEWER)).json()

    assert body["live_source"] == "redis"
    assert body["live"]["round_slug"] == state.round_slug
    assert body["live"]["feeds"]["market"]["reconnects"] == 1


def test_status_says_when_no_round_publishes_on_redis(
    tmp_path: Path,
    *,
    store_url: str,
    clock: SimulatedClock,
    as_role: Callable[[Role], Headers],
    redis_url: str,
    namespace: str,
) -> None:
    with client_with(tmp_path, store_url, clock, redis_url=redis_url, redis_namespace=namespace) as client:
        body = client.get("/status", headers=as_role(Role.VIEWER)).json()

    assert (body["live"], body["live_source"]) == (None, "redis")
    assert body["live_unavailable"].startswith(
        "no round of mode paper has published its state in the last 10 s"
    )


def test_status_falls_back_to_the_store_when_redis_is_down_and_says_so(
    tmp_path: Path, store_url: str, store: Engine, clock: SimulatedClock, as_role: Callable[[Role], Headers]
) -> None:
    insert(store, [heartbeat(round_state(clock.now_ms() - 1000))])

    with client_with(tmp_path, store_url, clock, redis_url=DEAD_REDIS) as client:
        body = client.get("/status", headers=as_role(Role.VIEWER)).json()
        ready = client.get("/readyz")

    assert body["live_source"] == "store"
    assert body["live"] is not None, "the heartbeat in the store still serves"
    assert ready.status_code == 503
    checks = {c["name"]: c for c in ready.json()["checks"]}
    assert checks["redis"]["status"] == "failed"
    assert checks["redis"]["detail"].startswith("unreachable")


def test_readiness_checks_redis_when_it_is_set(
    tmp_path: Path, store_url: str, clock: SimulatedClock, redis_url: str
) -> None:
    with client_with(tmp_path, store_url, clock, redis_url=redis_url) as client:
        checks = {c["name"]: c for c in client.get("/readyz").json()["checks"]}
    with client_with(tmp_path, store_url, clock) as client:
        without = {c["name"]: c for c in client.get("/readyz").json()["checks"]}

    assert checks["redis"] == {"name": "redis", "status": "ok", "detail": "reachable"}
    assert without["redis"]["status"] == "skipped"


def test_readiness_checks_the_running_round_s_feeds(
    client: TestClient, store: Engine, clock: SimulatedClock
) -> None:
    idle = {c["name"]: c for c in client.get("/readyz").json()["checks"]}
    state = round_state(clock.now_ms() - 1000)
    insert(store, [heartbeat(state)])
    running = {c["name"]: c for c in client.get("/readyz").json()["checks"]}
    stale_feed = state.feeds["market"].model_copy(update={"stale": True})
    clock.advance(1000)
    insert(store, [heartbeat(state.model_copy(update={"at": clock.now(), "feeds": {"market": stale_feed}}))])
    stale = client.get("/readyz")

    assert idle["feeds"]["status"] == "skipped"
    assert idle["feeds"]["detail"].startswith("no round has published its state yet")
    assert running["feeds"] == {"name": "feeds", "status": "ok", "detail": f"{state.round_slug}: market live"}
    assert stale.status_code == 503
    feeds = {c["name"]: c for c in stale.json()["checks"]}["feeds"]
    assert feeds == {
        "name": "feeds",
        "status": "failed",
        "detail": f"{state.round_slug}: market stale or down",
    }
