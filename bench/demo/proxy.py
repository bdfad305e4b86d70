"""A TCP proxy that shapes a link like a real one: one-way delay and bandwidth follow a
``Schedule`` over time. Application-level, so it needs no root and no netem.

Each direction is a pipeline: bytes read from one side are *serialised* at the current
bandwidth (a token bucket whose refill rate is the bandwidth now, so a burst waits for its
turn on the link), then *propagate* for half the current RTT, then are written to the other
side. The reader stops reading while more than ``max_backlog_s`` of data waits for the link,
so the sender feels back-pressure as it would from a slow link, and a change of bandwidth
takes effect within that backlog. All connections share the link: one queue per direction,
so parallel calls split the bandwidth and a probe waits behind the traffic ahead of it, as on a
real bottleneck. Both directions use the trace's bandwidth (traces record the downlink; the
threshold τ uses one bandwidth for the bytes of the whole call as well).

    proxy = ShapingProxy(("127.0.0.1", 9001), schedule)
    await proxy.start(sock)        # a bound listening socket
    ...
    await proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from bench.common.network import LinkSample

_READ = 16 * 1024
# serialise in pieces of at most this many seconds of transfer, so a slow link still streams
_PIECE_S = 0.02
_MIN_PIECE = 512


class _Wire:
    """One direction of the link, shared by every connection: serialisation and propagation."""

    def __init__(self, link: Callable[[], LinkSample], max_backlog_s: float) -> None:
        self.link = link
        self.max_backlog_s = max_backlog_s
        self.free_at = 0.0  # loop time the link finishes sending what it was given

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Carry one connection's bytes from ``reader`` to ``writer`` until EOF."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while True:
                backlog = self.free_at - loop.time()
                if backlog > self.max_backlog_s:
                    await asyncio.sleep(backlog - self.max_backlog_s)
                try:
                    data = await reader.read(_READ)
                except OSError:
                    data = b""
                if not data:
                    queue.put_nowait((max(self.free_at, loop.time()), b""))
                    return
                for due, piece in self._schedule(data, loop.time()):
                    queue.put_nowait((due, piece))

        reading = asyncio.create_task(read())
        try:
            while True:
                due, piece = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not piece:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(piece)
                await writer.drain()
        except (OSError, ConnectionError):
            return
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    def _schedule(self, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """(time it reaches the far end, bytes) for each piece of ``data``."""
        out = []
        view = memoryview(data)
        while view:
            link = self.link()
            rate = link.bandwidth_bytes_per_s
            size = max(_MIN_PIECE, int(rate * _PIECE_S))
            piece, view = bytes(view[:size]), view[size:]
            start = max(now, self.free_at)
            self.free_at = start + len(piece) / rate
            out.append((self.free_at + link.rtt_s / 2.0, piece))
        return out


class ShapingProxy:
    """Forwards every connection on its listening socket to ``upstream`` through a shaped link."""

    def __init__(
        self,
        upstream: tuple[str, int],
        link: Callable[[], LinkSample],
        *,
        max_backlog_s: float = 0.25,
    ) -> None:
        self.upstream = upstream
        self.link = link
        self.max_backlog_s = max_backlog_s
        self._up = _Wire(link, max_backlog_s)
        self._down = _Wire(link, max_backlog_s)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        try:
            try:
                up_r, up_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            try:
                await asyncio.gather(self._up.pump(client_r, up_w), self._down.pump(up_r, client_w))
            finally:
                up_w.close()
        finally:
            client_w.close()
            if task is not None:
                self._tasks.discard(task)

    async def stop(self) -> None:
        """Stop listening and cut the open connections."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
