"""The CLOB's `GET /book`: a token's whole book over REST, for when the market channel will not resend one."""

from __future__ import annotations

import logging

import httpx

from core.adapters.polymarket.market_parser import MarketParser
from core.clock import Clock
from core.events import BookSnapshot

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0


class RestBookFetcher:
    """`await fetcher(token_id)`: the venue's current book of the token, stamped on receipt; None when the
    request fails or the answer is no book (both logged; the caller tries again at its next resync)."""

    def __init__(self, clob_url: str, parser: MarketParser, clock: Clock, *, timeout_s: float = TIMEOUT_S):
        self._url = clob_url.rstrip("/") + "/book"
        self._parser = parser
        self._clock = clock
        self._timeout_s = timeout_s

    async def __call__(self, token_id: str) -> BookSnapshot | None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.get(self._url, params={"token_id": token_id})
                response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("GET /book for token %s…: %s: %s", token_id[:12], type(exc).__name__, exc)
            return None
        return self._parser.rest_book(response.content, self._clock.now_ms())
