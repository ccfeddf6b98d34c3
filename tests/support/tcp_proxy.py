"""A TCP proxy in front of a real server, to take the network away and give it back in tests."""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading

RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._probe = socket.socket()
        self._probe.bind(("127.0.0.1", 0))
        self.port: int = self._probe.getsockname()[1]
        self._probe.close()
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def cut(self) -> None:
        """The outage: the port stops listening and open connections are reset."""
        self._stop_thread()
        with self._lock:
            for a, b in self._pairs:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                        sock.close()
            self._pairs.clear()

    def restore(self) -> None:
        self._listen()

    def close(self) -> None:
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._stopped.clear()
        self._thread = threading.Thread(target=self._serve, name="tcp-proxy", daemon=True)
        self._thread.start()

    def _stop_thread(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        assert self._listener is not None
        selector.register(self._listener, selectors.EVENT_READ, None)
        while not self._stopped.is_set():
            for key, _ in selector.select(timeout=0.05):
                if key.data is None:
                    self._accept(selector)
                else:
                    self._pump(selector, key.fileobj, key.data)  # type: ignore[arg-type]
        selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            return
        client.setblocking(True)
        upstream.settimeout(None)
        with self._lock:
            self._pairs.append((client, upstream))
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)

    def _pump(self, selector: selectors.BaseSelector, source: socket.socket, sink: socket.socket) -> None:
        try:
            data = source.recv(65536)
            if data:
                sink.sendall(data)
                return
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(sock)
            sock.close()
