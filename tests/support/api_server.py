"""The API served for real on loopback (uvicorn on a thread), for tests that talk to it over HTTP as the
console and operators do: streams, timings from the request, a kill switch pressed from outside."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_api(app: FastAPI) -> Iterator[str]:
    """`app` on a free loopback port until the block ends; its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    with running(uvicorn.Server(config)):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def running(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> Iterator[None]:
    """`server` on a thread of its own (on `sockets` when given), started, until the block ends."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
