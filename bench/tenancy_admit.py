"""CPU per admission of a request by the per-key limits, in process (no HTTP, no gateway).

    python -m bench.tenancy_admit --redis-url redis://127.0.0.1:6379/0 --calls 20000 --rounds 3

Calls ``Tenancy.admit`` then ``Tenancy.charge`` (one request's limiter work) in a loop that
yields to the event loop every ``--batch`` calls, so background settlements run as they would
under traffic, and reads this process's CPU time (``time.process_time``: the limiter, the Redis
client and the settlements; not the Redis server) around the loop. Configurations:

- ``no keys``: an anonymous principal (no limits: no limiter call at all);
- ``keys, in process``: a key with rpm/tpm/budget on ``LocalLimiter``;
- ``keys, leased Redis``: the same key on ``LeasedLimiter`` (the default with NETGPT_REDIS_URL);
- ``keys, EVALSHA per request``: the same key on the previous ``RedisLimiter`` (one round
  trip per admission).

Limits are high enough that nothing is refused. Prints µs of CPU per call, median of the rounds,
and the wall time per call. The Redis keys are under a fresh prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from gateway.config import Settings
from gateway.errors import RateLimited
from gateway.tenancy import ANONYMOUS, Principal, Tenancy
from gateway.tenancy.leased import LeasedLimiter
from gateway.tenancy.limiter import LocalLimiter, RedisLimiter
from gateway.tenancy.limits import KeyLimits

LIMITS = KeyLimits(rpm=10_000_000, tpm=10_000_000_000, budget_usd=1e9, budget_period_s=86_400)
CONFIGS = ("no keys", "keys, in process", "keys, leased Redis", "keys, EVALSHA per request")


REFUSED: dict[str, int] = {}


async def _loop(tenancy: Tenancy, principal: Principal, calls: int, batch: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        try:
            await tenancy.admit(principal)
        except RateLimited:  # a burst beyond the advance while a settlement is in flight
            REFUSED[principal.name] = REFUSED.get(principal.name, 0) + 1
        tenancy.charge(principal, 120, 0.000002)
        if i % batch == batch - 1:
            await asyncio.sleep(0)  # the background settlement runs here, as between requests
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


async def _one(config: str, redis: Redis, prefix: str, calls: int, batch: int) -> tuple[float, float]:
    tenancy = Tenancy(Settings())
    principal = Principal("bench", LIMITS)
    if config == "no keys":
        principal = ANONYMOUS
    elif config == "keys, in process":
        tenancy.limiter = LocalLimiter()
    elif config == "keys, leased Redis":
        leased = LeasedLimiter(redis, prefix=prefix)
        tenancy.limiter = leased
        await leased.start()
        try:
            await _loop(tenancy, principal, min(calls, 2000), batch)  # warm: first lease, script
            return await _loop(tenancy, principal, calls, batch)
        finally:
            await leased.stop()
    else:
        old = RedisLimiter(redis, prefix=prefix)
        tenancy.limiter = old
        await old.start()
        try:
            await _loop(tenancy, principal, 200, batch)
            return await _loop(tenancy, principal, max(calls // 10, 500), batch)
        finally:
            await old.stop()
    await _loop(tenancy, principal, min(calls, 2000), batch)
    return await _loop(tenancy, principal, calls, batch)


async def run(redis_url: str, calls: int, rounds: int, batch: int) -> dict[str, tuple[float, float]]:
    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    prefix = f"bench:admit:{uuid.uuid4().hex}"
    figures: dict[str, list[tuple[float, float]]] = {c: [] for c in CONFIGS}
    try:
        for r in range(rounds):
            for config in CONFIGS:
                REFUSED.clear()
                figures[config].append(await _one(config, redis, prefix, calls, batch))
                if REFUSED:
                    print(f"  {config}: {sum(REFUSED.values())} admissions refused", flush=True)
                print(f"  round {r + 1}/{rounds}: {config}: {figures[config][-1][0]:.2f} µs CPU/call",
                      flush=True)
    finally:
        async for key in redis.scan_iter(f"{prefix}:*"):
            await redis.delete(key)
        await redis.aclose()
    return {
        c: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
        for c, v in figures.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tenancy_admit",
        description="CPU per admission (Tenancy.admit + charge) with no keys, limits in process, "
        "limits leased from Redis, and the previous one-EVALSHA-per-request limiter.",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="the Redis the two Redis configurations use (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=20_000,
                        help="admissions per configuration and round (the EVALSHA one runs a "
                        "tenth of them, at least 500); default %(default)s")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is printed")
    parser.add_argument("--batch", type=int, default=1,
                        help="admissions between yields to the event loop (default %(default)s)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.rounds < 1 or args.batch < 1:
        parser.error("--calls, --rounds and --batch must be at least 1")
    try:
        result = asyncio.run(run(args.redis_url, args.calls, args.rounds, args.batch))
    except OSError as exc:
        print(f"error: cannot reach Redis at {args.redis_url} ({exc}); start one or pass --redis-url")
        return 1
    print(f"\n{'configuration':<28} {'CPU µs/call':>12} {'wall µs/call':>13}")
    for config, (cpu, wall) in result.items():
        print(f"{config:<28} {cpu:>12.2f} {wall:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
