"""The simulated venue's websockets: market (/ws/market), user (/ws/user), RTDS prices (/rtds) and
PolyBolt (/polybolt). Each connection says what it wants in its first frames, as on the real endpoints;
the venue publishes frames keyed by token id, API key or topic, and a hub routes them.

The market channel is strict as Polymarket's is: its first frame must be a subscription, and anything
else (a text `PING` included) closes the socket with 1008 "invalid subscription payload" (NautilusTrader
issue #4864). A frame about several tokens reaches each subscriber once, however many of them it follows;
custom-feature frames (`best_bid_ask`, `new_market`, `market_resolved`) only reach subscriptions that set
`custom_feature_enabled`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
CLOSE_TIMEOUT_S = 2.0
POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012
INVALID_SUBSCRIPTION = "invalid subscription payload"


@dataclass(frozen=True, slots=True)
class Close:
    """Queued after a connection's last frame: close it with this code and reason."""

    code: int
    reason: str = ""


class Refused(Exception):
    """A client frame the endpoint answers by closing the connection."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.close = Close(code, reason)


def _connection_id() -> str:
    # RTDS ids look like "gZexFa6cUWeIKEiTDA==": 14 random bytes in base64.
    return base64.b64encode(secrets.token_bytes(14)).decode()


@dataclass(eq=False)
class Subscriber:
    """One open websocket: the keys it listens to, what it asked for, and a bounded queue of frames."""

    websocket: WebSocket
    keys: set[str] = field(default_factory=set)
    subscribed: bool = False
    custom_features: bool = False
    connection_id: str = field(default_factory=_connection_id)
    queue: asyncio.Queue[str | Close] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, frame: str) -> bool:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, close: Close) -> None:
        """Send nothing more but the close (whatever was queued is dropped)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(close)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One market-channel frame and who gets it: subscribers of any of `keys` (None: every subscriber),
    once each; `custom` frames only where the subscription enabled the custom features."""

    frame: str
    keys: frozenset[str] | None
    custom: bool = False

    def wanted_by(self, subscriber: Subscriber) -> bool:
        if self.custom and not subscriber.custom_features:
            return False
        return self.keys is None or not self.keys.isdisjoint(subscriber.keys)


Frame = str | Callable[[Subscriber], str]
"""A frame, or how to make it for one subscriber (RTDS frames carry the connection's id)."""


class Hub:
    """Fan-out of one channel's frames to the subscribers listening to their key."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.subscribers: set[Subscriber] = set()

    def publish(self, key: str, frame: Frame) -> None:
        for subscriber in list(self.subscribers):
            if key in subscriber.keys:
                self._offer(subscriber, frame if isinstance(frame, str) else frame(subscriber))

    def send(self, outgoing: Outgoing) -> None:
        for subscriber in list(self.subscribers):
            if outgoing.wanted_by(subscriber):
                self._offer(subscriber, outgoing.frame)

    def broadcast(self, frame: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(frame)

    def drop_all(self) -> int:
        """The fault: every connection of this channel is cut."""
        count = len(self.subscribers)
        for subscriber in list(self.subscribers):
            self.drop_one(subscriber)
        return count

    def drop_one(self, subscriber: Subscriber, close: Close = Close(SERVICE_RESTART)) -> None:
        self.subscribers.discard(subscriber)
        subscriber.end(close)

    def _offer(self, subscriber: Subscriber, frame: str) -> None:
        if not subscriber.offer(frame):
            log.warning("sim %s: slow subscriber dropped", self.channel)
            self.drop_one(subscriber)


@dataclass
class Hubs:
    market: Hub = field(default_factory=lambda: Hub("market"))
    user: Hub = field(default_factory=lambda: Hub("user"))
    rtds: Hub = field(default_factory=lambda: Hub("rtds"))
    polybolt: Hub = field(default_factory=lambda: Hub("polybolt"))

    def by_name(self, name: str) -> Hub:
        hub: Hub = getattr(self, name)
        return hub


def subscribe_market(subscriber: Subscriber, message: Any) -> list[str] | None:
    """Apply a market-channel subscription frame: the first, `{"assets_ids": [...], "type": "market"}`, or a
    later `{"operation": "subscribe"|"unsubscribe", "assets_ids": [...]}`; either may set
    `custom_feature_enabled`. Returns the tokens whose books to send (none if `initial_dump` is false),
    None for a frame that is no subscription."""
    if not isinstance(message, dict):
        return None
    tokens = message.get("assets_ids")
    if not isinstance(tokens, list) or not all(isinstance(token, str | int) for token in tokens):
        return None
    operation = message.get("operation")
    if not subscriber.subscribed and str(message.get("type", "")).lower() != "market":
        return None
    if subscriber.subscribed and operation not in ("subscribe", "unsubscribe", None):
        return None
    subscriber.subscribed = True
    if isinstance(message.get("custom_feature_enabled"), bool):
        subscriber.custom_features = message["custom_feature_enabled"]
    ids = [str(token) for token in tokens]
    if operation == "unsubscribe":
        subscriber.keys.difference_update(ids)
        return []
    subscriber.keys.update(ids)
    return ids if message.get("initial_dump", True) is not False else []


Greeting = Callable[[Subscriber, Any], Iterable[str]]
"""Handles one client frame (parsed JSON): updates the subscriber, returns frames to answer with; raises
Refused to close the connection."""


async def serve(
    websocket: WebSocket, hub: Hub, greet: Greeting, *, pong: str | None, subscribe_first: bool = False
) -> None:
    """Accept, answer PINGs, route client frames through `greet`, and pump the subscriber's queue.

    With `subscribe_first`, a connection whose first frame `greet` does not take as a subscription (a PING,
    say) is closed with 1008 "invalid subscription payload"."""
    await websocket.accept()
    subscriber = Subscriber(websocket)
    hub.subscribers.add(subscriber)
    sender = asyncio.create_task(_pump(subscriber))
    try:
        while True:
            text = await websocket.receive_text()
            for answer in _answer(subscriber, text, greet, pong, subscribe_first):
                subscriber.offer(answer)
    except Refused as refusal:
        hub.drop_one(subscriber, refusal.close)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(sender), CLOSE_TIMEOUT_S)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.subscribers.discard(subscriber)
        with contextlib.suppress(asyncio.QueueFull):
            subscriber.queue.put_nowait(Close(SERVICE_RESTART))
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _answer(
    subscriber: Subscriber, text: str, greet: Greeting, pong: str | None, subscribe_first: bool
) -> Iterable[str]:
    if subscribe_first and not subscriber.subscribed:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            raise Refused(POLICY_VIOLATION, INVALID_SUBSCRIPTION) from None
        answers = list(greet(subscriber, message))
        if not subscriber.subscribed:
            raise Refused(POLICY_VIOLATION, INVALID_SUBSCRIPTION)
        return answers
    if text.strip().upper() == "PING":
        return [] if pong is None else [pong]
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return [json.dumps({"error": "invalid JSON"})]
    return greet(subscriber, message)


async def _pump(subscriber: Subscriber) -> None:
    while True:
        frame = await subscriber.queue.get()
        if isinstance(frame, Close):
            with contextlib.suppress(Exception):
                await subscriber.websocket.close(code=frame.code, reason=frame.reason)
            return
        await subscriber.websocket.send_text(frame)


def websocket_routes(hubs: Hubs, greetings: Mapping[str, Greeting]) -> list[WebSocketRoute]:
    def route(path: str, channel: str, pong: str | None, subscribe_first: bool = False) -> WebSocketRoute:
        async def endpoint(websocket: WebSocket) -> None:
            await serve(
                websocket,
                hubs.by_name(channel),
                greetings[channel],
                pong=pong,
                subscribe_first=subscribe_first,
            )

        return WebSocketRoute(path, endpoint)

    return [
        route("/ws/market", "market", "PONG", subscribe_first=True),
        route("/ws/user", "user", "PONG"),
        route("/rtds", "rtds", "PONG"),
        route("/polybolt", "polybolt", None),
    ]
