"""The simulated venue's state and behaviour: rolling rounds with their markets, prices, books, our
accounts and orders; everything the HTTP and websocket faces (http_app, ws_app) answer from.

All of it runs on one asyncio loop, so no locks: request handlers and the stepping task take turns.
Time comes from the injected clock and never runs backwards inside the venue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from core.adapters.polymarket import wire
from core.clock import Clock, ms_to_datetime
from core.events import BookSnapshot, OrderType, Outcome, Side
from core.market.rounds import Round, RoundSchedule
from core.market.settlement import SettlementSource
from core.sim import frames, market_data
from core.sim.auth import (
    EXCHANGE_V2,
    NEG_RISK_ADAPTER,
    NEG_RISK_EXCHANGE_V2,
    ApiCreds,
    derive_creds,
    order_hash,
    order_signer,
)
from core.sim.faults import FaultPlan, FaultRequest
from core.sim.market_maker import MarketMaker, MarketMakerConfig
from core.sim.markets import SimMarket, gamma_event, make_market
from core.sim.matching import NOT_ENOUGH_BALANCE, EngineReport, MatchingEngine, SimOrder, TradeDelays
from core.sim.prices import (
    BinanceFeed,
    BridgedMinutePath,
    ChainlinkFeed,
    ChainlinkReplayPath,
    JumpingPath,
    ModelPath,
    PricePath,
    replay_from,
)
from core.sim.round_model import RoundModel
from core.sim.ws_app import Hubs, Outgoing, Subscriber, subscribe_market

log = logging.getLogger(__name__)

UNIT = Decimal(1_000_000)
MAX_UINT256 = 2**256 - 1
ALLOWANCE_SPENDERS = (EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, NEG_RISK_ADAPTER)
HEARTBEAT_TIMEOUT_MS = 10_000
SETTLE_DELAY_MS = 1_000
ROUNDS_AHEAD = 2
ROUNDS_KEPT = 4
BACKFILL_S = 60
PriceSourceName = Literal["model", "binance", "chainlink"]


class VenueRefusal(Exception):
    """A request the venue answers with an error: `message` is the venue's own wording."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated venue behaves; the same seed and clock give the same markets and prices."""

    seed: int = 7
    round_seconds: int = 900
    price_source: PriceSourceName = "model"
    price_file: Path | None = None
    start_price: Decimal = Decimal(95_000)
    annual_vol: float = 0.5
    initial_collateral: Decimal = Decimal(1_000)
    collateral_allowance: Decimal | None = None
    """pUSD each key lets the exchanges spend; None is the usual unlimited (max uint256) approval."""
    chain_id: int = 137
    step_ms: int = 250
    twap: bool | None = None
    trade_delays: TradeDelays = field(default_factory=TradeDelays)
    taker_delay_ms: int = 0
    """How long our takers are held (`delayed`) before matching: ~250 on the venue's crypto Up/Down markets;
    0 matches on arrival."""
    market_maker: MarketMakerConfig = field(default_factory=MarketMakerConfig)


@dataclass(slots=True)
class _Listed:
    market: SimMarket
    model: RoundModel
    settled: bool = False


