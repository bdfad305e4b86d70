"""Through the running gateway (uvicorn, fake LLM upstreams, own redis-server): every request
forced to the cloud leaves exactly one stream entry, across a Redis outage, in order.

Requests go out on 8 lanes at once (one sequential client each) to keep the test short; "in
order" is then checked as happens-before: within a lane, and between the three phases."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from tests.conftest import CLOUD_KEY, GatewayServer, chat_body
from tests.support.redis_server import RedisServer

KEY = "netgpt:pairs"
LANES = 8


def wait_sync(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.mark.integration
def test_1000_cloud_requests_through_a_redis_outage(
    make_settings, redis_server: RedisServer, edge_fake, cloud_fake
) -> None:
    settings = make_settings(redis_url=redis_server.url, dataset={"reconnect_max_s": 0.2})
    client = redis_server.client()

    def xlen() -> int:
        try:
            return int(client.xlen(KEY))
        finally:
            client.close()  # reconnects on next use; survives the restart

    with GatewayServer(settings) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as http:
        writer = gateway.app.state.runtime.dataset

        def send(i: int) -> None:
            response = http.post(
                "/v1/chat/completions",
                json=chat_body(model="cloud"),
                headers={"x-request-id": f"e2e-{i:04d}"},
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-netgpt-route"] == "cloud"
            assert response.json()["choices"][0]["message"]["tool_calls"]

        def phase(start: int, stop: int) -> None:
            def lane(k: int) -> None:
                for i in range(start + k, stop, LANES):
                    send(i)

            with ThreadPoolExecutor(LANES) as pool:
                list(pool.map(lane, range(LANES)))

        phase(0, 300)
        wait_sync(lambda: xlen() == 300)
        redis_server.stop()
        phase(300, 700)  # answered normally while the dataset goes to the spool
        wait_sync(lambda: writer.stats()["spool_depth"] >= 400)
        redis_server.start()
        phase(700, 1000)
        wait_sync(lambda: xlen() >= 1000 and writer.stats()["spool_depth"] == 0)

    entries = client.xrange(KEY)
    client.close()
    records = [orjson.loads(fields[b"record"]) for _, fields in entries]
    numbers = [int(r["id"].removeprefix("e2e-").removesuffix(":routed")) for r in records]
    assert sorted(numbers) == list(range(1000))  # exactly once
    phases = [0 if n < 300 else 1 if n < 700 else 2 for n in numbers]
    assert phases == sorted(phases)  # no record of a later phase overtook an earlier one
    for k in range(LANES):
        lane = [n for n in numbers if n % LANES == k]
        assert lane == sorted(lane)  # each client's requests in the order it sent them
    assert all(r["route"] == "cloud" and r["reason"] == "forced" for r in records)
    assert all(CLOUD_KEY not in orjson.dumps(r).decode() for r in records)
