"""The Redis limiter: the Lua scripts decide exactly as the pure functions do, replicas share
one state, and a Redis outage falls back to per-replica limits."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.tenancy.limiter import RedisLimiter
from gateway.tenancy.limits import BUDGET, KeyLimits, LimitState, admit, charge
from tests.support.server import closed_port_url

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(REDIS_URL)
    prefix = f"test:keys:{uuid.uuid4().hex}"
    yield client, prefix
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seed", range(3))
async def test_lua_agrees_with_the_pure_limits(redis, seed):
    client, prefix = redis
    rng = random.Random(seed)
    limits = KeyLimits(rpm=rng.randint(2, 20), tpm=rng.randint(50, 500), budget_usd=0.05, budget_period_s=600)
    clock = Clock()
    limiter = RedisLimiter(client, prefix=prefix, clock=clock)
    state = LimitState()
    outcomes = []
    for _ in range(150):
        clock.now += rng.choice([0.0, 0.1, 1.0, 5.0, 30.0])
        expected = admit(limits, state, clock.now)
        got = await limiter.admit("k", limits, clock.now)
        assert (got.allowed, got.limit) == (expected.allowed, expected.limit)
        assert got.retry_after_s == pytest.approx(expected.retry_after_s, rel=1e-6, abs=1e-6)
        outcomes.append(got.limit)
        if got.allowed:
            tokens, usd = rng.randint(0, 200), rng.choice([0.0, 0.0, 0.004])
            charge(limits, state, clock.now, tokens, usd)
            limiter.charge("k", limits, tokens, usd)
            await limiter.flush()
    assert None in outcomes and {"requests", "tokens"} & set(outcomes), outcomes


async def test_replicas_share_one_limit(redis):
    client, prefix = redis
    clock = Clock()
    replicas = [RedisLimiter(client, prefix=prefix, clock=clock) for _ in range(3)]
    limits = KeyLimits(rpm=10)
    allowed = 0
    for i in range(30):
        allowed += (await replicas[i % 3].admit("shared", limits, clock.now)).allowed
    assert allowed == 10


async def test_budget_spent_on_one_replica_stops_the_other(redis):
    client, prefix = redis
    clock = Clock()
    a, b = (RedisLimiter(client, prefix=prefix, clock=clock) for _ in range(2))
    limits = KeyLimits(budget_usd=0.01, budget_period_s=3600)
    assert (await b.admit("t", limits, clock.now)).allowed
    a.charge("t", limits, 100, 0.02)
    assert (await b.admit("t", limits, clock.now)).allowed, "not flushed yet"
    await a.flush()
    verdict = await b.admit("t", limits, clock.now)
    assert verdict.limit == BUDGET and 0 < verdict.retry_after_s <= 3600


async def test_redis_down_falls_back_to_local_limits_and_keeps_charges():
    client = Redis.from_url(closed_port_url().replace("http", "redis") + "/0", socket_connect_timeout=0.2)
    clock = Clock()
    limiter = RedisLimiter(client, prefix="test:down", clock=clock)
    limits = KeyLimits(rpm=2, tpm=100)
    verdicts = [await limiter.admit("k", limits, clock.now) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    limiter.charge("k", limits, 500, 0.0)
    await limiter.flush()
    assert limiter._pending["k"][1] == 500, "kept for when Redis is back"
    clock.now += 60
    assert (await limiter.admit("k", limits, clock.now)).limit == "tokens"
    await client.aclose()
