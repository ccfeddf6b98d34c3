"""Gamma discovery: a round's market by slug, parsed once into the venue rules the agent trades under.

Gamma's quirks handled here: arrays arrive JSON-encoded inside strings; token ids pair with outcomes by index
(never by assumed order); the window is `eventStartTime`..`endDate` (`startDate` is the listing time); the
strike (`eventMetadata.priceToBeat`) may be missing while a market hydrates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from core.events import Outcome
from core.market.fees import FeeSchedule
from core.market.settlement import SettlementSource, source_for

log = logging.getLogger(__name__)


class GammaError(Exception):
    """Discovery failed; `transient` says whether trying again later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """The venue rules of one round's market, everything the agent needs before it trades."""

    slug: str
    condition_id: str
    question: str
    up_token_id: str
    down_token_id: str
    window_open: datetime
    window_close: datetime
    tick_size: Decimal
    min_order_size: Decimal
    fee_schedule: FeeSchedule
    resolution_source: str | None
    settlement_source: SettlementSource
    market_version: str | None
    neg_risk: bool
    accepting_orders: bool
    closed: bool
    strike: Decimal | None
    winner: Outcome | None

    def token_of(self, outcome: Outcome) -> str:
        return self.up_token_id if outcome is Outcome.UP else self.down_token_id

    def outcome_of(self, token_id: str) -> Outcome:
        if token_id == self.up_token_id:
            return Outcome.UP
        if token_id == self.down_token_id:
            return Outcome.DOWN
        raise KeyError(f"token {token_id} is not in market {self.slug}")


def parse_market(market: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> MarketInfo:
    """A Gamma market object (and its event, for the strike) as MarketInfo; GammaError says what is wrong."""
    try:
        return _parse(market, event or {})
    except GammaError:
        raise
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        slug = market.get("slug", "?") if isinstance(market, Mapping) else "?"
        raise GammaError(
            f"market {slug}: unusable Gamma object ({type(exc).__name__}: {exc})", transient=False
        ) from exc


def _parse(market: Mapping[str, Any], event: Mapping[str, Any]) -> MarketInfo:
    slug = str(market["slug"])
    outcomes = [str(name).strip().lower() for name in _json_list(market["outcomes"], "outcomes")]
    tokens = [str(token) for token in _json_list(market.get("clobTokenIds"), "clobTokenIds")]
    if sorted(outcomes) != ["down", "up"] or len(tokens) != 2:
        raise GammaError(
            f"market {slug}: expected outcomes Up/Down and two token ids, got {outcomes}, {len(tokens)} ids",
            transient=not tokens,
        )
    by_outcome = dict(zip(outcomes, tokens, strict=True))
    window_open = _time(market.get("eventStartTime") or event.get("startTime"), "eventStartTime")
    window_close = _time(market["endDate"], "endDate")
    resolution = market.get("resolutionSource") or event.get("resolutionSource") or None
    schedule = market.get("feeSchedule")
    fee_schedule = FeeSchedule.from_gamma(schedule) if schedule else FeeSchedule(Decimal(0), 1)
    return MarketInfo(
        slug=slug,
        condition_id=str(market["conditionId"]),
        question=str(market.get("question", "")),
        up_token_id=by_outcome["up"],
        down_token_id=by_outcome["down"],
        window_open=window_open,
        window_close=window_close,
        tick_size=_decimal(market.get("orderPriceMinTickSize", "0.01"), "orderPriceMinTickSize"),
        min_order_size=_decimal(market.get("orderMinSize", "5"), "orderMinSize"),
        fee_schedule=fee_schedule,
        resolution_source=str(resolution) if resolution else None,
        settlement_source=source_for(str(resolution) if resolution else None, window_open),
        market_version=str(market["version"]) if market.get("version") else None,
        neg_risk=bool(market.get("negRisk", False)),
        accepting_orders=bool(market.get("acceptingOrders", False)),
        closed=bool(market.get("closed", False)),
        strike=_strike(event.get("eventMetadata") or market.get("eventMetadata")),
        winner=_winner(market, outcomes),
    )


def _json_list(value: Any, name: str) -> list[Any]:
    """Gamma sends arrays as JSON inside a string; newer objects sometimes send real arrays."""
    if value is None:
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, list):
        raise GammaError(f"{name} is not an array: {value!r}", transient=False)
    return parsed


