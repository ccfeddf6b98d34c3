"""Live trading's own parts for one round: the executor on the CLOB, the user channel, the dead-man switch.

`open_live_session` is the only way in, and it needs a `LivePermit` (live mode, a key and the explicit
confirmation): a paper round never builds any of this. Before anything is traded it checks, in order, that
the key is usable, that the venue answers and accepts our credentials, that the wallet is not closed-only,
and that its pUSD balance and the exchange's allowance cover what the risk limits let one round spend
(`round_spend_bound`). Any failure is a `LiveStartError` whose message is one line; nothing is placed.

While the round runs, `keepalive` sends the venue's order heartbeat every few seconds: if this process
dies or hangs, the venue cancels our resting orders about ten seconds later. `close` waits for queued
work, cancels whatever still rests and stops the executor.

The user channel reports a trade once per status (MATCHED, MINED, CONFIRMED...): the session passes the
first report of each (trade, order) to the engine, which books every Fill it is given, and only logs the
later ones. A trade reported FAILED after it was booked is logged as an error: the engine cannot unbook it.

A resumed attempt calls `reconcile` before it trades: it cancels what the dead attempt left resting, and
compares the venue's trades of the round's market with the fills the store holds (`Reconciliation`); the
venue's are the ones that count (see core.live.reconcile for what is recorded of the difference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from py_clob_client_v2.clob_types import ApiCreds
from pydantic import SecretStr

from core.adapters.polymarket.clob import ClobOrderPort
from core.adapters.polymarket.feed import FeedClient, Parse
from core.adapters.polymarket.gamma import MarketInfo
from core.adapters.polymarket.parse import Malformed
from core.adapters.polymarket.user_parser import UserParser
from core.adapters.polymarket.user_ws import UserFeed
from core.clock import Clock
from core.config import Settings
from core.errors import ErrorCategory, LiveStartError, VenueError
from core.events import Event, Fill, TradeStatus
from core.execution.live import LiveExecutor, LivePermit, MarketTerms
from core.market.fees import FeeSchedule
from core.risk.limits import RiskLimits

if TYPE_CHECKING:
    from core.live.recovery import RoundHistory

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_RETRY_S = 1.0
CLOSE_TIMEOUT_S = 10.0
CENT = Decimal("0.01")
_MAX_LINE = 240


def round_spend_bound(limits: RiskLimits, fees: FeeSchedule, tick_size: Decimal) -> Decimal:
    """The most pUSD one round can spend under these limits, taker fees included.

    The agent only buys. Each order is at most `max_notional_per_trade` (price x size) plus its taker fee,
    and at most `max_trades_per_round` orders are placed: A = trades x notional x (1 + the highest fee per
    unit of notional at any allowed price). Independently, each outcome holds at most `max_position_shares`,
    each share costing at most the highest allowed price plus its fee: B = 2 x shares x that. The bound is
    the smaller of A and B. `max_daily_loss` does not lower it: on a day in profit the daily-loss rule lets
    a round put more than `max_daily_loss` at stake.
    """
    top = min(limits.entry_price_cap, 1 - tick_size)
    steps = int((top - tick_size) / tick_size)
    prices = [tick_size * (i + 1) for i in range(steps + 1)]
    if not prices:
        return Decimal(0)

    def fee(price: Decimal) -> Decimal:
        return fees.rate * (price * (1 - price)) ** fees.exponent

    per_notional = max(1 + fee(price) / price for price in prices)
    per_share = max(price + fee(price) for price in prices)
    by_trades = limits.max_trades_per_round * limits.max_notional_per_trade * per_notional
    by_position = 2 * limits.max_position_shares * per_share
    return min(by_trades, by_position).quantize(CENT, rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class Funding:
    """What the start-up check read: pUSD available (balance less what our open BUYs hold) and allowed."""

    address: str
    exchange: str
    balance: Decimal
    reserved: Decimal
    allowance: Decimal
    required: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.reserved

    def describe(self) -> str:
        return (
            f"{_pusd(self.available)} pUSD available (balance {_pusd(self.balance)}, "
            f"{_pusd(self.reserved)} held by open orders), {_pusd(self.required)} needed for one round "
            "at the current risk limits"
        )


class FirstReports:
    """The user channel's events with each trade booked once (see the module docstring)."""

    def __init__(self, parse: Parse) -> None:
        self._parse = parse
        self._booked: set[tuple[str, str]] = set()

    def __call__(self, frame: str | bytes, recv_ms: int) -> Sequence[Event]:
        events: list[Event] = []
        for event in self._parse(frame, recv_ms):
            if isinstance(event, Fill):
                key = (event.trade_id, event.order_id)
                if key in self._booked:
                    if event.status is TradeStatus.FAILED:
                        log.error(
                            "trade %s of order %s FAILED on chain after it was booked; check the position",
                            event.trade_id,
                            event.order_id,
                        )
                    continue
                if event.status is TradeStatus.FAILED:
                    log.error(
                        "trade %s of order %s reported FAILED; not booked", event.trade_id, event.order_id
                    )
                    continue
                self._booked.add(key)
            events.append(event)
        return events

    def booked(self, fills: Iterable[Fill]) -> None:
        """Fills already booked elsewhere (an earlier attempt's, or found by `reconcile`): their later
        reports on the user channel are not booked again."""
        self._booked.update((fill.trade_id, fill.order_id) for fill in fills)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What a resumed attempt found at the venue for its round (not `clob.Reconciliation`, one order's
    lookup after a lost answer). Fills carry our order ids, except `unknown_trades`' (the venue's).

    - `cancelled`: the venue order ids cancelled because an earlier attempt left them resting, with our
      order id (None when no record of ours names the order);
    - `missing_fills`: the venue's trades of the round's orders that the store lacks;
    - `unconfirmed_fills`: fills the store holds that the venue does not list (or reports FAILED);
    - `unknown_trades`: the venue's trades of ours on the market for orders no record of the round names;
    - `unreadable_trades`: ids of trades the venue listed that could not be read.
    """

    cancelled: Mapping[str, str | None]
    missing_fills: tuple[Fill, ...] = ()
    unconfirmed_fills: tuple[Fill, ...] = ()
    unknown_trades: tuple[Fill, ...] = ()
    unreadable_trades: tuple[str, ...] = ()
    venue_fills: int = 0

    @property
    def agrees(self) -> bool:
        """The venue and the store hold the same fills (cancelling what rested is no disagreement)."""
        return not (
            self.missing_fills or self.unconfirmed_fills or self.unknown_trades or self.unreadable_trades
        )


class LiveVenueSession:
    """One round's live parts (a `core.live.runner.VenueSession`); built by `open_live_session`."""

    def __init__(
        self,
        port: ClobOrderPort,
        executor: LiveExecutor,
        user_feed: UserFeed,
        funding: Funding,
        *,
        parser: UserParser,
        reports: FirstReports,
        condition_id: str,
        clock_ms: Callable[[], int],
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    ) -> None:
        self._port = port
        self._executor = executor
        self._user = user_feed
        self._parser = parser
        self._reports = reports
        self._condition_id = condition_id
        self._now_ms = clock_ms
        self.funding = funding
        self._interval_s = heartbeat_interval_s
        self._closed = False
        self.heartbeats = 0

    @property
    def executor(self) -> LiveExecutor:
        return self._executor

    def feeds(self) -> Sequence[FeedClient]:
        return (self._user,)

    async def keepalive(self) -> None:
        """Order heartbeats until the session closes: the venue cancels our orders ~10 s after they stop."""
        heartbeat_id = ""
        while not self._closed:
            try:
                heartbeat_id = await asyncio.to_thread(self._port.heartbeat, heartbeat_id)
            except VenueError as exc:
                log.warning("venue heartbeat failed: %s", exc)
                delay = HEARTBEAT_RETRY_S
            else:
                self.heartbeats += 1
                delay = self._interval_s
            await asyncio.sleep(delay)

    async def reconcile(self, history: RoundHistory, venue_ids: Mapping[str, str]) -> Reconciliation:
        """Before a resumed attempt trades: cancel everything resting (an earlier attempt's orders), teach
        the executor the venue ids the store knows (`venue_ids`: venue order id -> ours), and compare the
        venue's trades of the market with `history.fills`. Call before the user channel starts; VenueError
        when the venue cannot be asked."""
        self._executor.client_ids.update(venue_ids)
        found = await asyncio.to_thread(self._reconcile, history)
        self._reports.booked(history.fills)
        self._reports.booked(found.missing_fills)
        return found

    def _reconcile(self, history: RoundHistory) -> Reconciliation:
        names = self._executor.client_ids
        cancelled = {venue_id: names.get(venue_id) for venue_id in self._port.cancel_all()}
        ours = {order.order_id for order in history.orders}
        stored = {(fill.trade_id, fill.order_id) for fill in history.fills}
        at_venue: set[tuple[str, str]] = set()
        missing: list[Fill] = []
        unknown: list[Fill] = []
        unreadable: list[str] = []
        now_ms = self._now_ms()
        for trade in self._port.trades(market=self._condition_id):
            try:
                fills = self._parser.trade_fills(trade, now_ms)
            except Malformed as exc:
                log.error("trade %s at the venue could not be read: %s", trade.get("id", "?"), exc)
                unreadable.append(str(trade.get("id", "?")))
                continue
            for fill in fills:
                if fill.status is TradeStatus.FAILED:
                    continue
                key = (fill.trade_id, fill.order_id)
                at_venue.add(key)
                if fill.order_id not in ours:
                    unknown.append(fill)
                elif key not in stored:
                    missing.append(fill)
        return Reconciliation(
            cancelled=cancelled,
            missing_fills=tuple(missing),
            unconfirmed_fills=tuple(
                fill for fill in history.fills if (fill.trade_id, fill.order_id) not in at_venue
            ),
            unknown_trades=tuple(unknown),
            unreadable_trades=tuple(unreadable),
            venue_fills=len(at_venue),
        )

    async def close(self) -> None:
        """Stop the user channel, let queued orders and cancels finish, cancel what rests, stop the executor."""
        if self._closed:
            return
        self._closed = True
        await self._user.stop()
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        if not self._executor.wait_idle(CLOSE_TIMEOUT_S):
            log.error("live executor still busy after %.0f s; cancelling all the same", CLOSE_TIMEOUT_S)
        try:
            canceled = self._port.cancel_all()
        except VenueError as exc:
            log.error(
                "cancel-all at the end of the round failed (%s); the heartbeat switch cancels in ~10 s", exc
            )
        else:
            if canceled:
                log.info("cancelled %d resting order(s) at the end of the round", len(canceled))
        self._executor.close(CLOSE_TIMEOUT_S)

    async def __aenter__(self) -> LiveVenueSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


