"""CPU the gateway spends per request with and without per-key limits.

    python -m bench.tenancy_cost --requests 3000 --rounds 5

Five ``netgpt serve`` processes over the same fake edge (vLLM's shape, answers at once, so the
figures are the gateway's own work): no keys; one plain NETGPT_API_KEYS key; a key file
(NETGPT_API_KEYS_FILE) with rpm/tpm/budget limits, kept in process; the same key file with the
limit state in Redis; and no keys with Redis (the baseline of the last, since Redis also brings
the budget store's flushes). Each round sends the same edge-answered tool-calling request to
each gateway in turn (the others frozen with SIGSTOP) and reads the gateway's user+system CPU
time from /proc before and after. Limits are high enough that nothing is refused: the cost
measured is authentication, admission and the token charge of every request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import procs
from bench.common.bodies import request_body
from bench.common.procs import free_port

KEY = "ngk-bench-tenancy-key-0123456789abcdefghijklmnopqrstuv"
BODY = orjson.dumps(request_body("auto"))
CONFIGS = ("no keys", "plain key", "key file, local limits", "no keys, Redis", "key file, Redis limits")


def _key_file(path: Path) -> Path:
    from gateway.tenancy.keys import KeyEntry, hash_key, write_entries
    from gateway.tenancy.limits import KeyLimits

    limits = KeyLimits(rpm=10_000_000, tpm=10_000_000_000, budget_usd=1e9, budget_period_s=86_400)
    write_entries(path, [KeyEntry("bench", hash_key(KEY), limits)])
    return path


async def _send(url: str, n: int, concurrency: int, key: str | None) -> None:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    queue = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            for _ in queue:
                async with session.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: HTTP {resp.status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="netgpt-tenancy-cost-"))
    py = sys.executable
    edge_port, cloud_port = free_port(), free_port()
    fake = [py, "-m", "bench.fakes", "--no-record", "--port"]
    keyfile = _key_file(logdir / "keys.toml")
    base = dict(os.environ)
    base.pop("NETGPT_REDIS_URL", None)
    base.update(
        NETGPT_EDGE_BASE_URL=f"http://127.0.0.1:{edge_port}/v1", NETGPT_EDGE_MODEL="edge",
        NETGPT_CLOUD_BASE_URL=f"http://127.0.0.1:{cloud_port}/v1", NETGPT_CLOUD_MODEL="cloud",
        NETGPT_NETWORK_PROBES_ENABLED="false", NETGPT_LOG_LEVEL="warning",
        NETGPT_LOG_REQUESTS="false", NETGPT_DATASET_ENABLED="false",
    )
    extra = {
        "no keys": {},
        "plain key": {"NETGPT_API_KEYS": KEY},
        "key file, local limits": {"NETGPT_API_KEYS_FILE": str(keyfile)},
        "no keys, Redis": {"NETGPT_REDIS_URL": args.redis_url},
        "key file, Redis limits": {"NETGPT_API_KEYS_FILE": str(keyfile), "NETGPT_REDIS_URL": args.redis_url},
    }
    upstreams = [
        procs.start("edge", [*fake, str(edge_port), "--name", "edge", "--model", "edge"], cpus="1", logdir=logdir),
        procs.start("cloud", [*fake, str(cloud_port), "--name", "cloud", "--model", "cloud", "--flavor", "openai"],
                    cpus="1", logdir=logdir),
    ]
    gateways: dict[str, tuple[procs.Server, str]] = {}
    try:
        for server, port in ((upstreams[0], edge_port), (upstreams[1], cloud_port)):
            procs.wait_ready(server, f"http://127.0.0.1:{port}/health")
        for i, name in enumerate(CONFIGS):
            port = free_port()
            env = base | extra[name] | {"NETGPT_DATA_DIR": str(logdir / f"var{i}")}
            server = procs.start(f"gateway{i}", [py, "-m", "gateway.cli", "serve", "--port", str(port)],
                                 cpus="0", logdir=logdir, env=env)
            procs.wait_ready(server, f"http://127.0.0.1:{port}/healthz")
            gateways[name] = (server, f"http://127.0.0.1:{port}/v1/chat/completions")
        servers = [server for server, _ in gateways.values()]
        per_request: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for name, (server, url) in gateways.items():  # warm-up
            with procs.only_running(servers, server):
                asyncio.run(_send(url, 300, args.concurrency, KEY if "key" in name else None))
        for _ in range(args.rounds):
            for name, (server, url) in gateways.items():
                with procs.only_running(servers, server):
                    before = server.cpu_seconds()
                    asyncio.run(_send(url, args.requests, args.concurrency, KEY if "key" in name else None))
                    per_request[name].append((server.cpu_seconds() - before) / args.requests * 1e6)
    finally:
        for server, _ in gateways.values():
            server.stop()
        for server in upstreams:
            server.stop()
    med = {name: statistics.median(values) for name, values in per_request.items()}
    return {
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "cpu_us_per_request": {name: round(v, 1) for name, v in med.items()},
        "all_rounds_us": {name: [round(v, 1) for v in values] for name, values in per_request.items()},
        "added_us": {
            "plain key vs no keys": round(med["plain key"] - med["no keys"], 1),
            "key file, local limits vs no keys": round(med["key file, local limits"] - med["no keys"], 1),
            "key file, Redis limits vs no keys, Redis": round(
                med["key file, Redis limits"] - med["no keys, Redis"], 1),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tenancy_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per gateway and round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: %(default)s)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"gateway CPU per request (median of {args.rounds} rounds of {args.requests}, concurrency {args.concurrency}):")
    for name, value in result["cpu_us_per_request"].items():
        print(f"  {name:<24} {value:8.1f} us   rounds: {result['all_rounds_us'][name]}")
    for name, value in result["added_us"].items():
        print(f"  added, {name}: {value:+.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
