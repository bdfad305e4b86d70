"""BudgetController: local window, and μ shared through a real Redis by several replicas."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.config import Settings
from gateway.metrics import GatewayMetrics
from gateway.network.static import StaticNetwork
from gateway.policy.budget_store import BudgetController
from gateway.policy.inputs import LiveInputs
from gateway.routing.decision import decide
from gateway.routing.state import LinkEstimate

REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[3]


def _settings(**budget) -> Settings:
    return Settings(
        budget={
            "update_every": 20,
            "window_s": 300.0,
            "step_size": 0.5,
            "multiplier_max": 1e6,
            **budget,
        }
    )


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _feed(
    controller: BudgetController, clock: Clock, n: int, cloud_share: float, seed: int = 0
) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        clock.t += 0.05
        cloud = rng.random() < cloud_share
        controller.record("cloud" if cloud else "edge", 2e-4 if cloud else 0.0, clock.t)


def test_without_a_target_mu_stays_zero() -> None:
    clock = Clock()
    controller = BudgetController(_settings(), clock=clock)
    _feed(controller, clock, 500, 0.9)
    assert controller.multiplier() == 0.0
    state = controller.state()
    assert state["multiplier"] == 0.0
    assert state["cloud_share"] == pytest.approx(0.9, abs=0.05)
    assert state["target_cloud_share"] is None
    assert state["shared"] is False and state["exhausted"] is False


def test_local_mu_rises_over_target_and_falls_back_under_it() -> None:
    clock = Clock()
    metrics = GatewayMetrics()
    controller = BudgetController(_settings(target_cloud_share=0.2), metrics, clock=clock)
    _feed(controller, clock, 200, 0.6)
    high = controller.multiplier()
    assert high > 0
    assert controller.exhausted()
    assert metrics.registry.get_sample_value("netgpt_budget_multiplier") == high
    assert metrics.registry.get_sample_value("netgpt_budget_cloud_share") == pytest.approx(
        0.6, abs=0.1
    )
    _feed(controller, clock, 200, 0.0, seed=1)
    assert controller.multiplier() < high


def test_spend_per_hour_target_raises_mu() -> None:
    clock = Clock()
    # 20 req/s, 60% cloud at $2e-4 = $8.64/h, against a $1/h budget
    controller = BudgetController(_settings(spend_per_hour_usd=1.0), clock=clock)
    _feed(controller, clock, 400, 0.6)
    assert controller.multiplier() > 0
    state = controller.state()
    assert state["spend_per_hour"] == pytest.approx(8.64, rel=0.2)
    assert state["spend_per_hour_usd"] == 1.0
    assert controller.exhausted()


def test_shadow_calls_cost_but_are_not_requests() -> None:
    clock = Clock()
    controller = BudgetController(_settings(), clock=clock)
    controller.record("edge", 0.0, clock.t)
    controller.record("shadow", 0.01, clock.t)
    state = controller.state()
    assert state["requests"] == 1 and state["cloud_requests"] == 0
    assert state["spend_usd"] == pytest.approx(0.01)


def test_controller_drives_policy_to_rho_at_simulation_speed() -> None:
    """The live objects (LiveInputs + local BudgetController) on a fake clock: a mix whose
    unconstrained cloud share is ~0.5 settles at ρ = 0.2."""
    clock = Clock()
    settings = _settings(target_cloud_share=0.2)
    controller = BudgetController(settings, clock=clock)
    policy = LiveInputs(
        settings, StaticNetwork(LinkEstimate(0.05, 12.5e6)), multiplier=controller.multiplier
    )
    rng = random.Random(11)
    tau0 = policy.threshold_for(2000, now=0.0).tau
    routes = []
    for _ in range(2000):
        clock.t += rng.expovariate(10.0)
        nbytes = rng.randint(1000, 3000)
        s = rng.uniform(0, tau0) if rng.random() < 0.5 else rng.uniform(tau0, 1.0)
        route = decide(
            score=s, tau=policy.threshold_for(nbytes, now=clock.t).tau, schema_valid=True
        ).route
        cost = policy.cost_usd(nbytes // 4, 150, now=clock.t) if route == "cloud" else 0.0
        controller.record(route, cost, clock.t)
        routes.append(route == "cloud")
    share = sum(routes) / len(routes)
    print(
        f"cloud share over 2000 = {share:.3f}, last 1000 = {sum(routes[1000:]) / 1000:.3f}, "
        f"mu = {controller.multiplier():.0f}"
    )
    assert abs(share - 0.2) <= 0.03
    assert abs(sum(routes[1000:]) / 1000 - 0.2) <= 0.03


# ---- shared through Redis ----------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test:budget:{uuid.uuid4().hex}"
    client = Redis.from_url(REDIS_URL)
    yield prefix
    keys = [key async for key in client.scan_iter(match=prefix + ":*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.integration
async def test_two_replicas_share_mu_and_window(redis_prefix: str) -> None:
    settings = _settings(target_cloud_share=0.2).model_copy(update={"redis_url": REDIS_URL})
    clock = Clock()
    a = BudgetController(settings, clock=clock, key_prefix=redis_prefix, flush_interval_s=0.02)
    b = BudgetController(settings, clock=clock, key_prefix=redis_prefix, flush_interval_s=0.02)
    await a.start()
    await b.start()
    try:
        assert a.shared and b.shared
        for round_ in range(10):
            _feed(a, clock, 15, 0.6, seed=round_)
            _feed(b, clock, 15, 0.6, seed=100 + round_)
            await asyncio.sleep(0.06)
        await a.sync()
        await b.sync()
        await a.sync()
        assert a.multiplier() > 0
        assert a.multiplier() == b.multiplier()
        sa, sb = a.state(), b.state()
        assert sa["requests"] == sb["requests"] == 300  # both replicas' requests, once each
        assert sa["cloud_share"] == sb["cloud_share"]
        assert sa["steps"] + sb["steps"] >= 10  # steps were split between the replicas
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.integration
async def test_redis_outage_keeps_mu_and_buffers_counts() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings = _settings(target_cloud_share=0.2).model_copy(
        update={"redis_url": f"redis://127.0.0.1:{port}/0"}
    )
    controller = BudgetController(settings, key_prefix="test:budget:outage")
    # as if start() had connected before the outage
    controller._redis = Redis.from_url(settings.redis_url, socket_connect_timeout=0.2)
    controller._flush_script = controller._redis.register_script("return 1")
    controller._mu = 3.0
    controller.record("cloud", 0.001)
    await controller.sync()  # must not raise
    assert controller.multiplier() == 3.0
    assert controller.state()["store_reachable"] is False
    assert sum(slot[0] for slot in controller._buffer.values()) == 1
    await controller._redis.aclose()


_REPLICA = textwrap.dedent("""
    import asyncio, random, sys, time
    from gateway.policy.budget_store import BudgetController
    from gateway.config import Settings

    async def main(url, prefix, seed):
        settings = Settings(redis_url=url, budget={"target_cloud_share": 0.2, "update_every": 20,
                                                   "multiplier_max": 1e6})
        c = BudgetController(settings, key_prefix=prefix, flush_interval_s=0.02)
        await c.start()
        rng = random.Random(seed)
        for _ in range(200):
            cloud = rng.random() < 0.6
            c.record("cloud" if cloud else "edge", 2e-4 if cloud else 0.0)
            await asyncio.sleep(0.002)
        print("recorded", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await c.sync()
        print(repr(c.multiplier()), c.state()["requests"], flush=True)
        await c.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


@pytest.mark.integration
def test_two_gateway_processes_hold_the_same_mu(redis_prefix: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, REDIS_URL, redis_prefix, str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for seed in (1, 2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "recorded"
        # both done recording: let the background syncs land the last counts and steps
        time.sleep(0.5)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=20)
            mu, requests = out.split()
            results.append((float(mu), int(requests)))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    print(f"replica mu: {results}")
    assert results[0][0] == results[1][0] > 0
    assert results[0][1] == results[1][1] == 400
