"""A fault-injecting TCP proxy for the fault suite, in the spirit of toxiproxy.

It sits between the gateway and one upstream (an LLM server or Redis), on loopback, and applies
*toxics* to the connections it forwards. The toxics are read for each exchange (a connection's
first request, and each request sent on it after an answer), so a scenario changes them between
requests, kept-alive connections included; ``times`` limits them to the next N exchanges (later
ones pass through untouched)::

    with FaultProxy(("127.0.0.1", cloud_port)) as proxy:
        proxy.set(reset_after_bytes=600)     # answers break after 600 bytes
        proxy.set(latency_s=2.0, times=1)    # the next answer comes 2 s late
        proxy.reset_all()                    # RST every open connection now (Redis restart)
        proxy.set()                          # clean again

Toxics (all on the downstream direction, upstream -> client, which is where answers break):

- ``latency_s`` (+ ``jitter_s``): each downstream chunk is held this long;
- ``bandwidth_bps``: downstream bytes per second;
- ``blackhole``: the request is read and dropped, nothing ever comes back (a read timeout);
- ``reset_before_response``: the connection is reset (RST) when the answer's first byte arrives;
- ``reset_after_bytes``: N bytes of the answer pass, then RST (a break in mid-stream);
- ``slow_close_s``: when the upstream closes, the client side closes this much later.

:class:`Unanswered` is the connect-timeout case: a listening socket whose accept queue is full,
so the kernel drops further SYNs and a client's connect hangs until its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

CHUNK = 65536


@dataclass(frozen=True)
class Toxics:
    latency_s: float = 0.0
    jitter_s: float = 0.0
    bandwidth_bps: float | None = None
    blackhole: bool = False
    reset_before_response: bool = False
    reset_after_bytes: int | None = None
    slow_close_s: float = 0.0
    times: int | None = None  # apply to the next N exchanges only (None: all)


@dataclass
class _Link:
    """One proxied connection: the toxics of the exchange in progress (a request and its
    answer; re-read when the client sends again after an answer) and the bytes it has sent."""

    toxics: Toxics
    answered: bool = False
    sent: int = 0


@dataclass
class Stats:
    connections: int = 0
    toxic_exchanges: int = 0
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN: the peer sees 'connection reset'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy in its own thread and event loop; ``.port`` is where clients connect."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.stats = Stats()
        self._toxics = Toxics()
        self._remaining: int | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ control (any thread)
    def set(self, **toxics: Any) -> None:
        """Replace the toxics (no arguments: a clean pass-through)."""
        value = Toxics(**toxics)
        with self._lock:
            self._toxics = value
            self._remaining = value.times

    def retarget(self, upstream: tuple[str, int]) -> None:
        """New connections go to ``upstream`` (a restarted server on another port)."""
        self.upstream = upstream

    def reset_all(self) -> int:
        """RST every connection open now; returns how many."""
        assert self._loop is not None

        async def reset() -> int:
            writers = list(self._writers)
            for writer in writers:
                _rst(writer)
            self.stats.resets += len(writers)
            return len(writers)

        return asyncio.run_coroutine_threadsafe(reset(), self._loop).result(5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _take(self) -> Toxics:
        with self._lock:
            toxics = self._toxics
            if self._remaining is not None:
                if self._remaining <= 0:
                    return Toxics()
                self._remaining -= 1
            return toxics

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def serve() -> None:
                self._server = await asyncio.start_server(self._handle, self.host, 0)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fault-proxy")
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ forwarding
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        link = _Link(self._take_counted())
        self._writers.add(writer)
        try:
            if link.toxics.blackhole:
                while await reader.read(CHUNK):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                _rst(writer)  # the upstream is down: the client sees a reset, as with no proxy
                return
            self._writers.add(up_writer)
            try:
                upward = asyncio.create_task(self._pump_up(reader, up_writer, link))
                await self._pump_down(up_reader, writer, link)
                upward.cancel()
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    def _take_counted(self) -> Toxics:
        toxics = self._take()
        if toxics != Toxics():
            self.stats.toxic_exchanges += 1
        return toxics

    async def _pump_up(
        self, reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if link.answered:  # a new request on a kept-alive connection: toxics anew
                    link.toxics, link.answered, link.sent = self._take_counted(), False, 0
                if link.toxics.blackhole:
                    continue
                self.stats.bytes_up += len(data)
                up_writer.write(data)
                await up_writer.drain()
            if up_writer.can_write_eof():
                up_writer.write_eof()
        except (ConnectionError, OSError):
            up_writer.transport.abort()

    async def _pump_down(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        while True:
            data = await up_reader.read(CHUNK)
            if not data:
                break
            toxics = link.toxics
            if toxics.reset_before_response and link.sent == 0:
                self.stats.resets += 1
                _rst(writer)
                return
            if toxics.latency_s or toxics.jitter_s:
                await asyncio.sleep(toxics.latency_s + random.uniform(0, toxics.jitter_s))
            limit = toxics.reset_after_bytes
            if limit is not None and link.sent + len(data) > limit:
                keep = limit - link.sent
                if keep > 0:
                    writer.write(data[:keep])
                    await writer.drain()
                    self.stats.bytes_down += keep
                self.stats.resets += 1
                _rst(writer)
                return
            await self._send(writer, data, toxics.bandwidth_bps)
            link.sent += len(data)
            link.answered = True
        if link.toxics.slow_close_s:
            await asyncio.sleep(link.toxics.slow_close_s)
        if writer.can_write_eof():
            writer.write_eof()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes, bps: float | None) -> None:
        if not bps:
            writer.write(data)
            await writer.drain()
            self.stats.bytes_down += len(data)
            return
        piece = max(1, int(bps / 20))  # 50 ms worth of bytes at a time
        for start in range(0, len(data), piece):
            part = data[start : start + piece]
            writer.write(part)
            await writer.drain()
            self.stats.bytes_down += len(part)
            await asyncio.sleep(len(part) / bps)


class Unanswered:
    """A loopback port where TCP connects hang: a listener with a full accept queue.

    ``listen(0)`` admits one pending connection; two fillers that are never accepted fill the
    queue, and Linux then drops further SYNs, so a client's connect waits for its own timeout.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._listener = socket.socket()
        self._fillers: list[socket.socket] = []
        self.port = 0

    def start(self) -> Unanswered:
        self._listener.bind((self.host, 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        for _ in range(2):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((self.host, self.port))
            self._fillers.append(filler)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        for sock in (*self._fillers, self._listener):
            sock.close()

    def __enter__(self) -> Unanswered:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
