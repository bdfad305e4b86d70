"""The gateway's added latency over calling the upstream directly, at a fixed concurrency.

    python -m bench.overhead --requests 4000 --concurrency 8

Starts the fake vLLM upstream (edge) and the fake OpenAI upstream (cloud) and the gateway
(``netgpt serve``) as separate processes on loopback (``bench.common.procs``), then sends the same tool-calling request
alternately in rounds (direct, gateway) from one aiohttp client and prints p50/p99 of each and
the difference. Where ``taskset`` exists, the gateway is pinned to CPU 0 and everything else to
CPU 1. The upstream is a fake that answers at once, so the figures are the gateway's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import procs
from bench.common.bodies import request_body
from bench.common.procs import free_port

# the load benchmark's tool-calling request (~1.7 KB, three tools, a second turn)
BODY = request_body("auto")


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
    logdir = Path(tempfile.mkdtemp(prefix="netgpt-overhead-"))
    fake = [py, "-m", "bench.fakes", "--no-record", "--port"]
    env = dict(os.environ)
    env.update(
        NETGPT_EDGE_BASE_URL=f"http://127.0.0.1:{edge_port}/v1",
        NETGPT_EDGE_MODEL="edge",
        NETGPT_CLOUD_BASE_URL=f"http://127.0.0.1:{cloud_port}/v1",
        NETGPT_CLOUD_MODEL="cloud",
        NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_LOG_LEVEL="warning",
        NETGPT_DATA_DIR=str(logdir / "var"),
    )
    env.pop("NETGPT_REDIS_URL", None)
    servers = [
        procs.start("edge", [*fake, str(edge_port), "--name", "edge", "--model", "edge"],
                    cpus="1", logdir=logdir),
        procs.start("cloud", [*fake, str(cloud_port), "--name", "cloud", "--model", "cloud",
                              "--flavor", "openai"], cpus="1", logdir=logdir),
        # what operators run: netgpt serve (uvicorn, uvloop, httptools)
        procs.start("gateway", [py, "-m", "gateway.cli", "serve", "--port", str(gw_port)],
                    cpus="0", logdir=logdir, env=env),
    ]
    try:
        procs.wait_ready(servers[0], f"http://127.0.0.1:{edge_port}/health")
        procs.wait_ready(servers[1], f"http://127.0.0.1:{cloud_port}/health")
        procs.wait_ready(servers[2], f"http://127.0.0.1:{gw_port}/healthz")
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
        for server in servers:
            server.stop()
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
