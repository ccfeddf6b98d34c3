"""What every Polymarket frame parser shares: one call per frame, never an exception, bad frames counted.

A frame's fate is exactly one of: events returned; ignored (understood, but nothing the engine uses, e.g. a
keepalive or a `best_bid_ask`), counted by reason in `ignored`; malformed, counted by kind in `malformed`
and logged once per kind. Events are stamped with the receive time; the venue's own stamps are not the order
of the engine's input.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

from core import money
from core.adapters.polymarket.wire import Num, Timestamp, parse_timestamp_ms

log = logging.getLogger(__name__)

E = TypeVar("E")

_SAMPLE_CHARS = 300
_SHORT_FRAME = 1024
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, RecursionError)
_KEEPALIVES = frozenset({"PING", "PONG"})
_TAG_FIELDS = ("event_type`", ".type`", "channel`")

# More shares than will ever rest on one level: a size beyond it is a corrupt number, not a market.
MAX_SIZE = Decimal(10) ** 12
ZERO = Decimal(0)
ONE = Decimal(1)


class Malformed(Exception):
    """Raised by a handler when a decoded frame cannot become events; `kind` is the counter's key."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind


class MalformedCounter:
    """Frames a feed could not use, by kind; the first of each kind is logged with a sample, the rest counted."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self._counts: Counter[str] = Counter()

    def record(self, kind: str, frame: bytes | str, detail: str) -> None:
        if kind not in self._counts:
            sample = frame[:_SAMPLE_CHARS]
            log.warning(
                "%s: malformed frame (%s: %s); further %r frames are only counted. Sample: %r",
                self.feed,
                kind,
                detail,
                kind,
                sample,
            )
        self._counts[kind] += 1

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @property
    def total(self) -> int:
        return self._counts.total()


Handler = Callable[[Any, int, list[E]], str | None]
"""Turns one decoded message into events appended to the list, or returns why it is ignored, or raises
Malformed."""


class FrameParser(Generic[E]):
    """Decodes a channel's frames with one typed decoder and dispatches each message by its struct type."""

    def __init__(
        self,
        feed: str,
        frame_type: Any,
        handlers: dict[type, Handler[E]],
        *,
        usual: tuple[type, type] | None = None,
        tag_field: str = "event_type",
    ) -> None:
        self.malformed = MalformedCounter(feed)
        self.ignored: Counter[str] = Counter()
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(frame_type)
        self._handlers = handlers
        # The venue writes the tag after the payload, where msgspec's tagged-union decoding finds it only by
        # reading the frame twice. `usual` names the commonest short and long messages; their own decoders
        # read them in one pass, checking the tag but unable to require it: so they only get frames that
        # name a tag field at all (an untagged trade print must not pass for a level change); the union,
        # which requires it, takes the rest.
        self._short, self._long = (
            (self._decoder, self._decoder)
            if usual is None
            else (msgspec.json.Decoder(usual[0]), msgspec.json.Decoder(usual[1]))
        )
        self._tag_text = f'"{tag_field}"'
        self._tag_bytes = self._tag_text.encode()

    def parse(self, frame: bytes | str, recv_ms: int) -> list[E]:
        """The events in one frame, each stamped `recv_ms`; [] when the frame is ignored or malformed."""
        try:
            try:
                tagged = self._tag_bytes in frame if type(frame) is bytes else self._tag_text in frame
                if not tagged:
                    raise msgspec.DecodeError("no tag field")
                decoded = (self._short if len(frame) < _SHORT_FRAME else self._long).decode(frame)
            except _DECODE_ERRORS:
                decoded = self._decoder.decode(frame)
        except _DECODE_ERRORS as exc:
            self._undecodable(frame, exc)
            return []
        events: list[E] = []
        try:
            if type(decoded) is list:
                ignored = None
                for message in decoded:
                    ignored = self._handlers[type(message)](message, recv_ms, events) or ignored
            else:
                ignored = self._handlers[type(decoded)](decoded, recv_ms, events)
        except Malformed as exc:
            self.malformed.record(exc.kind, frame, str(exc))
            return []
        except ArithmeticError as exc:  # comparing a NaN, or an exponent beyond the context's range
            self.malformed.record("bad_number", frame, repr(exc))
            return []
        except Exception as exc:  # a bug in a handler must not take the feed down; it is counted and logged
            self.malformed.record("internal", frame, repr(exc))
            return []
        if not events:
            self.ignored[ignored or "empty"] += 1
        return events

    def health(self) -> dict[str, dict[str, int]]:
        """Counts for health reporting."""
        return {"malformed": self.malformed.counts, "ignored": dict(self.ignored)}

    def _undecodable(self, frame: bytes | str, exc: Exception) -> None:
        if _is_keepalive(frame):
            self.ignored["keepalive"] += 1
            return
        detail = str(exc)
        kind = "json"
        if isinstance(exc, msgspec.ValidationError):
            kind = (
                "unknown_event_type"
                if "Invalid value" in detail and detail.endswith(_TAG_FIELDS)
                else "schema"
            )
            try:
                ignored = self._control(frame)
            except Malformed as verdict:
                kind, detail = verdict.kind, str(verdict)
            except Exception as bug:  # recognising a control frame must not take the feed down either
                kind, detail = "internal", repr(bug)
            else:
                if ignored is not None:
                    self.ignored[ignored] += 1
                    return
        self.malformed.record(kind, frame, detail)

    def _control(self, frame: bytes | str) -> str | None:
        """A reason to ignore a frame that is valid JSON but no data message (acks, pongs); raises Malformed
        for the venue's error replies, which must be seen. The default knows none."""
        return None


