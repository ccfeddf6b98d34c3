"""The Redis on loopback the tests that need one use (BTC_AGENT_TEST_REDIS_URL), or a skip that says why."""

from __future__ import annotations

import os

import pytest
import redis


def redis_or_skip() -> str:
    url = os.environ.get("BTC_AGENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url} ({exc}); set BTC_AGENT_TEST_REDIS_URL to run this test")
    return url
