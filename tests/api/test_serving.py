"""How `btc-agent api` serves: every connection gets TCP_NODELAY even on a listening socket bound the way
`--workers N` binds it (proto 0, where asyncio leaves Nagle on and each keep-alive answer waited ~40 ms for
the client's delayed ACK), and a served worker keeps its loaded heap out of the collector's full passes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.serving import NoDelayHttpProtocol
from tests.support.api_server import running

ROOT = Path(__file__).resolve().parents[2]


def bound_like_the_worker_supervisor() -> socket.socket:
    """A listening socket as uvicorn's `Config.bind_socket()` makes it for `--workers N`: proto left at 0."""
    sock = socket.socket(family=socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    assert sock.proto == 0
    return sock


@contextmanager
def served(protocol: type[asyncio.Protocol]) -> Iterator[tuple[uvicorn.Server, str]]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    sock = bound_like_the_worker_supervisor()
    server = uvicorn.Server(uvicorn.Config(app, http=protocol, loop="asyncio", log_level="warning"))
    with sock, running(server, sockets=[sock]):
        yield server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def nodelay_of_open_connections(server: uvicorn.Server) -> list[int]:
    sockets = [c.transport.get_extra_info("socket") for c in server.server_state.connections]
    return [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets]


@pytest.mark.parametrize(("protocol", "nodelay"), [(NoDelayHttpProtocol, 1), (HttpToolsProtocol, 0)])
def test_connections_to_a_pre_bound_socket_send_at_once_only_with_our_protocol(
    protocol: type[asyncio.Protocol], nodelay: int
) -> None:
    with served(protocol) as (server, base), httpx.Client(base_url=base) as client:
        assert client.get("/ping").json() == {"ok": True}
        assert client.get("/ping").json() == {"ok": True}  # the same kept-alive connection

        assert nodelay_of_open_connections(server) == [nodelay]


def test_a_served_worker_freezes_the_heap_of_its_loaded_app(tmp_path: Path) -> None:
    """`btc-agent api --workers N` builds each worker's app with `app_from_environment`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTC_AGENT_")}
    env |= {
        "BTC_AGENT_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}",
        "BTC_AGENT_DATA_DIR": str(tmp_path),
        "BTC_AGENT_API__JWT_SECRET": "a-signing-key-for-tests-only-0123456789abcdef",
    }
    script = "import gc; from api.main import app_from_environment; app_from_environment(); print(gc.get_freeze_count())"
    frozen = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(frozen.stdout) > 50_000, (
        "the app's modules, models and routes are out of the collector's sight"
    )
