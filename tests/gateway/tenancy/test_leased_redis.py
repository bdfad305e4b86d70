"""The leased limiter against a real Redis: several replicas (limiter instances, each with its
own connection) stay within the stated overshoot bound; the Lua settlement is the pure
arithmetic; a Redis that stops or stalls never blocks admission, which falls back to per-replica
limits and recovers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.tenancy.lease import lease_cap, settle_bucket
from gateway.tenancy.leased import LeasedLimiter
from gateway.tenancy.limits import BUDGET, REQUESTS, TOKENS, KeyLimits
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[list[LeasedLimiter], Clock, Redis]]:
    """Eight limiters on one key prefix, each with its own connection, and a fake clock."""
    prefix, clock = f"test:lease:{uuid.uuid4().hex}", Clock()
    clients = [Redis.from_url(REDIS_URL) for _ in range(9)]
    limiters = [LeasedLimiter(c, prefix=prefix, clock=clock) for c in clients[:8]]
    yield limiters, clock, clients[8]
    async for key in clients[8].scan_iter(f"{prefix}:*"):
        await clients[8].delete(key)
    for client in clients:
        await client.aclose()


@pytest.mark.parametrize("seed", range(6))
async def test_replicas_overshoot_rpm_by_at_most_two_leases_each(replicas, seed):
    limiters, clock, _ = replicas
    rng = random.Random(seed)
    n = rng.randint(2, 8)
    rpm = rng.choice([5, 60, 600, 3000])
    limits, start, admitted, refused = KeyLimits(rpm=rpm), clock.now, 0, 0
    pending: list[asyncio.Task[None]] = []
    for _ in range(1500):
        clock.now += rng.choice([0.0, 0.0, 0.0, 0.002, 0.05, 1.0])
        limiter = limiters[rng.randrange(n)]
        roll = rng.random()
        if roll < 0.8:
            verdict = limiter.decide("k", limits, clock.now)
            admitted += verdict.allowed
            refused += verdict.limit == REQUESTS
        elif roll < 0.9:  # a settlement, left in flight while others admit
            pending.append(asyncio.ensure_future(limiter.settle()))
        else:
            await asyncio.gather(*pending)
            pending.clear()
        bound = rpm + (clock.now - start) * rpm / 60 + 2 * n * lease_cap(rpm)
        assert admitted <= bound, (admitted, bound)
    await asyncio.gather(*pending)
    assert admitted > 0 and refused > 0


@pytest.mark.parametrize("seed", range(3))
async def test_the_lua_settlement_is_the_pure_arithmetic(replicas, seed):
    limiters, clock, client = replicas
    rng = random.Random(seed)
    rpm = rng.choice([7, 100, 5000])
    limiter, level, at = limiters[0], None, clock.now
    for _ in range(60):
        clock.now += rng.choice([0.0, 0.3, 2.0, 20.0])
        debt, want = rng.randint(0, rpm // 2 + 1), rng.randint(0, rpm // 10 + 1)
        expected_grant, expected_level = settle_bucket(level, at, clock.now, rpm=rpm, debt=debt, want=want)
        keys = limiter._redis_keys("k", KeyLimits(rpm=rpm), clock.now)
        args = [repr(clock.now), str(rpm), "-1", "-1", str(debt), str(want), "0", "0.0", "3600"]
        grant, got_level, _, _ = await limiter._settle(keys=keys, args=args, client=client)
        assert int(grant) == expected_grant
        assert float(got_level) == pytest.approx(expected_level, rel=1e-9, abs=1e-9)
        if debt or want and expected_grant:
            level, at = expected_level, clock.now


async def test_tokens_and_budget_spent_on_one_replica_reach_the_other_at_settlement(replicas):
    limiters, clock, _ = replicas
    a, b = limiters[0], limiters[1]
    limits = KeyLimits(tpm=1000, budget_usd=0.01, budget_period_s=3600)
    assert b.decide("t", limits, clock.now).allowed
    a.charge("t", limits, 1500, 0.0)
    assert a.decide("t", limits, clock.now).limit == TOKENS, "a replica sees its own charges at once"
    assert b.decide("t", limits, clock.now).allowed, "the other only after the settlements"
    await a.settle()
    await b.settle()
    refused = b.decide("t", limits, clock.now)
    assert refused.limit == TOKENS and refused.retry_after_s == pytest.approx(30.0)
    clock.now += 31
    a.charge("t", limits, 0, 0.02)
    await a.settle()
    await b.settle()
    refused = b.decide("t", limits, clock.now)
    assert refused.limit == BUDGET and 0 < refused.retry_after_s <= 3600


async def test_admission_does_no_io_and_background_settles(replicas):
    limiters, _, client = replicas
    limiter = LeasedLimiter(client, prefix=limiters[0].prefix)  # real clock, real background
    await limiter.start()
    try:
        limits = KeyLimits(rpm=6000)
        verdicts = [await limiter.admit("bg", limits, time.time()) for _ in range(40)]
        assert all(v.allowed for v in verdicts)
        await asyncio.sleep(limiter.interval_s * 4)
        share = limiter._keys["bg"].share
        assert share.level is not None and share.credit >= 1, "settled and leased in the background"
        stored = await client.hget(f"{limiter.prefix}:{{bg}}:rq", "l")
        assert stored is not None and float(stored) <= 6000 - 40
    finally:
        await limiter.stop()


async def _settled(limiter: LeasedLimiter, failing: bool, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while limiter.failing != failing:
        assert time.monotonic() < deadline, f"limiter.failing stayed {limiter.failing}"
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_redis_stopped_falls_back_to_per_replica_limits_and_recovers(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    client = Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.5)
    limiter = LeasedLimiter(client, prefix="test:lease:down")
    await limiter.start()
    limits = KeyLimits(rpm=3, tpm=100_000)
    try:
        assert limiter.decide("k", limits, time.time()).allowed
        await asyncio.sleep(0.2)
        server.stop()
        limiter.charge("k", limits, 700, 0.0)
        await _settled(limiter, failing=True)
        began = time.perf_counter()
        verdicts = [await limiter.admit("k", limits, time.time()) for _ in range(5)]
        assert time.perf_counter() - began < 0.05, "admission never waits on Redis"
        # per-replica limits while Redis is down: this replica's own bucket of 3 requests
        assert [v.allowed for v in verdicts] == [True, True, True, False, False]
        assert limiter._keys["k"].tokens == 700, "charges kept for when Redis is back"
        server.start()
        await _settled(limiter, failing=False)
        await asyncio.sleep(0.2)
        level = await client.hget("test:lease:down:{k}:tk", "l")
        assert level is not None and float(level) < 100_000 - 600, "the buffered charge landed"
    finally:
        await limiter.stop()
        await client.aclose()
        server.stop()


@pytest.mark.slow
async def test_a_stalled_redis_times_out_into_per_replica_limits(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    assert server._proc is not None
    client = Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=5)
    limiter = LeasedLimiter(client, prefix="test:lease:slow", timeout_s=0.3)
    await limiter.start()
    limits = KeyLimits(rpm=600)
    try:
        assert limiter.decide("k", limits, time.time()).allowed
        os.kill(server._proc.pid, signal.SIGSTOP)  # Redis answers nothing, keeps the socket
        began = time.monotonic()
        limiter.decide("k", limits, time.time())
        await _settled(limiter, failing=True, within_s=3)
        assert time.monotonic() - began < 1.5, "a stall is given up after timeout_s"
        assert limiter.decide("k", limits, time.time()).allowed
        os.kill(server._proc.pid, signal.SIGCONT)
        await _settled(limiter, failing=False)
    finally:
        os.kill(server._proc.pid, signal.SIGCONT)
        await limiter.stop()
        await client.aclose()
        server.stop()
