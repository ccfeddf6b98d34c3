"""A local websocket server the feed tests control: it records what clients send, answers PING, pushes
frames, drops every connection abruptly, goes silent, and stops and restarts on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

RESET_ON_CLOSE = struct.pack("ii", 1, 0)
MALFORMED_FRAME = '{"event_type": "book", "bids": ['

# The server's own frame log would echo what clients send (credentials included) into tests that capture
# DEBUG logs to prove the client never logs them.
_SERVER_LOG = logging.getLogger(__name__)
_SERVER_LOG.setLevel(logging.WARNING)


class WsTestServer:
    """Every text frame a client sends is recorded: PINGs in `ping_times`, the rest (subscriptions) in
    `requests` with their arrival times (`time.perf_counter()`) in `request_times`."""

    def __init__(self, *, ack: str | None = None, ping_text: str = "PING", pong_text: str = "PONG") -> None:
        self.ack = ack
        self.ping_text = ping_text
        self.pong_text = pong_text
        self.port = 0
        self.silent = False
        self.connections_accepted = 0
        self.requests: list[str] = []
        self.request_times: list[float] = []
        self.ping_times: list[float] = []
        self._clients: set[ServerConnection] = set()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self) -> WsTestServer:
        """Listen on a free port, or on the previous one after `stop()`."""
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, ping_interval=None, logger=_SERVER_LOG
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening (connects are refused) and close open connections with 1001 going away."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def push(self, frame: str | bytes) -> None:
        """Send a frame to every connected client, unless the server is silent."""
        if self.silent:
            return
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                await client.send(frame)

    async def push_malformed(self) -> None:
        await self.push(MALFORMED_FRAME)

    def drop(self) -> float:
        """Reset every connection without a close frame, as a network failure would; returns the instant."""
        dropped_at = time.perf_counter()
        for client in list(self._clients):
            sock = client.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            client.transport.abort()
        return dropped_at

    async def _handle(self, client: ServerConnection) -> None:
        self._clients.add(client)
        self.connections_accepted += 1
        try:
            async for message in client:
                arrived = time.perf_counter()
                text = message if isinstance(message, str) else message.decode()
                if text == self.ping_text:
                    self.ping_times.append(arrived)
                    reply = self.pong_text
                else:
                    self.requests.append(text)
                    self.request_times.append(arrived)
                    if self.ack is None:
                        continue
                    reply = self.ack
                if not self.silent:
                    await client.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)


async def eventually(condition: Callable[[], bool], timeout_s: float = 2.0, what: str = "condition") -> None:
    """Wait until `condition()` holds, polling every few milliseconds; fail after `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.002)
