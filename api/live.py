"""Where the API reads the running round's state: Redis when `BTC_AGENT_REDIS_URL` is set (the round keeps
its latest state there, expiring after 10 s), else the newest heartbeat in the store. A Redis that cannot
answer falls back to the store, and the answer says so."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

import redis
from pydantic import ValidationError
from sqlmodel import Session

from api.status import live_state
from core.config import Settings
from core.live.publish import state_key
from core.live.state import LiveState

log = logging.getLogger(__name__)

TIMEOUT_S = 0.25
Source = Literal["redis", "store"]


class LiveReader:
    """One per app: a Redis connection pool when configured."""

    def __init__(self, settings: Settings) -> None:
        self._namespace = settings.redis_namespace
        self._redis = (
            redis.Redis.from_url(
                settings.redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
            )
            if settings.redis_url
            else None
        )

    def read(self, session: Session, mode: str, now: datetime) -> tuple[LiveState | None, str | None, Source]:
        if self._redis is None:
            return (*live_state(session, mode, now), "store")
        key = state_key(self._namespace, mode)
        try:
            text = self._redis.get(key)
        except (redis.RedisError, OSError) as exc:
            log.warning("live state: redis failed (%s); read from the store", exc)
            state, problem = live_state(session, mode, now)
            note = f"redis unavailable ({type(exc).__name__}), read from the store"
            return state, f"{problem}; {note}" if problem else None, "store"
        if text is None:
            return (
                None,
                f"no round of mode {mode} has published its state in the last 10 s ({key} on Redis)",
                "redis",
            )
        try:
            return LiveState.model_validate_json(text), None, "redis"
        except ValidationError as exc:
            return None, f"the state on Redis ({key}) is malformed ({exc.error_count()} errors)", "redis"

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
