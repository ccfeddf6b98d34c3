"""The order port on Polymarket's CLOB V2, through the official py-clob-client-v2.

It pre-checks the venue's rules (core.market.venue_rules: tick grid, 5-share resting minimum, $1 marketable
BUY) so a doomed order is never sent, signs on the tick the request names (the client would otherwise sign
on the first tick it cached for the token), posts with `defer_exec` so a post never blocks on trade
settlement, and classifies every failure (core.errors.ErrorCategory). The venue's order id is the EIP-712
hash of the signed order, known before the post: after an unknown outcome the order is looked up by that
id, never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.exceptions import PolyApiException, PolyException
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from pydantic import SecretStr

from core.errors import ErrorCategory, VenueError
from core.events import OrderType, Side
from core.market import venue_rules
from core.market.venue_rules import OrderTerms, VenueMinimums

log = logging.getLogger(__name__)

T = TypeVar("T")

MARKETABLE_BUY_MINIMUM = Decimal(1)
COLLATERAL_UNIT = Decimal(1_000_000)
_FATAL_MARKERS = ("not enough balance", "closed only", "unauthorized", "invalid api key", "banned")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the agent wants on the book; the venue's minimums are checked against it before signing.

    `tick_size` is the market's tick now (it changes near the extremes); `crosses`: the caller saw the book
    reach this price, so a GTC/GTD is marketable too and needs the $1 minimum of a marketable BUY.
    """

    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType
    tick_size: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal(5)
    neg_risk: bool = False
    post_only: bool = False
    expiration_s: int = 0
    crosses: bool = False


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """A signed order not yet sent; `venue_order_id` is its EIP-712 hash, the id the venue will use."""

    request: OrderRequest
    signed: Any
    venue_order_id: str


