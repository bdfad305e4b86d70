"""Run an ASGI app under a real uvicorn server on a free loopback port, in a background thread.

    with ServerThread(FakeUpstream(name="edge")) as server:
        httpx.get(server.url + "/v1/models")

The socket is bound before the server starts (port 0: the kernel picks a free port), so ``.url``
is known at once and two parallel test runs never race for a port.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class ServerThread:
    """A uvicorn server in a daemon thread; ``start()``/``stop()`` or a context manager."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        *,
        startup_timeout_s: float = 10.0,
        lifespan: str = "off",
        http: Any = "auto",
        timeout_graceful_shutdown: float = 1,
        port: int = 0,
    ):
        self.app = app
        self.host = host
        self.lifespan = lifespan
        self.http = http
        self.timeout_graceful_shutdown = timeout_graceful_shutdown
        self._bind_port = port  # 0: the kernel picks a free one; a given one: to come back there
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash, no path)."""
        if not self.port:
            raise RuntimeError("the server is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._bind_port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan=self.lifespan, ws="none",
            http=self.http, timeout_graceful_shutdown=self.timeout_graceful_shutdown,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
            name=f"uvicorn-{self.port}",
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.host} (see its log above)")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(5)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def closed_port_url(host: str = "127.0.0.1") -> str:
    """A URL on a loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}"