async def open_live_session(
    settings: Settings,
    market: MarketInfo,
    limits: RiskLimits,
    *,
    clock: Clock,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
) -> LiveVenueSession:
    """The live parts for `market`'s round, after the start-up check; LiveStartError (one line) if refused."""
    try:
        permit = LivePermit.from_settings(settings)
    except PermissionError as exc:
        raise LiveStartError(f"live start refused: {exc}") from None
    port, creds, funding = await asyncio.to_thread(_check_venue, settings, market, limits)
    terms = MarketTerms(
        condition_id=market.condition_id,
        tick_size=market.tick_size,
        min_order_size=market.min_order_size,
        neg_risk=market.neg_risk,
    )
    executor = LiveExecutor(port, permit, terms, clock_ms=clock.now_ms)
    parser = UserParser(
        api_key=creds.api_key, fee_schedule=market.fee_schedule, client_ids=executor.client_ids
    )
    reports = FirstReports(parser.parse)
    user_feed = UserFeed(
        settings.venue.user_ws_url,
        [market.condition_id],
        api_key=SecretStr(creds.api_key),
        api_secret=SecretStr(creds.api_secret),
        api_passphrase=SecretStr(creds.api_passphrase),
        parse=reports,
        clock=clock,
        malformed_count=lambda: parser.malformed.total,
    )
    log.info("live session for %s, wallet %s: %s", market.slug, funding.address, funding.describe())
    return LiveVenueSession(
        port,
        executor,
        user_feed,
        funding,
        parser=parser,
        reports=reports,
        condition_id=market.condition_id,
        clock_ms=clock.now_ms,
        heartbeat_interval_s=heartbeat_interval_s,
    )


