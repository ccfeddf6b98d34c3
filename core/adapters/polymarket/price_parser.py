"""The underlying's price feeds into PriceTicks: RTDS (Chainlink, its 60 s TWAP, Binance) and PolyBolt.

Each tick keeps the feed's own stamp in `source_ts_ms` (settlement is decided on Chainlink's), a backfill
yields one tick per point, and symbols are normalised to `base/quote` ("btc/usd", "btc/usdt") whatever the
feed's spelling. Frames the engine has no source for (the 30 s TWAP, equities, PolyBolt's best bid/ask,
providers it does not know) are ignored, not malformed; the venue's error replies are malformed, so they get
logged.
"""

from __future__ import annotations

from decimal import Decimal

from core.adapters.polymarket import wire
from core.adapters.polymarket.parse import (
    FrameParser,
    Handler,
    Malformed,
    json_value,
    timestamp_ms,
    underlying_price,
)
from core.adapters.polymarket.plausibility import PriceGate
from core.events import PriceSource, PriceTick

_RTDS_TOPICS = {
    wire.RTDS_CHAINLINK: PriceSource.CHAINLINK,
    wire.RTDS_TWAP_60S: PriceSource.CHAINLINK_TWAP_60S,
    wire.RTDS_BINANCE: PriceSource.BINANCE,
}
_RTDS_UNUSED_TOPICS = frozenset({"crypto_prices_twap_thirty", "equity_prices"})

_POLYBOLT_PROVIDERS = {
    "chainlink": PriceSource.CHAINLINK,
    "pyth": PriceSource.PYTH,
    "binance": PriceSource.BINANCE,
}
_POLYBOLT_DEFAULT_PROVIDER = "pyth"
_POLYBOLT_UNUSED_CHANNELS = frozenset({"price.equity", "price.equity.twap"})
_POLYBOLT_ACKS = frozenset({"subscribed", "unsubscribed", "pong", "authed"})
_TWAP_WINDOW_S = 60

_QUOTES = ("usdt", "usdc", "usd")


def normalise_symbol(symbol: str) -> str:
    """`base/quote` in lower case: "BTCUSDT" -> "btc/usdt", "btcusd" -> "btc/usd", "btc/usd" unchanged."""
    text = symbol.strip().lower()
    if "/" in text:
        return text
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}/{quote}"
    return text


class _GatedParser(FrameParser[PriceTick]):
    """A price parser whose ticks pass the plausibility gate; `health()` adds its quarantine counts."""

    def __init__(self, feed: str, frame_type: object, handlers: dict[type, Handler[PriceTick]]) -> None:
        super().__init__(feed, frame_type, handlers)
        self.gate = PriceGate(feed)

    def _admit(self, tick: PriceTick, out: list[PriceTick]) -> None:
        if self.gate.admit(tick) is None:
            out.append(tick)

    @staticmethod
    def _outcome(out: list[PriceTick], before: int) -> str | None:
        """A handler's answer: None when it added a tick, else why the frame yields nothing."""
        return None if len(out) > before else "quarantined"

    def health(self) -> dict[str, dict[str, int]]:
        return {**super().health(), "quarantined": dict(self.gate.quarantined)}


class RtdsParser(_GatedParser):
    """Parses frames of `wss://ws-live-data.polymarket.com`."""

    def __init__(self) -> None:
        handlers: dict[type, Handler[PriceTick]] = {
            wire.RtdsUpdate: self._update,
            wire.RtdsSnapshot: self._snapshot,
        }
        super().__init__("polymarket RTDS", wire.RtdsFrame, handlers)

    def _update(self, msg: wire.RtdsUpdate, recv_ms: int, out: list[PriceTick]) -> str | None:
        feed = _rtds_feed(msg.topic, msg.payload.symbol, msg.payload.window_s)
        if feed is None:
            return "unused_topic"
        source, e18 = feed
        payload, before = msg.payload, len(out)
        self._admit(_tick(source, payload.symbol, payload.timestamp, _rtds_price(payload, e18), recv_ms), out)
        return self._outcome(out, before)

    def _snapshot(self, msg: wire.RtdsSnapshot, recv_ms: int, out: list[PriceTick]) -> str | None:
        feed = _rtds_feed(msg.topic, msg.payload.symbol, msg.payload.window_s)
        if feed is None:
            return "unused_topic"
        if not msg.payload.data:
            return "empty_history"
        source, e18 = feed
        before = len(out)
        for point in msg.payload.data:
            tick = _tick(source, msg.payload.symbol, point.timestamp, _rtds_price(point, e18), recv_ms)
            self._admit(tick, out)
        return self._outcome(out, before)

    def _control(self, frame: bytes | str) -> str | None:
        reply = json_value(frame)
        if isinstance(reply, dict) and "statusCode" in reply:
            raise Malformed("server_error", f"the server answered {reply}")
        return None


