"""Login attempts are limited per client address: the limit reached is a 429 with Retry-After, whatever the
password; counted on Redis when set, so two API processes share one count; a dead Redis costs no login."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from api.main import create_app
from core.clock import SimulatedClock
from core.store.auth import Role, UserRow
from tests.api.conftest import PASSWORD, make_settings
from tests.support.redis_server import redis_or_skip

WRONG = {"username": "viewer", "password": "not the password at all"}
RIGHT = {"username": "viewer", "password": PASSWORD}


def app_client(tmp_path: Path, store_url: str, clock: SimulatedClock, **settings: object) -> TestClient:
    base = make_settings(tmp_path, store_url, login_rate_limit="3/minute")
    return TestClient(create_app(base.model_copy(update=settings), clock=clock))


def test_the_fourth_attempt_in_a_minute_is_refused_with_retry_after(
    tmp_path: Path, store_url: str, clock: SimulatedClock, users: dict[Role, UserRow]
) -> None:
    with app_client(tmp_path, store_url, clock) as client:
        answers = [client.post("/auth/login", json=WRONG).status_code for _ in range(3)]
        refused = client.post("/auth/login", json=RIGHT)

    assert answers == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many attempts from testclient (3 per 1 minute)")
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_two_api_processes_share_the_count_on_redis(
    tmp_path: Path, store_url: str, clock: SimulatedClock, users: dict[Role, UserRow]
) -> None:
    url = redis_or_skip()
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    shared = {"redis_url": url, "redis_namespace": namespace}
    with (
        app_client(tmp_path, store_url, clock, **shared) as first,
        app_client(tmp_path, store_url, clock, **shared) as second,
    ):
        assert first.post("/auth/login", json=RIGHT).status_code == 200
        assert second.post("/auth/login", json=WRONG).status_code == 401
        assert first.post("/auth/login", json=WRONG).status_code == 401
        refused = second.post("/auth/login", json=RIGHT)
    assert refused.status_code == 429
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"*{namespace}:ratelimit*"))
    assert keys, "the count lives on Redis"
    client.delete(*keys)


def test_a_dead_redis_falls_back_to_counting_here(
    tmp_path: Path, store_url: str, clock: SimulatedClock, users: dict[Role, UserRow]
) -> None:
    with app_client(tmp_path, store_url, clock, redis_url="redis://127.0.0.1:1/0") as client:
        assert client.post("/auth/login", json=RIGHT).status_code == 200
        assert [client.post("/auth/login", json=WRONG).status_code for _ in range(3)] == [401, 401, 429]
