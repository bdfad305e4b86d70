"""The demo's link: schedules over time, and a shaping proxy that really delays and paces."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bench.common.network import LinkSample, Schedule, synthetic_schedule
from bench.demo.proxy import ShapingProxy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_schedule_holds_each_sample_plays_at_speed_and_loops() -> None:
    clock = Clock()
    s = Schedule("x", [5.0, 15.0, 25.0], [0.1, 0.2, 0.3], [1e6, 2e6, 3e6], speed=10.0, clock=clock)
    assert s.now() == LinkSample(0.1, 1e6)  # times are relative to the first sample
    clock.now += 0.99  # 9.9 s of trace time
    assert s.now().rtt_s == 0.1
    clock.now += 0.02
    assert s.now().rtt_s == 0.2
    clock.now += 1.0  # 20.1 s: the last sample holds for one step
    assert s.now().bandwidth_bytes_per_s == 3e6
    assert s.duration_s == pytest.approx(30.0)
    clock.now += 1.0  # 30.1 s: looped to the start
    assert s.trace_time() == pytest.approx(0.1)
    assert s.now().rtt_s == 0.1


def test_schedule_rejects_bad_series() -> None:
    with pytest.raises(ValueError):
        Schedule("x", [], [], [])
    with pytest.raises(ValueError):
        Schedule("x", [0.0], [0.1], [1.0], speed=0)


def test_synthetic_schedule_has_a_stall_and_a_fast_phase() -> None:
    s = synthetic_schedule(clock=Clock())
    assert min(s.bandwidth) < 50_000 < 5_000_000 < max(s.bandwidth)
    assert max(s.rtt) > 3 * min(s.rtt)


async def _blob_server(size: int) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.write(b"x" * size)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    return sock


async def _fetch(port: int, size: int) -> tuple[float, float]:
    """(seconds to the first byte, seconds to the last) for one request of ``size`` bytes."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"?")
    await writer.drain()
    first = await reader.read(1)
    ttfb = time.perf_counter() - started
    rest = await reader.read(-1)
    total = time.perf_counter() - started
    writer.close()
    assert len(first) + len(rest) == size
    return ttfb, total


async def test_proxy_applies_delay_and_bandwidth() -> None:
    size, rtt, rate = 100_000, 0.2, 200_000.0
    server, port = await _blob_server(size)
    sock = _listener()
    proxy = ShapingProxy(("127.0.0.1", port), lambda: LinkSample(rtt, rate))
    await proxy.start(sock)
    try:
        ttfb, total = await _fetch(sock.getsockname()[1], size)
    finally:
        await proxy.stop()
        server.close()
    # one RTT before the first byte; then the body at the link's rate (0.5 s for 100 kB)
    assert ttfb >= rtt
    assert total >= rtt + size / rate * 0.9
    assert total < rtt + size / rate + 0.5


async def test_proxy_follows_a_change_of_link_and_shares_it_between_connections() -> None:
    size = 40_000
    server, port = await _blob_server(size)
    link = {"now": LinkSample(0.0, 10_000_000.0)}
    sock = _listener()
    proxy = ShapingProxy(("127.0.0.1", port), lambda: link["now"])
    await proxy.start(sock)
    lport = sock.getsockname()[1]
    try:
        _, fast = await _fetch(lport, size)
        link["now"] = LinkSample(0.1, 100_000.0)
        slow = await asyncio.gather(_fetch(lport, size), _fetch(lport, size))
    finally:
        await proxy.stop()
        server.close()
    assert fast < 0.2
    # two parallel downloads share 100 kB/s: the later one ends after both bodies went through
    assert max(total for _, total in slow) >= 0.1 + 2 * size / 100_000.0 * 0.9