def _rtds_feed(topic: str, symbol: str, window_s: int | None) -> tuple[PriceSource, bool] | None:
    """The source of a topic's prices and whether they are Chainlink's integers x 1e18; None if unused."""
    source = _RTDS_TOPICS.get(topic)
    if source is None:
        if topic in _RTDS_UNUSED_TOPICS:
            return None
        raise Malformed("unknown_topic", f"topic {topic!r}")
    if source is PriceSource.CHAINLINK_TWAP_60S and window_s not in (None, _TWAP_WINDOW_S):
        raise Malformed("schema", f"{topic} with window_s {window_s}")
    if source is PriceSource.BINANCE and "/" in symbol:
        # Chainlink's spot backfill has been seen labelled `crypto_prices`; its symbols are "btc/usd".
        return PriceSource.CHAINLINK, True
    return source, source is not PriceSource.BINANCE


def _rtds_price(point: wire.RtdsPrice | wire.PricePoint, e18: bool) -> Decimal:
    if point.full_accuracy_value is not None:
        return underlying_price(point.full_accuracy_value, e18=e18)
    # Some backfills carry only the float `value`; its shortest repr is the text the feed sent.
    return underlying_price(point.value, e18=False)


class PolyBoltParser(_GatedParser):
    """Parses frames of `wss://ws-live-v2.polymarket.com/ws`, whose values are plain decimals throughout."""

    def __init__(self) -> None:
        handlers: dict[type, Handler[PriceTick]] = {
            wire.PolyBoltCryptoPrice: self._price,
            wire.PolyBoltCryptoTwap: self._twap,
            wire.PolyBoltMarketQuote: _ignore_quote,
        }
        super().__init__("polymarket PolyBolt", wire.PolyBoltFrame, handlers)

    def _price(self, msg: wire.PolyBoltCryptoPrice, recv_ms: int, out: list[PriceTick]) -> str | None:
        source = _POLYBOLT_PROVIDERS.get(msg.payload.source or _POLYBOLT_DEFAULT_PROVIDER)
        if source is None:
            return "unknown_provider"
        return self._ticks(source, msg.snapshot, msg.payload, recv_ms, out)

    def _twap(self, msg: wire.PolyBoltCryptoTwap, recv_ms: int, out: list[PriceTick]) -> str | None:
        payload = msg.payload
        if payload.window_seconds is None:
            raise Malformed("schema", "a TWAP without window_seconds")
        if payload.window_seconds != _TWAP_WINDOW_S:
            return "twap_window"
        if payload.source not in (None, "chainlink"):
            return "unknown_provider"
        return self._ticks(PriceSource.CHAINLINK_TWAP_60S, msg.snapshot, payload, recv_ms, out)

    def _control(self, frame: bytes | str) -> str | None:
        reply = json_value(frame)
        if not isinstance(reply, dict):
            return None
        op, channel = reply.get("op"), reply.get("channel")
        if op == "error":
            raise Malformed("server_error", f"the server answered {reply}")
        if isinstance(op, str) and op in _POLYBOLT_ACKS:
            return "ack"
        if reply.get("v") == 1 and isinstance(channel, str) and channel in _POLYBOLT_UNUSED_CHANNELS:
            return "unused_channel"
        return None

    def _ticks(
        self,
        source: PriceSource,
        snapshot: bool | None,
        payload: wire.PolyBoltPrice,
        recv_ms: int,
        out: list[PriceTick],
    ) -> str | None:
        before = len(out)
        if snapshot:
            if payload.data is None:
                raise Malformed("schema", "a snapshot without data")
            if not payload.data:
                return "empty_history"
            for point in payload.data:
                text = point.value if point.full_accuracy_value is None else point.full_accuracy_value
                price = underlying_price(text, e18=False)
                self._admit(_tick(source, payload.symbol, point.timestamp, price, recv_ms), out)
            return self._outcome(out, before)
        value = payload.value if payload.full_accuracy_value is None else payload.full_accuracy_value
        if payload.timestamp is None or value is None:
            raise Malformed("schema", "an update without timestamp or value")
        price = underlying_price(value, e18=False)
        self._admit(_tick(source, payload.symbol, payload.timestamp, price, recv_ms), out)
        return self._outcome(out, before)


def _tick(source: PriceSource, symbol: str, stamp: wire.Timestamp, price: Decimal, recv_ms: int) -> PriceTick:
    return PriceTick(
        source=source,
        price=price,
        source_ts_ms=timestamp_ms(stamp),
        symbol=normalise_symbol(symbol),
        ts_ms=recv_ms,
    )


def _ignore_quote(msg: object, recv_ms: int, out: list[PriceTick]) -> str:
    return "market_quote"
