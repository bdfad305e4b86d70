"""The gateway's added latency over calling the upstream directly, at a fixed concurrency.

    python -m bench.overhead --requests 4000 --concurrency 8

Starts the fake vLLM upstream (edge) and the fake OpenAI upstream (cloud) and the gateway
(``netgpt serve``) as separate processes on loopback, then sends the same tool-calling request
alternately in rounds (direct, gateway) from one aiohttp client and prints p50/p99 of each and
the difference. Where ``taskset`` exists, the gateway is pinned to CPU 0 and everything else to
CPU 1. The upstream is a fake that answers at once, so the figures are the gateway's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from bench.load.bodies import request_body

# the load benchmark's tool-calling request (~1.7 KB, three tools, a second turn)
BODY = request_body("auto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    cmd: list[str], cpu: int | None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    if cpu is not None and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def load(
    url: str, body: bytes, n: int, concurrency: int, session: aiohttp.ClientSession
) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            async with session.post(
                url, data=body, headers={"content-type": "application/json"}
            ) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    edge_port, cloud_port, gw_port = free_port(), free_port(), free_port()
    py = sys.executable
    procs = [
        spawn(
            [
                py,
                "-m",
                "edge_worker.fakes",
                "--port",
                str(edge_port),
                "--name",
                "edge",
                "--model",
                "edge",
            ],
            1,
        ),
        spawn(
            [
                py,
                "-m",
                "edge_worker.fakes",
                "--port",
                str(cloud_port),
                "--name",
                "cloud",
                "--model",
                "cloud",
                "--flavor",
                "openai",
            ],
            1,
        ),
    ]
    env = dict(os.environ)
    env.update(
        NETGPT_EDGE_BASE_URL=f"http://127.0.0.1:{edge_port}/v1",
        NETGPT_EDGE_MODEL="edge",
        NETGPT_CLOUD_BASE_URL=f"http://127.0.0.1:{cloud_port}/v1",
        NETGPT_CLOUD_MODEL="cloud",
        NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_LOG_LEVEL="warning",
    )
    env.pop("NETGPT_REDIS_URL", None)
    # what `netgpt serve` runs: uvicorn with uvloop and httptools on the app factory
    procs.append(
        spawn(
            [
                py,
                "-m",
                "uvicorn",
                "gateway.serve:app_factory",
                "--factory",
                "--port",
                str(gw_port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            0,
            env,
        )
    )
    try:
        await wait_ready(f"http://127.0.0.1:{edge_port}/health")
        await wait_ready(f"http://127.0.0.1:{cloud_port}/health")
        await wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        direct_url = f"http://127.0.0.1:{edge_port}/v1/chat/completions"
        gw_url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        direct_body = orjson.dumps(BODY | {"model": "edge", "logprobs": True, "top_logprobs": 1})
        gw_body = orjson.dumps(BODY)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await load(gw_url, gw_body, 200, args.concurrency, session)  # warm up
            await load(direct_url, direct_body, 200, args.concurrency, session)
            direct: list[float] = []
            gateway: list[float] = []
            rounds = 10
            for _ in range(rounds):
                direct += await load(
                    direct_url, direct_body, args.requests // rounds, args.concurrency, session
                )
                gateway += await load(
                    gw_url, gw_body, args.requests // rounds, args.concurrency, session
                )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    return {
        "requests": len(gateway),
        "concurrency": args.concurrency,
        "direct_p50_ms": pct(direct, 0.5) * 1e3,
        "direct_p99_ms": pct(direct, 0.99) * 1e3,
        "gateway_p50_ms": pct(gateway, 0.5) * 1e3,
        "gateway_p99_ms": pct(gateway, 0.99) * 1e3,
        "added_p50_ms": (pct(gateway, 0.5) - pct(direct, 0.5)) * 1e3,
        "added_p99_ms": (pct(gateway, 0.99) - pct(direct, 0.99)) * 1e3,
        "direct_mean_ms": statistics.fmean(direct) * 1e3,
        "gateway_mean_ms": statistics.fmean(gateway) * 1e3,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead",
        description="Print the gateway's added latency (p50, p99) over calling the fake edge upstream directly.",
    )
    parser.add_argument(
        "--requests", type=int, default=4000, help="requests per target (default: %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args))
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(
        f"{result['requests']} requests per target, concurrency {result['concurrency']} (edge path)"
    )
    print(f"{'':10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'direct':10}{result['direct_p50_ms']:10.3f}{result['direct_p99_ms']:10.3f}")
    print(f"{'gateway':10}{result['gateway_p50_ms']:10.3f}{result['gateway_p99_ms']:10.3f}")
    print(f"{'added':10}{result['added_p50_ms']:10.3f}{result['added_p99_ms']:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