def _time(value: Any, name: str) -> datetime:
    if not value:
        raise GammaError(f"{name} is missing", transient=True)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise GammaError(f"{name} {value!r} has no time zone", transient=False)
    return parsed


def _decimal(value: Any, name: str) -> Decimal:
    result = Decimal(str(value))
    if not result.is_finite() or result <= 0:
        raise GammaError(f"{name} {value!r} is not a positive number", transient=False)
    return result


def _strike(metadata: Any) -> Decimal | None:
    if isinstance(metadata, str):
        metadata = json.loads(metadata, parse_float=Decimal) if metadata else {}
    if not isinstance(metadata, Mapping) or metadata.get("priceToBeat") in (None, ""):
        return None
    return _decimal(metadata["priceToBeat"], "eventMetadata.priceToBeat")


def _winner(market: Mapping[str, Any], outcomes: list[str]) -> Outcome | None:
    """The resolved side: `outcomePrices` turns to 1/0 once the market is settled."""
    if not market.get("closed"):
        return None
    prices = [Decimal(str(price)) for price in _json_list(market.get("outcomePrices"), "outcomePrices")]
    winners = [name for name, price in zip(outcomes, prices, strict=False) if price == 1]
    return Outcome(winners[0]) if len(winners) == 1 else None


class GammaClient:
    """Looks a round's market up by slug, retrying while Gamma is still hydrating it."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 5.0,
        attempts: int = 6,
        backoff_s: float = 0.25,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def close(self) -> None:
        await self._client.aclose()

    async def market(self, slug: str) -> MarketInfo:
        """The market of a round; GammaError after the attempts run out (transient) or on a bad object."""
        delay = self._backoff_s
        last: GammaError | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                market, event = await self._lookup(slug)
                return parse_market(market, event)
            except GammaError as exc:
                if not exc.transient:
                    raise
                last = exc
            except httpx.HTTPError as exc:
                last = GammaError(
                    f"Gamma unreachable for {slug}: {type(exc).__name__}: {exc}", transient=True
                )
            if attempt < self._attempts:
                log.info("gamma: %s (attempt %d/%d), retrying in %.2fs", last, attempt, self._attempts, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, 5.0)
        assert last is not None
        raise last

    async def _lookup(self, slug: str) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
        """`/events?slug=` first (market in markets[0]), then `/events/slug/{slug}`, then `/markets?slug=`."""
        events = await self._get("/events", {"slug": slug})
        if isinstance(events, list) and events and _markets(events[0]):
            return _markets(events[0])[0], events[0]
        event = await self._get(f"/events/slug/{slug}", None)
        if isinstance(event, Mapping) and _markets(event):
            return _markets(event)[0], event
        markets = await self._get("/markets", {"slug": slug})
        if isinstance(markets, list) and markets:
            return markets[0], None
        raise GammaError(f"market {slug} is not listed on Gamma (yet)", transient=True)

    async def _get(self, path: str, params: dict[str, str] | None) -> Any:
        response = await self._client.get(f"{self._base}{path}", params=params)
        if response.status_code == 404:
            return None
        if response.status_code >= 500 or response.status_code == 429:
            raise GammaError(f"Gamma answered {response.status_code} on {path}", transient=True)
        if response.status_code >= 400:
            raise GammaError(
                f"Gamma refused {path}: {response.status_code} {response.text[:200]}", transient=False
            )
        # Numbers as the exact decimals sent (a strike of 95839.635309682666 must not become a float).
        return json.loads(response.content, parse_float=Decimal)


def _markets(event: Any) -> list[Mapping[str, Any]]:
    markets = event.get("markets") if isinstance(event, Mapping) else None
    return [market for market in markets if isinstance(market, Mapping)] if isinstance(markets, list) else []