@dataclass(frozen=True, slots=True)
class PlaceResult:
    venue_order_id: str
    status: str
    making_amount: Decimal = Decimal(0)
    taking_amount: Decimal = Decimal(0)
    trade_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the venue knows of an order whose post ended in an unknown outcome."""

    venue_order_id: str
    found: bool
    open_order: Mapping[str, Any] | None = None
    trades: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def matched_size(self) -> Decimal:
        return sum((Decimal(str(trade.get("size", "0"))) for trade in self.trades), Decimal(0))


@dataclass(frozen=True, slots=True)
class Collateral:
    """The wallet's pUSD as `/balance-allowance` reports it, in pUSD: the balance, and what each spender (an
    exchange contract, lower-cased address) may take; `"*"` when the venue gives one allowance for all."""

    balance: Decimal
    allowances: Mapping[str, Decimal]

    def allowance_for(self, spender: str) -> Decimal:
        found = self.allowances.get(spender.lower(), self.allowances.get("*"))
        return found if found is not None else Decimal(0)

    @classmethod
    def from_response(cls, response: Any) -> Collateral:
        """`{"balance", "allowances": {spender: amount}}` (or an older single `allowance`), base units (6 dp)."""
        if not isinstance(response, Mapping) or "balance" not in response:
            raise VenueError(
                ErrorCategory.TRANSIENT, "bad_response", f"unexpected balance answer {response!r}"
            )
        allowances: dict[str, Decimal] = {}
        spenders = response.get("allowances")
        if isinstance(spenders, Mapping):
            allowances = {str(k).lower(): _pusd(v) for k, v in spenders.items()}
        elif response.get("allowance") is not None:
            allowances = {"*": _pusd(response["allowance"])}
        return cls(_pusd(response["balance"]), allowances)


def _pusd(amount: Any) -> Decimal:
    try:
        return Decimal(str(amount)) / COLLATERAL_UNIT
    except ArithmeticError:
        raise VenueError(ErrorCategory.TRANSIENT, "bad_response", f"unexpected amount {amount!r}") from None


def check_venue_rules(request: OrderRequest, order_id: str = "(unsigned)") -> None:
    """Refuse locally what the venue would refuse (off-grid prices, small resting orders, tiny marketable
    buys), with its words; `order_id` names the order in them."""
    terms = OrderTerms(
        order_id, request.side, request.price, request.size, request.order_type, crosses=request.crosses
    )
    breach = venue_rules.check(
        terms, request.tick_size, VenueMinimums(request.min_size, MARKETABLE_BUY_MINIMUM)
    )
    if breach is not None:
        raise VenueError(ErrorCategory.REJECTED, breach.breach.value, breach.message)
    if request.post_only and not terms.resting:
        raise VenueError(ErrorCategory.REJECTED, "post_only", "post-only applies to GTC/GTD orders only")


def classify(exc: BaseException, *, mutating: bool) -> VenueError:
    """One category per failure; for requests that change state, a lost answer is UNKNOWN, never TRANSIENT."""
    if isinstance(exc, VenueError):
        return exc
    if isinstance(exc, PolyApiException):
        return _classify_api(exc, mutating=mutating)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return VenueError(ErrorCategory.TRANSIENT, "connect", str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.HTTPError | TimeoutError):
        category = ErrorCategory.UNKNOWN if mutating else ErrorCategory.TRANSIENT
        return VenueError(category, "no_response", str(exc) or type(exc).__name__)
    if isinstance(exc, PolyException):
        return VenueError(ErrorCategory.REJECTED, "client", str(exc.msg))
    category = ErrorCategory.UNKNOWN if mutating else ErrorCategory.TRANSIENT
    return VenueError(category, "unexpected", f"{type(exc).__name__}: {exc}")


def _classify_api(exc: PolyApiException, *, mutating: bool) -> VenueError:
    status = exc.status_code
    message = _message(exc.error_msg)
    if status is None:
        cause = exc.__context__
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            return VenueError(ErrorCategory.TRANSIENT, "connect", f"{type(cause).__name__}: {cause}")
        category = ErrorCategory.UNKNOWN if mutating else ErrorCategory.TRANSIENT
        return VenueError(
            category, "no_response", f"{type(cause).__name__ if cause else 'request'}: {message}"
        )
    lowered = message.lower()
    if status in (401, 403) or any(marker in lowered for marker in _FATAL_MARKERS):
        return VenueError(ErrorCategory.FATAL, "venue_fatal", message, status)
    if status in (425, 429) or status in (502, 503, 504):
        return VenueError(ErrorCategory.TRANSIENT, f"http_{status}", message, status, _retry_after(exc))
    if status >= 500:
        category = ErrorCategory.UNKNOWN if mutating else ErrorCategory.TRANSIENT
        return VenueError(category, f"http_{status}", message, status)
    return VenueError(ErrorCategory.REJECTED, "venue_rejected", message, status)


def _floor_safe(value: Decimal) -> float:
    """The float to hand py-clob-client-v2, whose builder floors `x * 10**k` in binary floating point:
    float(0.58) * 100 is 57.999..., so 0.58 would be signed as 0.57 (and 0.9 pUSD as 0.89). A nudge far
    below the finest tick and amount step (1e-6) keeps every exact value on its own step."""
    return float(value + _FLOOR_NUDGE)


_FLOOR_NUDGE = Decimal("1e-9")


def _client_price(price: Decimal, tick: Decimal) -> float:
    """`_floor_safe`, but never above the client's own bound `1 - float(tick)`, which it checks before
    rounding (0.99 + nudge would be refused; 0.99 itself floors to 0.99)."""
    return min(_floor_safe(price), 1 - float(tick))


def _message(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("error") or error.get("errorMsg") or error.get("error_msg") or error)
    return str(error)


def _retry_after(exc: PolyApiException) -> float | None:
    error = exc.error_msg
    if isinstance(error, Mapping) and error.get("retry_after_seconds") is not None:
        return float(error["retry_after_seconds"])
    return None


class _TickAwareClient(ClobClient):  # type: ignore[misc]  # the client ships no type hints
    """py-clob-client-v2, but a token's tick is the one we last signed on, not the first the client cached:
    it caches a token's tick forever and refuses a finer price (0.001) once it holds a coarser tick (0.01),
    while the venue refines the tick of Up/Down markets near the extremes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_ticks: dict[str, str] = {}

    def get_tick_size(self, token_id: str) -> Any:
        return self.current_ticks.get(token_id) or super().get_tick_size(token_id)