def json_value(frame: bytes | str) -> object:
    """Any JSON value, for recognising control frames; None when there is none."""
    try:
        return msgspec.json.decode(frame)
    except _DECODE_ERRORS:
        return None


def _is_keepalive(frame: bytes | str) -> bool:
    if len(frame) > 8:
        return False
    text = frame.decode("ascii", "replace") if isinstance(frame, bytes) else frame
    return text.strip().upper() in _KEEPALIVES


def decimal(value: Num) -> Decimal:
    """An exact Decimal from a wire number (JSON floats through their shortest repr, the text the venue sent);
    callers bound it, which also refuses NaN (its comparisons raise) and infinities."""
    try:
        return Decimal(repr(value) if type(value) is float else value)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise Malformed("bad_number", f"{value!r} is not a number") from exc


def price(value: Num) -> Decimal:
    """A token price or tick, strictly between 0 and 1."""
    result = decimal(value)
    if not ZERO < result < ONE:
        raise Malformed("bad_number", f"price {value!r} is outside (0, 1)")
    return result


def size(value: Num) -> Decimal:
    """A share count: not negative, and not absurdly large."""
    result = decimal(value)
    if not ZERO <= result < MAX_SIZE:
        raise Malformed("bad_number", f"size {value!r} is negative or absurd")
    return result


def timestamp_ms(value: Timestamp) -> int:
    """`parse_timestamp_ms`, a bad stamp making the frame malformed."""
    try:
        return parse_timestamp_ms(value)
    except ValueError as exc:
        raise Malformed("bad_timestamp", str(exc)) from exc


def underlying_price(value: Num, *, e18: bool) -> Decimal:
    """An underlying's price, above zero; `e18` for Chainlink's integer x 1e18, converted exactly."""
    if e18:
        try:
            result = money.from_e18(value if isinstance(value, str | int) else repr(value))
        except money.MoneyError as exc:
            raise Malformed("bad_number", str(exc)) from exc
    else:
        result = decimal(value)
    if not (result.is_finite() and result > 0):
        raise Malformed("bad_number", f"price {value!r} is not positive")
    return result
