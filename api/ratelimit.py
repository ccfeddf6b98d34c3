"""Login attempts limited per client address (slowapi), counted on Redis when it is set (every API process
shares the count), else in this process. A limit reached is a 429 with Retry-After; a Redis that fails
falls back to counting here rather than refusing every login."""

from __future__ import annotations

import math

from fastapi import Request, status
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

from core.config import Settings


def make_limiter(settings: Settings) -> Limiter:
    return Limiter(
        key_func=get_remote_address,
        storage_uri=settings.redis_url or "memory://",
        strategy="moving-window",
        key_prefix=f"{settings.redis_namespace}:ratelimit",
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        headers_enabled=False,
    )


async def rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitExceeded)
    retry_after = math.ceil(exc.limit.limit.get_expiry()) if exc.limit is not None else 60
    address = get_remote_address(request)
    return JSONResponse(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        content={"detail": f"too many attempts from {address} ({exc.detail}): try again in {retry_after} s"},
        headers={"Retry-After": str(retry_after)},
    )
