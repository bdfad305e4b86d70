"""A TCP proxy that adds a set one-way delay in each direction (this kernel has no netem).

Every chunk read from one side is written to the other ``delay`` later; chunks queue rather
than wait for each other, so the delay adds latency without cutting throughput. Each
``--map LISTEN_PORT:HOST:PORT`` is one forwarding; ``--delay-file`` is re-read every 50 ms
(one number, milliseconds one way), so a test changes the delay without dropping connections.

    python -m tests.gateway.network.delay_proxy --listen 10.0.0.2 --map 8080:127.0.0.1:9000 \
        --delay-ms 25 --delay-file /tmp/delay
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

_CHUNK = 64 * 1024


class Delay:
    def __init__(self, ms: float, path: Path | None) -> None:
        self.seconds = ms / 1000.0
        self.path = path

    async def watch(self) -> None:
        while self.path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.seconds = float(self.path.read_text().strip()) / 1000.0
            await asyncio.sleep(0.05)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while True:
            try:
                data = await reader.read(_CHUNK)
            except OSError:
                data = b""
            queue.put_nowait((loop.time() + delay.seconds, data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    reading = asyncio.create_task(read())
    try:
        await write()
    except OSError:
        pass
    finally:
        reading.cancel()


def _handler(host: str, port: int, delay: Delay):  # type: ignore[no-untyped-def]
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pipe(client_r, up_w, delay), _pipe(up_r, client_w, delay))
        finally:
            for w in (client_w, up_w):
                w.close()

    return handle


async def open_proxy(
    listen: str, maps: list[tuple[int, str, int]], delay: Delay
) -> list[asyncio.Server]:
    """Start the forwardings in the running loop (port 0 picks a free port); for in-process use."""
    return [
        await asyncio.start_server(_handler(host, port, delay), listen, lport)
        for lport, host, port in maps
    ]


async def serve(listen: str, maps: list[tuple[int, str, int]], delay: Delay) -> None:
    servers = await open_proxy(listen, maps, delay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(delay.watch())
    print("ready", flush=True)
    await stop.wait()
    watcher.cancel()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--map",
        action="append",
        required=True,
        metavar="LPORT:HOST:PORT",
        help="listen on LPORT and forward to HOST:PORT (repeatable)",
    )
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay per direction")
    parser.add_argument("--delay-file", type=Path, default=None, help="re-read for the delay (ms)")
    args = parser.parse_args(argv)
    maps = []
    for item in args.map:
        lport, host, port = item.split(":")
        maps.append((int(lport), host, int(port)))
    asyncio.run(serve(args.listen, maps, Delay(args.delay_ms, args.delay_file)))


if __name__ == "__main__":
    main()
