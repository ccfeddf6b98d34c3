"""The simulated venue's HTTP face: Gamma under /gamma, the CLOB REST API under /clob, faults under /_sim.

Paths, auth headers, response shapes and error strings follow Polymarket's (../shared/reference §7, §10), so
py-clob-client-v2 and our adapters run against it unchanged, with only their host pointed here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from core.sim.auth import ApiCreds, AuthError, verify_l1, verify_l2
from core.sim.faults import FaultRequest
from core.sim.venue import SimVenue, VenueRefusal

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
CLOB_PREFIX = "/clob"


def error(message: str, status: int = 400, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class LostResponse(Response):
    """Accept the request, then break the connection before the answer is complete: the unknown outcome."""

    def __init__(self) -> None:
        super().__init__(content=b"", status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b'{"success":', "more_body": False})


def routes(venue: SimVenue) -> list[Route]:
    """Every HTTP route of the venue, bound to one SimVenue."""

    def public(handler: Callable[[Request], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await _guarded(venue, request, lambda: handler(request))

        return endpoint

    def l1(handler: Callable[[Request, str, int], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            async def run() -> Any:
                address, nonce = verify_l1(request.headers, venue.chain_id, venue.now_ms() // 1000)
                return handler(request, address, nonce)

            return await _guarded(venue, request, run)

        return endpoint

    def l2(handler: Callable[[Request, ApiCreds, str], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            async def run() -> Any:
                body = (await request.body()).decode()
                path = request.url.path.removeprefix(CLOB_PREFIX)
                creds = verify_l2(
                    request.headers,
                    venue.creds_by_key,
                    method=request.method,
                    path=path,
                    body=body,
                    now_s=venue.now_ms() // 1000,
                )
                return handler(request, creds, body)

            return await _guarded(venue, request, run)

        return endpoint

    def clob(path: str, endpoint: Handler, methods: list[str]) -> Route:
        return Route(CLOB_PREFIX + path, endpoint, methods=methods)

    def query(request: Request, name: str) -> str:
        value = request.query_params.get(name)
        if not value:
            raise VenueRefusal(f"missing query parameter {name}")
        return value

    def post_order(request: Request, creds: ApiCreds, body: str) -> Any:
        payload = _json(body)
        if venue.faults.take_lost_order_response():
            venue.submit_order(payload, creds)
            return LostResponse()
        return venue.submit_order(payload, creds)

    def post_orders(request: Request, creds: ApiCreds, body: str) -> Any:
        payloads = _json(body)
        if not isinstance(payloads, list):
            raise VenueRefusal("body must be an array of orders")
        if len(payloads) > 15:
            raise VenueRefusal(f"Too many orders in payload: {len(payloads)}, max allowed: 15")
        return [venue.submit_order(payload, creds) for payload in payloads]

    def cancel(request: Request, creds: ApiCreds, body: str) -> Any:
        payload = _json(body)
        order_id = payload.get("orderID") if isinstance(payload, dict) else None
        if not order_id:
            raise VenueRefusal("missing orderID")
        return venue.cancel_orders([str(order_id)], creds)

    def cancel_many(request: Request, creds: ApiCreds, body: str) -> Any:
        payload = _json(body)
        if not isinstance(payload, list):
            raise VenueRefusal("body must be an array of order ids")
        return venue.cancel_orders([str(order_id) for order_id in payload], creds)

    return [
        Route(
            "/gamma/events", public(lambda r: venue.gamma_events(r.query_params.get("slug"))), methods=["GET"]
        ),
        Route(
            "/gamma/events/slug/{slug}",
            public(lambda r: venue.gamma_event(r.path_params["slug"])),
            methods=["GET"],
        ),
        Route(
            "/gamma/markets",
            public(lambda r: venue.gamma_markets(r.query_params.get("slug"))),
            methods=["GET"],
        ),
        Route(
            "/gamma/markets/slug/{slug}",
            public(lambda r: venue.gamma_market(r.path_params["slug"])),
            methods=["GET"],
        ),
        clob("/ok", public(lambda r: "OK"), ["GET"]),
        clob("/time", public(lambda r: venue.now_ms() // 1000), ["GET"]),
        clob("/version", public(lambda r: {"version": 2}), ["GET"]),
        clob("/tick-size", public(lambda r: venue.tick_size(query(r, "token_id"))), ["GET"]),
        clob("/neg-risk", public(lambda r: {"neg_risk": False}), ["GET"]),
        clob("/fee-rate", public(lambda r: venue.fee_rate(query(r, "token_id"))), ["GET"]),
        clob("/book", public(lambda r: venue.book(query(r, "token_id"))), ["GET"]),
        clob("/books", public(lambda r: _books(venue, r)), ["POST"]),
        clob("/midpoint", public(lambda r: venue.midpoint(query(r, "token_id"))), ["GET"]),
        clob("/price", public(lambda r: venue.price(query(r, "token_id"), query(r, "side"))), ["GET"]),
        clob("/spread", public(lambda r: venue.spread(query(r, "token_id"))), ["GET"]),
        clob("/last-trade-price", public(lambda r: venue.last_trade_price(query(r, "token_id"))), ["GET"]),
        clob("/midpoints", public(lambda r: _per_token(r, venue.midpoint, "mid")), ["POST"]),
        clob("/spreads", public(lambda r: _per_token(r, venue.spread, "spread")), ["POST"]),
        clob("/prices", public(lambda r: _prices(venue, r)), ["POST"]),
        clob("/last-trades-prices", public(lambda r: _last_trades(venue, r)), ["POST"]),
        clob(
            "/markets/{condition_id}", public(lambda r: venue.market(r.path_params["condition_id"])), ["GET"]
        ),
        clob(
            "/markets-by-token/{token_id}",
            public(lambda r: venue.market_by_token(r.path_params["token_id"])),
            ["GET"],
        ),
        clob(
            "/clob-markets/{condition_id}",
            public(lambda r: venue.clob_market(r.path_params["condition_id"])),
            ["GET"],
        ),
        clob("/auth/api-key", l1(lambda r, address, nonce: venue.create_api_key(address, nonce)), ["POST"]),
        clob(
            "/auth/derive-api-key",
            l1(lambda r, address, nonce: venue.derive_api_key(address, nonce)),
            ["GET"],
        ),
        clob("/auth/api-keys", l2(lambda r, creds, body: {"apiKeys": [creds.api_key]}), ["GET"]),
        clob("/auth/ban-status/closed-only", l2(lambda r, creds, body: {"closed_only": False}), ["GET"]),
        clob("/order", l2(post_order), ["POST"]),
        clob("/order", l2(cancel), ["DELETE"]),
        clob("/orders", l2(post_orders), ["POST"]),
        clob("/orders", l2(cancel_many), ["DELETE"]),
        clob("/cancel-all", l2(lambda r, creds, body: venue.cancel_all(creds)), ["DELETE"]),
        clob(
            "/cancel-market-orders",
            l2(lambda r, creds, body: venue.cancel_market(_json(body), creds)),
            ["DELETE"],
        ),
        clob(
            "/data/order/{order_id}",
            l2(lambda r, creds, body: venue.order(r.path_params["order_id"], creds)),
            ["GET"],
        ),
        clob(
            "/data/orders", l2(lambda r, creds, body: venue.open_orders(dict(r.query_params), creds)), ["GET"]
        ),
        clob("/data/trades", l2(lambda r, creds, body: venue.trades(dict(r.query_params), creds)), ["GET"]),
        clob(
            "/balance-allowance",
            l2(lambda r, creds, body: venue.balance(dict(r.query_params), creds)),
            ["GET"],
        ),
        clob(
            "/balance-allowance/update",
            l2(lambda r, creds, body: venue.balance(dict(r.query_params), creds)),
            ["GET"],
        ),
        clob(
            "/v1/heartbeats",
            l2(lambda r, creds, body: venue.heartbeat(_json(body) if body else {}, creds)),
            ["POST"],
        ),
        Route("/_sim/faults", _faults(venue), methods=["GET", "POST", "DELETE"]),
        Route("/_sim/tick-size", _tick_size_knob(venue), methods=["POST"]),
        Route("/_sim/state", public(lambda r: venue.describe()), methods=["GET"]),
        Route("/_sim/ledger", public(lambda r: venue.ledger()), methods=["GET"]),
    ]


def _faults(venue: SimVenue) -> Handler:
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                venue.arm_faults(FaultRequest.model_validate_json(await request.body()))
            except ValidationError as exc:
                return error(f"bad fault request: {exc.errors(include_url=False)}", 422)
        elif request.method == "DELETE":
            venue.faults.clear()
        return JSONResponse(venue.faults.describe())

    return endpoint


def _tick_size_knob(venue: SimVenue) -> Handler:
    """`POST /_sim/tick-size {"condition_id", "tick_size"}`: change a market's tick now, as the venue does
    near the extremes (for tests; the round model refines ticks by itself)."""

    async def endpoint(request: Request) -> Response:
        async def run() -> Any:
            payload = _json((await request.body()).decode())
            try:
                condition_id, tick = str(payload["condition_id"]), Decimal(str(payload["tick_size"]))
            except (KeyError, TypeError, ArithmeticError):
                raise VenueRefusal('expected {"condition_id": "0x...", "tick_size": "0.001"}', 422) from None
            return venue.change_tick(condition_id, tick)

        return await _guarded(venue, request, run)

    return endpoint


async def _books(venue: SimVenue, request: Request) -> list[dict[str, Any]]:
    return [venue.book(params["token_id"]) for params in await _token_params(request)]


async def _per_token(
    request: Request, answer: Callable[[str], Mapping[str, str]], key: str
) -> dict[str, str]:
    """`POST /midpoints` and `/spreads`: {token id: value}."""
    return {params["token_id"]: answer(params["token_id"])[key] for params in await _token_params(request)}


async def _prices(venue: SimVenue, request: Request) -> dict[str, dict[str, str]]:
    """`POST /prices`: {token id: {side: price}}."""
    answer: dict[str, dict[str, str]] = {}
    for params in await _token_params(request):
        token, side = params["token_id"], params.get("side", "")
        answer.setdefault(token, {})[side.upper()] = venue.price(token, side)["price"]
    return answer


async def _last_trades(venue: SimVenue, request: Request) -> list[dict[str, str]]:
    """`POST /last-trades-prices`: [{token_id, price, side}]."""
    tokens = [params["token_id"] for params in await _token_params(request)]
    return [{"token_id": token, **venue.last_trade_price(token)} for token in tokens]


async def _guarded(venue: SimVenue, request: Request, run: Callable[[], Any]) -> Response:
    """Armed faults first, then the handler; venue refusals and auth failures become the venue's errors."""
    if venue.faults.latency_ms:
        await asyncio.sleep(venue.faults.latency_ms / 1000)
    if not request.url.path.startswith("/_sim"):
        fault = venue.faults.http_fault_for(request.url.path)
        if fault is not None:
            return _fault_response(fault.status, fault.retry_after_s)
    try:
        result = run()
        if asyncio.iscoroutine(result):
            result = await result
    except AuthError as exc:
        return error(exc.message, 401)
    except VenueRefusal as exc:
        return error(exc.message, exc.status, **exc.extra)
    return _as_response(result)


def _as_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse(result)
    if result is None:
        return error("not found", 404)
    return JSONResponse(result)


def _fault_response(status: int, retry_after_s: float | None) -> Response:
    messages = {
        425: "the matching engine is restarting, try again later",
        429: "Too Many Requests",
        503: "Trading is currently disabled. Check polymarket.com for updates",
    }
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if retry_after_s is not None:
        extra["retry_after_seconds"] = retry_after_s
        headers["Retry-After"] = str(int(retry_after_s))
    body = {"error": messages.get(status, "Internal server error"), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


async def _token_params(request: Request) -> list[dict[str, str]]:
    """The body of a batch market-data request: `[{"token_id": ..., "side"?: ...}, ...]`."""
    payload = _json((await request.body()).decode())
    if not isinstance(payload, list) or not all(
        isinstance(entry, dict) and entry.get("token_id") for entry in payload
    ):
        raise VenueRefusal('expected [{"token_id": ...}, ...]')
    return [{str(key): str(value) for key, value in entry.items()} for entry in payload]


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise VenueRefusal("Invalid order payload") from None
