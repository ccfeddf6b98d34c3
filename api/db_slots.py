"""How many requests may hold a store session at once, waited for on the event loop.

Why: a request's session holds its connection from its first query until it is closed, and between the two
the request waits for worker threads (its route, then the close). When more requests arrived than the pool
had connections, the worker threads themselves blocked waiting for a connection, the requests holding the
connections could get no thread to finish in, and the server stood still until the pool's timeout (5 s):
one overloaded worker answered nothing for seconds at a time (measured by bench/api.py). Waiting for a slot
on the loop holds no thread, so every request that has a connection can always finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.exc import TimeoutError as PoolTimeout


class DbSlots:
    """At most `limit` sessions at once; a request that waits longer than `wait_s` is refused (503)."""

    def __init__(self, limit: int | None, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        # One semaphore per event loop: tests serve one app from several loops in turn.
        self._by_loop: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.limit is None:
            yield
            return
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_s)
        except TimeoutError:
            raise PoolTimeout(f"no store session free within {self.wait_s:g} s") from None
        try:
            yield
        finally:
            semaphore.release()