class SimVenue:
    """Polymarket in a box: Gamma, the CLOB and its feeds for a rolling schedule of BTC Up/Down rounds."""

    def __init__(self, config: SimConfig, clock: Clock) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.faults = FaultPlan()
        self.hubs = Hubs()
        self.creds_by_key: dict[str, ApiCreds] = {}
        self._clock = clock
        self._last_ms = clock.now_ms()
        self._schedule = RoundSchedule(
            config.round_seconds, min(180, config.round_seconds), min(240, config.round_seconds)
        )
        self._secret = hashlib.sha256(f"sim-venue:{config.seed}".encode()).digest()
        self._engine = MatchingEngine(
            seed=config.seed, delays=config.trade_delays, taker_delay_ms=config.taker_delay_ms
        )
        path = self._path = JumpingPath(_price_path(config, self._last_ms))
        self._chainlink = ChainlinkFeed(path)
        self._binance = BinanceFeed(path, seed=config.seed)
        self._maker = MarketMaker(config.market_maker, seed=config.seed)
        self._channel = frames.MarketChannel(self._engine)
        self._listed: dict[str, _Listed] = {}
        self._by_token: dict[str, SimMarket] = {}
        self._heartbeats: dict[str, tuple[str, int]] = {}
        self._heartbeat_count = 0
        self._published_second_ms = 0
        self._polybolt_seq = 0

    # --- time and stepping ---------------------------------------------------------------------

    def now_ms(self) -> int:
        """The venue's clock: the injected clock, held monotonic."""
        self._last_ms = max(self._last_ms, self._clock.now_ms())
        return self._last_ms

    def step(self) -> None:
        """Advance the world to now: quotes, other traders, settlement, trade progress, prices."""
        now = self.now_ms()
        self._list_rounds(now)
        for listed in list(self._listed.values()):
            if now < listed.model.round.close_ms:
                self._publish(listed.model.step(now), now)
            elif not listed.settled and now >= listed.model.round.close_ms + SETTLE_DELAY_MS:
                self._settle(listed, now)
        self._publish(self._engine.advance(now), now)
        self._expire_heartbeats(now)
        self._publish_prices(now)
        self._forget_old_rounds(now)

    def _list_rounds(self, now: int) -> None:
        current = self._schedule.round_at_ms(now)
        for offset in range(-1, ROUNDS_AHEAD + 1):
            round_ = current
            for _ in range(abs(offset)):
                round_ = round_.next() if offset > 0 else round_.previous()
            self.listed(round_)

    def listed(self, round_: Round) -> _Listed:
        """The round's market and model, created on first mention (Gamma lists rounds a day ahead)."""
        existing = self._listed.get(round_.slug)
        if existing is not None:
            return existing
        market = make_market(round_, self.config.seed, twap=self.config.twap)
        source = SettlementSource.CHAINLINK_TWAP_60S if market.twap else SettlementSource.CHAINLINK_SPOT
        model = RoundModel(
            round_=round_,
            market=market,
            engine=self._engine,
            feed=self._chainlink,
            settlement=source,
            maker=self._maker,
        )
        listed = _Listed(market, model)
        self._listed[round_.slug] = listed
        for token in market.token_ids:
            self._by_token[token] = market
        self._market_send(self._channel.listed(market, self.now_ms()), self.now_ms())
        return listed

    def _settle(self, listed: _Listed, now: int) -> None:
        resolved, report = listed.model.settle(now)
        listed.settled = True
        outgoing = self._channel.resolved(
            listed.market, resolved.winning_token_id, resolved.winning_outcome, now
        )
        self._market_send(outgoing, now)
        self._publish(report, now)

    def _forget_old_rounds(self, now: int) -> None:
        horizon = now - ROUNDS_KEPT * self.config.round_seconds * 1000
        for slug, listed in list(self._listed.items()):
            if listed.settled and listed.model.round.close_ms < horizon:
                del self._listed[slug]

    # --- publishing ------------------------------------------------------------------------------

    def _publish(self, report: EngineReport, now: int) -> None:
        for outgoing in self._channel.frames(report.market_events, now):
            self._market_send(outgoing, now)
        for order in report.orders:
            creds = self.creds_by_key.get(order.owner)
            if creds is not None:
                self._user_publish(order.owner, frames.order_frame(order, creds.address, now).decode(), now)
        for trade in report.trades:
            creds = self.creds_by_key.get(trade.owner)
            market = self._by_token.get(trade.token_id)
            if creds is not None and market is not None:
                frame = frames.trade_frame(trade, self._fee_bps(market), creds.address)
                self._user_publish(trade.owner, frame.decode(), now)

    def _market_send(self, outgoing: Outgoing, now: int) -> None:
        self._inject_malformed("market")
        if not self.faults.silenced("market", now):
            self.hubs.market.send(outgoing)

    def _user_publish(self, owner: str, frame: str, now: int) -> None:
        self._inject_malformed("user")
        if not self.faults.silenced("user", now):
            self.hubs.user.publish(owner, frame)

    def _inject_malformed(self, channel: str) -> None:
        for index in range(self.faults.take_malformed(channel)):
            self.hubs.by_name(channel).broadcast(_MALFORMED[index % len(_MALFORMED)])

    def _publish_prices(self, now: int) -> None:
        second = self._chainlink.latest_stamp(now)
        if second <= self._published_second_ms:
            return
        self._published_second_ms = second
        for topic, symbol, price in self._price_points(second):
            frame = frames.rtds_update(topic, symbol, price, source_ts_ms=second, sent_ms=now)
            self._inject_malformed("rtds")
            if not self.faults.silenced("rtds", now):
                self.hubs.rtds.publish(f"{topic}|{symbol}", frame)
        self._publish_polybolt(second, now)

    def _price_points(self, second: int) -> list[tuple[str, str, Decimal]]:
        points = [
            (wire.RTDS_CHAINLINK, "btc/usd", self._chainlink.report(second)),
            (wire.RTDS_BINANCE, "btcusdt", self._binance.price_at(second)),
        ]
        twap = self._chainlink.twap_at(second + 1000)
        if twap is not None:
            points.append((wire.RTDS_TWAP_60S, "btc/usd", twap))
        return points

    def _publish_polybolt(self, second: int, now: int) -> None:
        if self.faults.silenced("polybolt", now):
            return
        spot = self._chainlink.report(second)
        twap = self._chainlink.twap_at(second + 1000)
        self._polybolt_seq += 1
        price = wire.PolyBoltPrice(
            symbol="btcusd",
            source="chainlink",
            timestamp=second,
            value=float(spot),
            full_accuracy_value=str(spot),
        )
        self.hubs.polybolt.publish(
            "price.crypto",
            wire.encode(
                wire.PolyBoltCryptoPrice(v=1, seq=self._polybolt_seq, ts=now, payload=price)
            ).decode(),
        )
        if twap is not None:
            twap_price = wire.PolyBoltPrice(
                symbol="btcusd",
                source="chainlink",
                timestamp=second,
                value=float(twap),
                full_accuracy_value=str(twap),
                window_seconds=60,
            )
            self.hubs.polybolt.publish(
                "price.crypto.twap",
                wire.encode(
                    wire.PolyBoltCryptoTwap(v=1, seq=self._polybolt_seq, ts=now, payload=twap_price)
                ).decode(),
            )

    # --- Gamma ------------------------------------------------------------------------------------

    def gamma_event(self, slug: str) -> dict[str, Any] | None:
        round_ = self._round_of(slug)
        if round_ is None:
            return None
        listed = self.listed(round_)
        now = self.now_ms()
        started = now >= round_.open_ms
        strike = listed.model.strike() if started else None
        winner = listed.model.outcome if listed.settled else None
        fair = Decimal(str(round(listed.model.fair_up(now), 3))) if started and winner is None else None
        return gamma_event(
            listed.market,
            now=ms_to_datetime(now),
            strike=strike,
            outcome_prices=(fair, 1 - fair) if fair is not None else None,
            winner=winner,
        )

    def gamma_events(self, slug: str | None) -> list[dict[str, Any]]:
        event = self.gamma_event(slug) if slug else None
        return [event] if event else []

    def gamma_markets(self, slug: str | None) -> list[dict[str, Any]]:
        event = self.gamma_event(slug) if slug else None
        return [event["markets"][0]] if event else []

    def gamma_market(self, slug: str) -> dict[str, Any] | None:
        markets = self.gamma_markets(slug)
        return markets[0] if markets else None

    def _round_of(self, slug: str) -> Round | None:
        try:
            round_ = self._schedule.from_slug(slug)
        except ValueError:
            return None
        reach = timedelta(days=1).total_seconds() * 1000
        return round_ if abs(round_.open_ms - self.now_ms()) <= reach else None

    # --- CLOB: public -------------------------------------------------------------------------------

    def _market_of_token(self, token_id: str) -> SimMarket:
        market = self._by_token.get(token_id)
        if market is None:
            raise VenueRefusal("market not found", 404)
        return market

    def tick_size(self, token_id: str) -> dict[str, Any]:
        market = self._market_of_token(token_id)
        return {"minimum_tick_size": float(self._engine.tick_size(market.condition_id))}

    def fee_rate(self, token_id: str) -> dict[str, Any]:
        return {"base_fee": self._fee_bps(self._market_of_token(token_id))}

    def book(self, token_id: str) -> dict[str, Any]:
        market = self._market_of_token(token_id)
        message = self._channel.book(token_id, self.now_ms())
        body: dict[str, Any] = msgspec.to_builtins(message)
        body.pop("event_type", None)
        body.update(min_order_size=frames.plain(market.min_order_size), neg_risk=False)
        return body

    def market_by_token(self, token_id: str) -> dict[str, Any]:
        market = self._market_of_token(token_id)
        return {"condition_id": market.condition_id, "primary_token_id": market.up_token_id}

    def clob_market(self, condition_id: str) -> dict[str, Any]:
        market = next(
            (m.market for m in self._listed.values() if m.market.condition_id == condition_id), None
        )
        if market is None:
            raise VenueRefusal("market not found", 404)
        schedule = market.fee_schedule
        return {
            "t": [{"t": market.up_token_id, "o": "Up"}, {"t": market.down_token_id, "o": "Down"}],
            "mts": float(self._engine.tick_size(market.condition_id)),
            "nr": False,
            "fd": {"r": float(schedule.rate), "e": schedule.exponent, "to": schedule.taker_only},
            "mos": int(market.min_order_size),
            "mbf": 1000,
            "tbf": 1000,
            "itode": self.config.taker_delay_ms > 0,
        }

    def midpoint(self, token_id: str) -> dict[str, str]:
        return {"mid": market_data.midpoint(self._snapshot(token_id))}

    def price(self, token_id: str, side: str) -> dict[str, str]:
        try:
            wanted = Side(side.upper())
        except ValueError:
            raise VenueRefusal("Invalid side") from None
        return {"price": market_data.price(self._snapshot(token_id), wanted)}

    def spread(self, token_id: str) -> dict[str, str]:
        return {"spread": market_data.spread(self._snapshot(token_id))}

    def last_trade_price(self, token_id: str) -> dict[str, str]:
        self._snapshot(token_id)
        return market_data.last_trade(self._engine.last_trade(token_id))

    def market(self, condition_id: str) -> dict[str, Any]:
        """GET /markets/{condition_id}, for the rounds the venue lists."""
        listed = next((m for m in self._listed.values() if m.market.condition_id == condition_id), None)
        if listed is None:
            raise VenueRefusal("market not found", 404)
        now = self.now_ms()
        started = now >= listed.model.round.open_ms
        winner = listed.model.outcome if listed.settled else None
        up = Decimal(str(round(listed.model.fair_up(now), 3))) if started else Decimal("0.5")
        return market_data.market_json(
            listed.market,
            now=ms_to_datetime(now),
            tick_size=self._engine.tick_size(condition_id),
            up_price=Decimal(1 if winner is Outcome.UP else 0) if winner is not None else up,
            winner=winner,
        )

    def change_tick(self, condition_id: str, tick: Decimal) -> dict[str, str]:
        """Set a market's tick now, as the venue does near the extremes (the market channel announces it)."""
        if not self._engine.has_market(condition_id):
            raise VenueRefusal("market not found", 404)
        old = self._engine.change_tick(condition_id, tick)
        return {"market": condition_id, "old_tick_size": str(old), "new_tick_size": str(tick)}

    def _snapshot(self, token_id: str) -> BookSnapshot:
        if token_id not in self._by_token:
            raise VenueRefusal(market_data.NO_ORDERBOOK, 404)
        return self._engine.book_snapshot(token_id, self.now_ms())

    # --- CLOB: keys and accounts -----------------------------------------------------------------

    def create_api_key(self, address: str, nonce: int) -> dict[str, str]:
        creds = derive_creds(self._secret, address, nonce)
        if creds.api_key in self.creds_by_key:
            raise VenueRefusal("Could not create api key")
        return self._register(creds)

    def derive_api_key(self, address: str, nonce: int) -> dict[str, str]:
        creds = derive_creds(self._secret, address, nonce)
        return self._register(creds)

    def _register(self, creds: ApiCreds) -> dict[str, str]:
        if creds.api_key not in self.creds_by_key:
            self.creds_by_key[creds.api_key] = creds
            self._engine.open_account(creds.api_key, self.config.initial_collateral)
        return {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}

    def balance(self, query: Mapping[str, str], creds: ApiCreds) -> dict[str, Any]:
        token = query.get("token_id")
        if query.get("asset_type", "COLLATERAL").upper() == "CONDITIONAL" and token:
            amount = self._engine.position(creds.api_key, token)
        else:
            amount = self._engine.collateral(creds.api_key)
        allowance = self.config.collateral_allowance
        allowed = str(MAX_UINT256 if allowance is None else int(allowance * UNIT))
        return {"balance": str(int(amount * UNIT)), "allowances": dict.fromkeys(ALLOWANCE_SPENDERS, allowed)}

    # --- CLOB: orders --------------------------------------------------------------------------------

    def submit_order(self, payload: Any, creds: ApiCreds) -> dict[str, Any]:
        """POST /order: check the envelope and the signature, then hand the order to the matching engine."""
        order = _signed_order(payload)
        if payload.get("owner") != creds.api_key:
            raise VenueRefusal("the order owner has to be the owner of the API KEY")
        if int(order.get("signatureType", 0)) != 0:
            raise VenueRefusal("the simulated venue verifies EOA (signature type 0) orders only")
        signer = order_signer(order, self.chain_id)
        if not signer or signer != str(order["signer"]).lower():
            raise VenueRefusal("invalid signature")
        if signer != creds.address.lower():
            raise VenueRefusal("the order owner has to be the owner of the API KEY")
        order_id = order_hash(order, self.chain_id)
        sim_order = self._sim_order(order_id, order, payload, creds)
        allowance = self.config.collateral_allowance
        if (
            allowance is not None
            and sim_order.side is Side.BUY
            and sim_order.size * sim_order.price > allowance
        ):
            raise VenueRefusal(NOT_ENOUGH_BALANCE)
        now = self.now_ms()
        result = self._engine.submit(sim_order, now)
        self._publish(result.report, now)
        if not result.accepted or result.status is None:
            raise VenueRefusal(result.error)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": result.status.value,
            "makingAmount": frames.number(result.making_amount),
            "takingAmount": frames.number(result.taking_amount),
            "transactionsHashes": [],
            "tradeIDs": list(result.trade_ids),
        }

    def _sim_order(self, order_id: str, order: Mapping[str, Any], payload: Any, creds: ApiCreds) -> SimOrder:
        market = self._market_of_token(str(order["tokenId"]))
        try:
            order_type = OrderType(str(payload.get("orderType", "GTC")))
            side = Side(str(order["side"]))
            maker, taker = Decimal(int(order["makerAmount"])), Decimal(int(order["takerAmount"]))
            expiration_s = int(order.get("expiration") or 0)
        except (ValueError, TypeError) as exc:
            raise VenueRefusal(f"Invalid order payload: {exc}") from None
        if maker <= 0 or taker <= 0:
            raise VenueRefusal("invalid amounts, maker and taker amounts must be positive")
        shares, collateral = (taker, maker) if side is Side.BUY else (maker, taker)
        price = collateral / shares
        if order_type in (OrderType.FOK, OrderType.FAK):
            price = price.quantize(self._engine.tick_size(market.condition_id), rounding=ROUND_HALF_EVEN)
        if order_type is OrderType.GTD and not expiration_s:
            raise VenueRefusal("invalid expiration")
        return SimOrder(
            order_id=order_id,
            owner=creds.api_key,
            token_id=str(order["tokenId"]),
            side=side,
            price=price,
            size=shares / UNIT,
            order_type=order_type,
            post_only=bool(payload.get("postOnly", False)),
            expiration_ms=expiration_s * 1000 if order_type is OrderType.GTD else None,
        )

    def cancel_orders(self, order_ids: list[str], creds: ApiCreds) -> dict[str, Any]:
        now = self.now_ms()
        result = self._engine.cancel_orders(creds.api_key, order_ids, now)
        self._publish(result.report, now)
        return {"canceled": list(result.canceled), "not_canceled": dict(result.not_canceled)}

    def cancel_all(self, creds: ApiCreds) -> dict[str, Any]:
        now = self.now_ms()
        result = self._engine.cancel_all(creds.api_key, now)
        self._publish(result.report, now)
        return {"canceled": list(result.canceled), "not_canceled": dict(result.not_canceled)}

    def cancel_market(self, body: Any, creds: ApiCreds) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        now = self.now_ms()
        result = self._engine.cancel_market(
            creds.api_key, now, condition_id=body.get("market"), token_id=body.get("asset_id")
        )
        self._publish(result.report, now)
        return {"canceled": list(result.canceled), "not_canceled": dict(result.not_canceled)}

    def order(self, order_id: str, creds: ApiCreds) -> dict[str, Any]:
        """Only active orders are returned, as on the venue; a filled or cancelled one comes back empty."""
        view = self._engine.order(order_id)
        if view is None or view.owner != creds.api_key or view.status.value not in ("live", "delayed"):
            return {}
        return frames.order_json(view, self._market_of_token(view.token_id), creds.address)

    def open_orders(self, query: Mapping[str, str], creds: ApiCreds) -> dict[str, Any]:
        views = self._engine.open_orders(
            creds.api_key, condition_id=query.get("market"), token_id=query.get("asset_id")
        )
        wanted = query.get("id")
        data = [
            frames.order_json(view, self._market_of_token(view.token_id), creds.address)
            for view in views
            if wanted is None or view.order_id == wanted
        ]
        return _page(data)

    def trades(self, query: Mapping[str, str], creds: ApiCreds) -> dict[str, Any]:
        trades = self._engine.trades(
            creds.api_key, condition_id=query.get("market"), token_id=query.get("asset_id")
        )
        wanted = query.get("id")
        data = [
            frames.trade_json(trade, self._fee_bps(self._market_of_token(trade.token_id)), creds.address)
            for trade in trades
            if wanted is None or trade.trade_id == wanted
        ]
        return _page(data)

    def heartbeat(self, body: Any, creds: ApiCreds) -> dict[str, Any]:
        """The dead-man switch: armed by the first beat; ten seconds of silence cancels every order."""
        given = str(body.get("heartbeat_id", "")) if isinstance(body, dict) else ""
        expected = self._heartbeats.get(creds.api_key)
        if expected is not None and given != expected[0]:
            raise VenueRefusal(
                "Invalid Heartbeat ID", error_msg="Invalid Heartbeat ID", heartbeat_id=expected[0]
            )
        # Counted as well as timed: two beats within one millisecond must still get two ids.
        self._heartbeat_count += 1
        seed = f"{creds.api_key}:{self.now_ms()}:{self._heartbeat_count}"
        new_id = str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16]))
        self._heartbeats[creds.api_key] = (new_id, self.now_ms())
        return {"heartbeat_id": new_id}

    def _expire_heartbeats(self, now: int) -> None:
        for owner, (_, at) in list(self._heartbeats.items()):
            if now - at > HEARTBEAT_TIMEOUT_MS:
                del self._heartbeats[owner]
                result = self._engine.cancel_all(owner, now)
                log.info("sim: heartbeat lapsed for %s, cancelled %d orders", owner, len(result.canceled))
                self._publish(result.report, now)

    # --- websockets -----------------------------------------------------------------------------------

    def greet_market(self, subscriber: Subscriber, message: Any) -> Iterable[str]:
        """A subscription or a change of it, answered with the books of the tokens it adds."""
        tokens = subscribe_market(subscriber, message)
        if tokens is None:
            return [json.dumps({"error": "expected assets_ids"})]
        books = self._channel.books(tokens, self.now_ms())
        return [books] if books else []

    def greet_user(self, subscriber: Subscriber, message: Any) -> Iterable[str]:
        auth = message.get("auth") if isinstance(message, dict) else None
        if message.get("operation") if isinstance(message, dict) else None:
            return []
        creds = self.creds_by_key.get(str(auth.get("apiKey"))) if isinstance(auth, dict) else None
        if (
            creds is None
            or auth is None
            or auth.get("secret") != creds.secret
            or auth.get("passphrase") != creds.passphrase
        ):
            return [json.dumps({"error": "Unauthorized/Invalid api key"})]
        subscriber.keys.add(creds.api_key)
        return []

    def greet_rtds(self, subscriber: Subscriber, message: Any) -> Iterable[str]:
        if not isinstance(message, dict) or message.get("action") not in ("subscribe", "unsubscribe"):
            return []
        answers: list[str] = []
        for entry in message.get("subscriptions") or []:
            topic = str(entry.get("topic"))
            try:
                symbol = str(json.loads(entry.get("filters") or "{}").get("symbol", ""))
            except (json.JSONDecodeError, AttributeError):
                symbol = ""
            if topic not in (wire.RTDS_CHAINLINK, wire.RTDS_BINANCE, wire.RTDS_TWAP_60S):
                return [json.dumps({"body": {"message": f"topic {topic} not found"}, "statusCode": 401})]
            key = f"{topic}|{symbol}"
            if message["action"] == "unsubscribe":
                subscriber.keys.discard(key)
                continue
            subscriber.keys.add(key)
            answers.append(self._rtds_backfill(topic, symbol))
        return answers

    def _rtds_backfill(self, topic: str, symbol: str) -> str:
        now = self.now_ms()
        last = self._chainlink.latest_stamp(now)
        points = []
        for second in range(last - (BACKFILL_S - 1) * 1000, last + 1, 1000):
            prices = {name: price for name, _, price in self._price_points(second)}
            if topic in prices:
                price = prices[topic]
                accurate = wire.wire_number(price) if topic == wire.RTDS_BINANCE else wire.to_e18(price)
                points.append(
                    wire.PricePoint(timestamp=second, value=float(price), full_accuracy_value=accurate)
                )
        history = wire.RtdsPriceHistory(
            symbol=symbol, data=points, window_s=60 if topic == wire.RTDS_TWAP_60S else None
        )
        return wire.encode(wire.RtdsSnapshot(topic=topic, timestamp=now, payload=history)).decode()

    def greet_polybolt(self, subscriber: Subscriber, message: Any) -> Iterable[str]:
        if not isinstance(message, dict):
            return []
        rid = message.get("rid")
        if message.get("op") == "auth":
            auth = message.get("auth") or {}
            if str(auth.get("apiKey")) not in self.creds_by_key:
                return [json.dumps({"op": "error", "rid": rid, "code": 4001, "message": "unauthorized"})]
            subscriber.keys.add("authed")
            return [json.dumps({"op": "authed", "rid": rid})]
        if message.get("op") == "subscribe":
            if "authed" not in subscriber.keys:
                return [json.dumps({"op": "error", "rid": rid, "code": 4001, "message": "auth first"})]
            for entry in message.get("subscriptions") or []:
                subscriber.keys.add(str(entry.get("channel")))
            return [json.dumps({"op": "subscribed", "rid": rid})]
        return []

    # --- control ---------------------------------------------------------------------------------------

    def arm_faults(self, request: FaultRequest) -> None:
        self.faults.arm(request, self.now_ms())
        if request.btc_jump_pct:
            at_ms = self._path.jump(self.now_ms(), request.btc_jump_pct)
            log.info("sim: BTC jumps %+.2f%% from %d", request.btc_jump_pct, at_ms)
        for channel in request.drop:
            dropped = self.hubs.by_name(channel).drop_all()
            log.info("sim: dropped %d %s connections", dropped, channel)

    def ledger(self) -> dict[str, Any]:
        """Every account's orders (whatever became of them) and trades, as `/data/orders` and `/data/trades`
        shape them: what the venue holds on record, to compare with what the agent recorded."""
        accounts = []
        for creds in self.creds_by_key.values():
            orders = [
                frames.order_json(view, self._market_of_token(view.token_id), creds.address)
                for view in self._engine.orders_of(creds.api_key)
            ]
            trades = [
                frames.trade_json(trade, self._fee_bps(self._market_of_token(trade.token_id)), creds.address)
                | {"order_id": trade.order_id, "fee": frames.number(trade.fee)}
                for trade in self._engine.trades(creds.api_key)
            ]
            accounts.append({"address": creds.address, "orders": orders, "trades": trades})
        return {"accounts": accounts}

    def describe(self) -> dict[str, Any]:
        now = self.now_ms()
        current = self._schedule.round_at_ms(now)
        return {
            "now_ms": now,
            "round_seconds": self.config.round_seconds,
            "current_round": current.slug,
            "rounds": {
                slug: {
                    "settled": listed.settled,
                    "settlement_source": listed.model.settlement.value,
                    "strike": str(listed.model.strike()) if now >= listed.model.round.open_ms else None,
                    "outcome": listed.model.outcome.value if listed.model.outcome else None,
                    "up_token_id": listed.market.up_token_id,
                    "down_token_id": listed.market.down_token_id,
                    "condition_id": listed.market.condition_id,
                }
                for slug, listed in self._listed.items()
            },
            "btc": str(self._chainlink.spot_at(now)),
            "accounts": len(self.creds_by_key),
            "subscribers": {
                name: len(self.hubs.by_name(name).subscribers)
                for name in ("market", "user", "rtds", "polybolt")
            },
            "faults": self.faults.describe(),
        }

    @staticmethod
    def _fee_bps(market: SimMarket) -> int:
        return int(market.fee_schedule.rate * 10_000)


