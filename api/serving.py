"""How `btc-agent api` is served: uvicorn with httptools on uvloop, `TCP_NODELAY` on every connection, and
the heap of the loaded app kept out of the garbage collector's full passes.

Why the protocol class: with `--workers N` uvicorn binds the listening socket itself with `proto` 0, the
accepted sockets inherit it, and asyncio turns `TCP_NODELAY` on only for sockets that say `IPPROTO_TCP`.
Nagle's algorithm then holds a response's body until the client acknowledges its headers, and the client
delays that acknowledgement: every keep-alive request after the first waited ~40 ms (measured by
bench/api.py; uvicorn issue #3149). Setting the option on each connection fixes it whatever binds the socket.

Why the frozen heap: the loaded app holds ~175,000 objects that live as long as the process (modules,
models, routes), and each full collection walked them all: 50-130 ms during which no request was answered,
the p99 of a loaded /status. `gc.freeze()` once the app is built moves them out of the collector's sight.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_IMPLEMENTATION = "httptools"
LOOP = "uvloop"


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send what is written at once (no Nagle) on a TCP connection; other transports are left alone."""
    sock: Any = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with `TCP_NODELAY` set as each connection is made."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


def freeze_loaded_heap() -> None:
    """Collect once, then keep every object alive now out of later collections (they live as long as the
    process): call it in the serving process once the app is built."""
    gc.collect()
    gc.freeze()
