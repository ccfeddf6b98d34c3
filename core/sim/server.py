"""The simulated venue as a server: one Starlette app on one port, stepping the world on its own cadence.

Point the agent at it with `venue_urls(port)`; run it with `btc-agent sim serve --port P`, or in tests with
`SimServer(...).start()` (a uvicorn server on a background thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from core.clock import Clock, WallClock
from core.config import VenueSettings
from core.sim.http_app import routes
from core.sim.venue import SimConfig, SimVenue
from core.sim.ws_app import websocket_routes

log = logging.getLogger(__name__)


def venue_urls(port: int, host: str = "127.0.0.1") -> VenueSettings:
    """The agent's venue settings for a simulated venue on this port."""
    return VenueSettings(
        gamma_url=f"http://{host}:{port}/gamma",
        clob_url=f"http://{host}:{port}/clob",
        market_ws_url=f"ws://{host}:{port}/ws/market",
        user_ws_url=f"ws://{host}:{port}/ws/user",
        rtds_url=f"ws://{host}:{port}/rtds",
        polybolt_url=f"ws://{host}:{port}/polybolt",
    )


def build_app(venue: SimVenue) -> Starlette:
    """The venue's HTTP and websocket routes, with the stepping loop running for the app's lifetime."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_step_forever(venue))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    greetings = {
        "market": venue.greet_market,
        "user": venue.greet_user,
        "rtds": venue.greet_rtds,
        "polybolt": venue.greet_polybolt,
    }
    return Starlette(routes=[*routes(venue), *websocket_routes(venue.hubs, greetings)], lifespan=lifespan)


async def _step_forever(venue: SimVenue) -> None:
    interval = venue.config.step_ms / 1000
    while True:
        try:
            venue.step()
        except Exception:  # one bad step must not stop the market
            log.exception("sim: step failed")
        await asyncio.sleep(interval)


class SimServer:
    """A simulated venue on a loopback port, on a background thread: for tests and the demo."""

    def __init__(self, config: SimConfig | None = None, *, port: int = 0, clock: Clock | None = None) -> None:
        self.venue = SimVenue(config or SimConfig(), clock or WallClock())
        self.port = port or _free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(
                build_app(self.venue),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                ws="websockets-sansio",
                lifespan="on",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def urls(self) -> VenueSettings:
        return venue_urls(self.port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> SimServer:
        self._thread = threading.Thread(target=self._server.run, name="sim-venue", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self._server.started:
            if waited > timeout_s or not self._thread.is_alive():
                raise RuntimeError(f"simulated venue did not start on port {self.port}")
            deadline.wait(0.02)
            waited += 0.02
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
