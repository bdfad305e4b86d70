"""``GET /v1/router/state`` follows the live network: a delaying proxy in front of the cloud
fake (on loopback, no namespaces needed) raises the RTT the probes see, and τ falls."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from tests.gateway.network.delay_proxy import Delay, open_proxy

pytestmark = pytest.mark.integration


async def _state(gw) -> dict:
    response = await gw.http.get("/v1/router/state")
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_rtt(gw, predicate, timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = await _state(gw)
        if predicate(state["network"]["cloud"]):
            return state
        assert time.monotonic() < deadline, state["network"]["cloud"]
        await asyncio.sleep(0.05)


async def test_router_state_changes_with_the_network(
    app_client_factory, make_settings, cloud_server
) -> None:
    cloud = urlsplit(cloud_server[1].url)
    delay = Delay(10.0, None)
    servers = await open_proxy("127.0.0.1", [(0, cloud.hostname, cloud.port)], delay)
    port = servers[0].sockets[0].getsockname()[1]
    try:
        settings = make_settings(
            cloud={"base_url": f"http://127.0.0.1:{port}/v1"},
            network={"probes_enabled": True, "probe_interval_s": 0.05, "stale_after_s": 2.0},
            routing={"lambda_latency": 1.0, "cloud_compute_s": 0.1},
        )
        gw = await app_client_factory(settings)
        before = await _wait_rtt(gw, lambda c: not c["stale"] and 0.015 < c["rtt_s"] < 0.05)
        delay.seconds = 0.06  # RTT 20 ms -> 120 ms
        after = await _wait_rtt(gw, lambda c: c["rtt_s"] > 0.1)
        print(
            f"\nrouter state: rtt {before['network']['cloud']['rtt_s'] * 1e3:.0f} -> "
            f"{after['network']['cloud']['rtt_s'] * 1e3:.0f} ms, tau "
            f"{before['threshold']['current']:.3f} -> {after['threshold']['current']:.3f}"
        )
        assert after["threshold"]["current"] < before["threshold"]["current"]
        assert after["threshold"]["latency_s"] > before["threshold"]["latency_s"]
        metric = gw.sample("netgpt_network_rtt_seconds", {"target": "cloud"})
        assert metric > 0.1
    finally:
        for server in servers:
            server.close()
