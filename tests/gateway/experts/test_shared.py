"""In-flight counts shared between gateway replicas through the real Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bench.fakes import FakeUpstream
from gateway.config import EdgeSettings, ExpertsSettings
from gateway.experts.config import Expert, ExpertConfig
from gateway.experts.load import LiveLoad
from gateway.experts.shared import SharedInFlight
from gateway.metrics import GatewayMetrics
from tests.conftest import chat_body
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(REDIS_URL)
    prefix = f"netgpt-test:{secrets.token_hex(4)}"
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=prefix + ":*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _load(*names: str) -> LiveLoad:
    experts = [
        Expert(ExpertConfig(name=n, base_url="http://127.0.0.1:1/v1", model="m", flavor="vllm"), EdgeSettings())
        for n in names
    ]
    return LiveLoad(experts, ExpertsSettings(), GatewayMetrics())


async def test_each_replica_sees_the_others_counts_and_a_stopped_one_leaves(redis):
    client, prefix = redis
    settings = ExpertsSettings(replica_ttl_s=5.0)
    a_load, b_load = _load("x", "y"), _load("x", "y")
    a = SharedInFlight(client, a_load, settings, prefix=prefix, replica_id="a")
    b = SharedInFlight(client, b_load, settings, prefix=prefix, replica_id="b")
    for _ in range(3):
        a_load.acquire("x")
    b_load.acquire("y")
    await a.sync()
    await b.sync()
    await a.sync()
    assert b_load.loads["x"].remote_in_flight == 3 and b_load.loads["y"].remote_in_flight == 0
    assert a_load.loads["y"].remote_in_flight == 1 and a_load.loads["x"].remote_in_flight == 0
    assert b_load.acquire("x") == 4  # its own call plus the other replica's three
    assert a.replicas == b.replicas == 2
    assert a.last_sync_s is not None and a.last_sync_s < 1.0
    await a.stop()
    await b.sync()
    assert b_load.loads["x"].remote_in_flight == 0 and b.replicas == 1


async def test_a_dead_replicas_counts_expire_after_the_ttl(redis):
    client, prefix = redis
    settings = ExpertsSettings(replica_ttl_s=0.3)
    a_load, b_load = _load("x"), _load("x")
    a = SharedInFlight(client, a_load, settings, prefix=prefix, replica_id="a")
    b = SharedInFlight(client, b_load, settings, prefix=prefix, replica_id="b")
    a_load.acquire("x")
    a_load.acquire("x")
    await a.sync()  # then "a" dies: no stop(), no more syncs
    await b.sync()
    assert b_load.loads["x"].remote_in_flight == 2
    await asyncio.sleep(0.45)
    await b.sync()
    assert b_load.loads["x"].remote_in_flight == 0


async def test_two_gateways_share_their_in_flight_counts(app_client_factory, make_settings, tmp_path: Path, cloud_fake):
    slow = FakeUpstream(name="edge", model="m-slow", flavor="vllm", behaviour={"delay_s": 0.6}, record=False)
    name = f"slow-{secrets.token_hex(3)}"  # other runs on the same Redis never share this name
    with ServerThread(slow) as server:
        path = tmp_path / "experts.toml"
        path.write_text(
            f'[[expert]]\nname = "{name}"\nbase_url = "{server.url}/v1"\nmodel = "m-slow"\nflavor = "vllm"\n'
        )
        settings = make_settings(
            edge={"experts_file": path}, redis_url=REDIS_URL, dataset={"enabled": False},
            experts={"share_interval_s": 0.05},
        )
        one = await app_client_factory(settings)
        two = await app_client_factory(settings)
        sends = [
            asyncio.create_task(one.http.post("/v1/chat/completions", json=chat_body())) for _ in range(4)
        ]
        seen = 0
        for _ in range(40):
            await asyncio.sleep(0.025)
            state = (await two.http.get("/v1/router/state")).json()
            seen = max(seen, state["experts"]["experts"][name]["load"]["remote_in_flight"])
            if seen == 4:
                break
        answers = await asyncio.gather(*sends)
        assert [a.status_code for a in answers] == [200] * 4
        assert all(a.headers["x-netgpt-expert"] == name for a in answers)
        assert seen == 4  # the other gateway saw all four calls in flight
        await asyncio.sleep(0.2)
        state = (await two.http.get("/v1/router/state")).json()
        assert state["experts"]["experts"][name]["load"]["remote_in_flight"] == 0