_MALFORMED = (
    '{"event_type": "book", "asset_id": ',
    '{"event_type": "price_change", "market": 42, "price_changes": "none"}',
    "not json at all",
    '[{"event_type": "mystery_event"}]',
)


def _price_path(config: SimConfig, now_ms: int) -> PricePath:
    """The BTC path: a seeded model, or a historical file replayed so that it begins an hour ago."""
    hour_ago = (now_ms // 1000 - 3600) * 1000
    if config.price_source == "model":
        return ModelPath(
            start_price=config.start_price,
            start_ms=hour_ago,
            duration_s=30 * 86_400,
            seed=config.seed,
            annual_vol=config.annual_vol,
        )
    if config.price_file is None:
        raise ValueError(f"price source {config.price_source} needs a price file")
    inner: PricePath = (
        BridgedMinutePath.from_csv(config.price_file, seed=config.seed)
        if config.price_source == "binance"
        else ChainlinkReplayPath.from_csv(config.price_file)
    )
    return replay_from(inner, hour_ago)


def _signed_order(payload: Any) -> Mapping[str, Any]:
    order = payload.get("order") if isinstance(payload, dict) else None
    if not isinstance(order, dict):
        raise VenueRefusal("Invalid order payload")
    if any(key in order for key in ("nonce", "feeRateBps", "taker")) or "timestamp" not in order:
        raise VenueRefusal("order_version_mismatch: invalid order version, please use the latest clob-client")
    missing = [
        key
        for key in ("salt", "maker", "signer", "tokenId", "makerAmount", "takerAmount", "side", "signature")
        if key not in order
    ]
    if missing:
        raise VenueRefusal(f"Invalid order payload: missing {', '.join(missing)}")
    return order


def _page(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": data, "next_cursor": "LTE=", "limit": max(len(data), 100), "count": len(data)}
