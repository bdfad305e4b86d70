"""Light active probes towards one upstream: TCP connect time, HTTP round trip, bandwidth.

What each measures, and why the monitor takes the larger of the first two as the RTT:

- TCP connect time is one network round trip with no server work in it, but only to whatever
  terminates TCP: a load balancer, a CDN edge or a proxy answers the handshake itself, so behind
  one it under-reads the round trip that a request actually pays.
- The HTTP round trip is timed on an open connection from "request headers sent" to "response
  headers received" (aiohttp tracing), so connection setup and TLS are not in it. It includes
  the cheap endpoint's own server time, a small over-read that the measured cloud compute time
  (latency net of network) then does not count twice.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

SessionFactory = Callable[..., aiohttp.ClientSession]
# sequential requests per HTTP probe; the minimum filters scheduling and queueing noise
HTTP_BURST = 3
_READ_CHUNK = 64 * 1024


def _why(exc: BaseException) -> str:
    """The error's kind and OS reason, never its text: aiohttp puts whole URLs (which could
    carry credentials) into some messages."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


class ProbeError(Exception):
    """A probe got no answer; ``kind`` is the metric label (tcp, http, bandwidth)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to probe one upstream."""

    url: str  # the HTTP probe URL
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"probe URL {safe_url(url)!r} has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(url, parts.hostname, port)


def safe_url(url: str) -> str:
    """The URL without credentials or query, fit for logs and /v1/router/state."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def tcp_connect_time(host: str, port: int, timeout_s: float) -> float:
    """Seconds to open a TCP connection; name resolution is done first and not timed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        raise ProbeError("tcp", f"cannot resolve {host}: {_why(exc)}") from None
    family, _, _, _, address = infos[0]
    start = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(str(address[0]), int(address[1]), family=family), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        raise ProbeError("tcp", f"connect to {host}:{port} failed: {_why(exc)}") from None
    elapsed = time.perf_counter() - start
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # a reset on close says nothing about the connect time
    return elapsed


async def _on_headers_sent(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if ctx.trace_request_ctx is not None:
        ctx.trace_request_ctx["sent"] = time.perf_counter()


async def _on_request_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if ctx.trace_request_ctx is not None:
        ctx.trace_request_ctx["headers"] = time.perf_counter()


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_on_headers_sent)
    config.on_request_end.append(_on_request_end)  # fires once the response headers are in
    return config


class HttpProber:
    """HTTP probes over one aiohttp session (kept open, so later requests reuse a connection)."""

    def __init__(self, timeout_s: float, session_factory: SessionFactory | None = None) -> None:
        self.timeout_s = timeout_s
        self._factory: SessionFactory = session_factory or aiohttp.ClientSession
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._factory(
                trace_configs=[_trace_config()],
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def round_trip(self, url: str) -> float:
        """Seconds from request sent to response headers received; any HTTP status counts
        (a 401 from an endpoint that wants a key is as good a round trip as a 200)."""
        marks: dict[str, float] = {}
        start = time.perf_counter()
        try:
            async with self._get_session().get(url, trace_request_ctx=marks) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProbeError("http", f"GET {safe_url(url)} failed: {_why(exc)}") from None
        if "sent" in marks and "headers" in marks:
            return max(marks["headers"] - marks["sent"], 0.0)
        return time.perf_counter() - start

    async def best_round_trip(self, url: str, burst: int = HTTP_BURST) -> float:
        return min([await self.round_trip(url) for _ in range(burst)])

    async def transfer(self, url: str) -> tuple[int, float]:
        """Download ``url``: (body bytes, seconds from first byte to last)."""
        try:
            # no total limit: a big probe body on a slow link takes a while; a stall does not
            timeout = aiohttp.ClientTimeout(total=None, sock_read=self.timeout_s)
            async with self._get_session().get(url, timeout=timeout) as response:
                first = time.perf_counter()
                nbytes = 0
                async for chunk in response.content.iter_chunked(_READ_CHUNK):
                    nbytes += len(chunk)
                last = time.perf_counter()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProbeError("bandwidth", f"GET {safe_url(url)} failed: {_why(exc)}") from None
        return nbytes, last - first