class ClobOrderPort:
    """Signed orders, cancels and queries against one CLOB host, every failure classified."""

    def __init__(
        self,
        host: str,
        private_key: SecretStr,
        *,
        chain_id: int = 137,
        creds: ApiCreds | None = None,
        signature_type: int | None = None,
        funder: str | None = None,
    ) -> None:
        self._chain_id = chain_id
        self._client = _TickAwareClient(
            host,
            chain_id,
            key=private_key.get_secret_value(),
            creds=creds,
            signature_type=signature_type,
            funder=funder,
        )
        self._hasher: dict[bool, ExchangeOrderBuilderV2] = {}

    @property
    def address(self) -> str:
        return str(self._client.get_address())

    def ensure_creds(self) -> ApiCreds:
        """Create API creds, or derive the existing ones, and use them from now on."""
        creds = self._call(self._client.create_or_derive_api_key, mutating=False)
        self._client.set_api_creds(creds)
        return creds

    def place(self, request: OrderRequest) -> PlaceResult:
        """Sign and post one order; raises VenueError (UNKNOWN: reconcile by the order's id before anything)."""
        return self.post(self.prepare(request))

    def prepare(self, request: OrderRequest) -> PreparedOrder:
        """Check the venue's rules and sign: the venue's order id is known before anything is sent."""
        check_venue_rules(request)
        signed = self._call(lambda: self._sign(request), mutating=False)
        return PreparedOrder(request, signed, self.order_id_of(signed, neg_risk=request.neg_risk))

    def post(self, prepared: PreparedOrder) -> PlaceResult:
        request = prepared.request
        response = self._call(
            lambda: self._client.post_order(
                prepared.signed, request.order_type.value, post_only=request.post_only, defer_exec=True
            ),
            mutating=True,
            order_id=prepared.venue_order_id,
        )
        return self._accepted(response, prepared.venue_order_id)

    def cancel(self, venue_order_id: str) -> bool:
        response = self._call(
            lambda: self._client.cancel_order(OrderPayload(orderID=venue_order_id)), mutating=True
        )
        return venue_order_id in (response.get("canceled") or [])

    def cancel_all(self) -> list[str]:
        response = self._call(self._client.cancel_all, mutating=True)
        return list(response.get("canceled") or [])

    def open_orders(
        self, *, market: str | None = None, asset_id: str | None = None
    ) -> list[Mapping[str, Any]]:
        params = OpenOrderParams(market=market, asset_id=asset_id)
        return list(self._call(lambda: self._client.get_open_orders(params), mutating=False))

    def trades(self, *, market: str | None = None, trade_id: str | None = None) -> list[Mapping[str, Any]]:
        params = TradeParams(market=market, id=trade_id)
        return list(self._call(lambda: self._client.get_trades(params), mutating=False))

    def heartbeat(self, heartbeat_id: str = "") -> str:
        """Keep the venue's dead-man switch armed; returns the id to send next time."""
        try:
            response = self._client.post_heartbeat(heartbeat_id)
        except PolyApiException as exc:
            expected = exc.error_msg.get("heartbeat_id") if isinstance(exc.error_msg, Mapping) else None
            if exc.status_code == 400 and expected:
                return str(expected)
            raise classify(exc, mutating=True) from exc
        except Exception as exc:
            raise classify(exc, mutating=True) from exc
        return str(response.get("heartbeat_id", ""))

    def collateral(self) -> Collateral:
        """The wallet's pUSD balance and the exchanges' allowances (GET /balance-allowance, COLLATERAL)."""
        params = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        return Collateral.from_response(
            self._call(lambda: self._client.get_balance_allowance(params), mutating=False)
        )

    def closed_only(self) -> bool:
        """Whether the venue keeps this wallet in closed-only mode (it may only reduce positions)."""
        response = self._call(self._client.get_closed_only_mode, mutating=False)
        return bool(response.get("closed_only", False)) if isinstance(response, Mapping) else False

    def exchange_address(self, *, neg_risk: bool) -> str:
        """The exchange contract that spends our pUSD for orders on this kind of market."""
        contracts = get_contract_config(self._chain_id)
        return str(contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2)

    def reconcile(self, venue_order_id: str, *, market: str | None = None) -> Reconciliation:
        """Look an order up after an unknown outcome: resting (open orders) or executed (trades)."""
        try:
            resting = self._call(lambda: self._client.get_order(venue_order_id), mutating=False)
        except VenueError as exc:
            if exc.category is not ErrorCategory.REJECTED:
                raise
            resting = None
        if isinstance(resting, Mapping) and resting.get("id") == venue_order_id:
            return Reconciliation(venue_order_id, True, open_order=resting)
        ours = tuple(trade for trade in self.trades(market=market) if _involves(trade, venue_order_id))
        return Reconciliation(venue_order_id, bool(ours), trades=ours)

    def order_id_of(self, signed: Any, *, neg_risk: bool) -> str:
        """The venue's id for a signed order: its EIP-712 hash."""
        if neg_risk not in self._hasher:
            contracts = get_contract_config(self._chain_id)
            exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
            self._hasher[neg_risk] = ExchangeOrderBuilderV2(exchange, self._chain_id, self._client.signer)
        hasher = self._hasher[neg_risk]
        return str(hasher.build_order_hash(hasher.build_order_typed_data(signed)))

    def _sign(self, request: OrderRequest) -> Any:
        tick = format(request.tick_size.normalize(), "f")
        self._client.current_ticks[request.token_id] = tick
        options = PartialCreateOrderOptions(tick_size=tick, neg_risk=request.neg_risk)
        if request.order_type in (OrderType.GTC, OrderType.GTD):
            args = OrderArgsV2(
                token_id=request.token_id,
                price=_client_price(request.price, request.tick_size),
                size=_floor_safe(request.size),
                side=request.side.value,
                expiration=request.expiration_s,
            )
            return self._client.create_order(args, options)
        amount = request.size * request.price if request.side is Side.BUY else request.size
        market_args = MarketOrderArgsV2(
            token_id=request.token_id,
            amount=_floor_safe(amount),
            side=request.side.value,
            price=_client_price(request.price, request.tick_size),
            order_type=request.order_type.value,
        )
        return self._client.create_market_order(market_args, options)

    @staticmethod
    def _accepted(response: Any, order_id: str) -> PlaceResult:
        if not isinstance(response, Mapping):
            raise VenueError(ErrorCategory.UNKNOWN, "bad_response", f"unexpected answer {response!r}")
        error = str(response.get("errorMsg") or response.get("error") or "")
        status = str(response.get("status", "")).lower()
        if not response.get("success", False) or error or status not in ("live", "matched", "delayed"):
            raise VenueError(
                ErrorCategory.REJECTED, "venue_rejected", error or f"status {status or 'missing'}"
            )
        venue_id = str(response.get("orderID") or order_id)
        if venue_id.lower() != order_id.lower():
            log.warning("venue order id %s differs from the signed order's hash %s", venue_id, order_id)
        return PlaceResult(
            venue_order_id=venue_id,
            status=status,
            making_amount=Decimal(str(response.get("makingAmount") or "0")),
            taking_amount=Decimal(str(response.get("takingAmount") or "0")),
            trade_ids=tuple(str(trade) for trade in response.get("tradeIDs") or ()),
        )

    @staticmethod
    def _call(action: Callable[[], T], *, mutating: bool, order_id: str | None = None) -> T:
        try:
            return action()
        except Exception as exc:
            error = classify(exc, mutating=mutating)
            suffix = f" (order {order_id})" if order_id else ""
            log.warning("clob: %s%s", error, suffix)
            raise error from exc


def _involves(trade: Mapping[str, Any], venue_order_id: str) -> bool:
    if trade.get("taker_order_id") == venue_order_id:
        return True
    makers: Sequence[Mapping[str, Any]] = trade.get("maker_orders") or ()
    return any(maker.get("order_id") == venue_order_id for maker in makers)
