"""The simulated venue's websockets: market (/ws/market), user (/ws/user), RTDS prices (/rtds) and
PolyBolt (/polybolt). Each connection says what it wants in its first frames, as on the real endpoints;
the venue publishes frames keyed by token id, API key or topic, and a hub routes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000


@dataclass(eq=False)
class Subscriber:
    """One open websocket: the keys it listens to and a bounded queue of frames to send."""

    websocket: WebSocket
    keys: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, frame: str) -> bool:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True


class Hub:
    """Fan-out of one channel's frames to the subscribers listening to their key."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.subscribers: set[Subscriber] = set()

    def publish(self, key: str, frame: str) -> None:
        for subscriber in list(self.subscribers):
            if key in subscriber.keys and not subscriber.offer(frame):
                log.warning("sim %s: slow subscriber dropped", self.channel)
                self.drop_one(subscriber)

    def broadcast(self, frame: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(frame)

    def drop_all(self) -> int:
        """The fault: every connection of this channel is cut."""
        count = len(self.subscribers)
        for subscriber in list(self.subscribers):
            self.drop_one(subscriber)
        return count

    def drop_one(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)


@dataclass
class Hubs:
    market: Hub = field(default_factory=lambda: Hub("market"))
    user: Hub = field(default_factory=lambda: Hub("user"))
    rtds: Hub = field(default_factory=lambda: Hub("rtds"))
    polybolt: Hub = field(default_factory=lambda: Hub("polybolt"))

    def by_name(self, name: str) -> Hub:
        hub: Hub = getattr(self, name)
        return hub


Greeting = Callable[[Subscriber, Any], Iterable[str]]
"""Handles one client frame (parsed JSON): updates the subscriber's keys, returns frames to answer with."""


async def serve(websocket: WebSocket, hub: Hub, greet: Greeting, *, pong: str | None) -> None:
    """Accept, answer PINGs, route subscriptions through `greet`, and pump the subscriber's queue."""
    await websocket.accept()
    subscriber = Subscriber(websocket)
    hub.subscribers.add(subscriber)
    sender = asyncio.create_task(_pump(subscriber))
    try:
        while True:
            text = await websocket.receive_text()
            if text.strip().upper() == "PING":
                if pong is not None:
                    subscriber.offer(pong)
                continue
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                subscriber.offer(json.dumps({"error": "invalid JSON"}))
                continue
            for answer in greet(subscriber, message):
                subscriber.offer(answer)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.subscribers.discard(subscriber)
        with contextlib.suppress(asyncio.QueueFull):
            subscriber.queue.put_nowait(None)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _pump(subscriber: Subscriber) -> None:
    while True:
        frame = await subscriber.queue.get()
        if frame is None:
            with contextlib.suppress(Exception):
                await subscriber.websocket.close(code=1012)
            return
        await subscriber.websocket.send_text(frame)


def websocket_routes(hubs: Hubs, greetings: Mapping[str, Greeting]) -> list[WebSocketRoute]:
    def route(path: str, channel: str, pong: str | None) -> WebSocketRoute:
        async def endpoint(websocket: WebSocket) -> None:
            await serve(websocket, hubs.by_name(channel), greetings[channel], pong=pong)

        return WebSocketRoute(path, endpoint)

    return [
        route("/ws/market", "market", "PONG"),
        route("/ws/user", "user", "PONG"),
        route("/rtds", "rtds", "PONG"),
        route("/polybolt", "polybolt", None),
    ]