def _check_venue(
    settings: Settings, market: MarketInfo, limits: RiskLimits
) -> tuple[ClobOrderPort, ApiCreds, Funding]:
    """The start-up check, on a worker thread (the client is synchronous)."""
    host = settings.venue.clob_url
    shown = _shown(host)
    given = _given_creds(settings)
    key = settings.private_key
    if key is None:  # a LivePermit implies a key; kept for the type checker
        raise LiveStartError("live start refused: BTC_AGENT_PRIVATE_KEY is not set")
    try:
        port = ClobOrderPort(host, key, chain_id=settings.venue.chain_id, creds=given)
    except Exception:  # what the key parser says may quote the key: never shown
        raise LiveStartError(
            "live start refused: BTC_AGENT_PRIVATE_KEY is not a usable private key (32 bytes, hex)"
        ) from None
    try:
        creds = given if given is not None else port.ensure_creds()
        if port.closed_only():
            raise LiveStartError(
                f"live start refused: wallet {port.address} is in closed-only mode at the venue {shown}"
            )
        collateral = port.collateral()
        reserved = _reserved(port)
    except VenueError as exc:
        raise LiveStartError(_venue_line(exc, shown, derived=given is None)) from None
    exchange = port.exchange_address(neg_risk=market.neg_risk)
    funding = Funding(
        address=port.address,
        exchange=exchange,
        balance=collateral.balance,
        reserved=reserved,
        allowance=collateral.allowance_for(exchange),
        required=round_spend_bound(limits, market.fee_schedule, market.tick_size),
    )
    if funding.available < funding.required:
        raise LiveStartError(
            f"live start refused: unfunded wallet {funding.address}: {funding.describe()} "
            "(max_trades_per_round x max_notional_per_trade plus taker fees, see round_spend_bound)"
        )
    if funding.allowance < funding.required:
        raise LiveStartError(
            f"live start refused: missing allowance: wallet {funding.address} lets the exchange {exchange} "
            f"spend {_pusd(funding.allowance)} pUSD, {_pusd(funding.required)} needed; approve pUSD for "
            "the exchange, then call /balance-allowance/update"
        )
    return port, creds, funding


def _given_creds(settings: Settings) -> ApiCreds | None:
    parts = (settings.api_key, settings.api_secret, settings.api_passphrase)
    if all(part is None for part in parts):
        return None
    if any(part is None for part in parts):
        raise LiveStartError(
            "live start refused: BTC_AGENT_API_KEY, BTC_AGENT_API_SECRET and BTC_AGENT_API_PASSPHRASE go "
            "together; set all three, or none to derive them from the key"
        )
    key, secret, passphrase = (_secret(part) for part in parts)
    return ApiCreds(api_key=key, api_secret=secret, api_passphrase=passphrase)


def _secret(value: SecretStr | None) -> str:
    assert value is not None
    return value.get_secret_value()


def _reserved(port: ClobOrderPort) -> Decimal:
    """pUSD our open BUY orders hold (any market): the venue's balance does not subtract them."""
    held = Decimal(0)
    for order in port.open_orders():
        if str(order.get("side", "")).upper() != "BUY":
            continue
        remaining = Decimal(str(order.get("original_size", "0"))) - Decimal(
            str(order.get("size_matched", "0"))
        )
        held += max(remaining, Decimal(0)) * Decimal(str(order.get("price", "0")))
    return held


def _venue_line(error: VenueError, shown: str, *, derived: bool) -> str:
    detail = _one_line(error.message)
    if error.reason in ("connect", "no_response"):
        return f"live start refused: the venue at {shown} is unreachable ({detail})"
    if error.category is ErrorCategory.FATAL and error.status in (401, 403):
        source = (
            "the API credentials derived from BTC_AGENT_PRIVATE_KEY"
            if derived
            else "BTC_AGENT_API_KEY/_API_SECRET/_API_PASSPHRASE for BTC_AGENT_PRIVATE_KEY's wallet"
        )
        return f"live start refused: the venue at {shown} rejected {source} ({detail})"
    status = f" HTTP {error.status}" if error.status is not None else ""
    return f"live start refused: the venue at {shown} failed the start-up check ({error.reason}{status}: {detail})"


def _shown(url: str) -> str:
    """A URL fit for a log line: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<the configured venue URL>"


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _pusd(amount: Decimal) -> str:
    if amount >= Decimal(10) ** 12:
        return "unlimited"
    return str(amount.quantize(CENT, rounding=ROUND_FLOOR))


__all__ = [
    "Funding",
    "LiveStartError",
    "LiveVenueSession",
    "Reconciliation",
    "open_live_session",
    "round_spend_bound",
]
