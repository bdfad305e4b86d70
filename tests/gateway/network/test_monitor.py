"""NetworkMonitor against real HTTP servers on loopback (no namespaces needed)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.metrics import GatewayMetrics
from gateway.network import NetworkMonitor
from gateway.network.probes import HttpProber, safe_url, tcp_connect_time
from gateway.policy.inputs import LiveInputs
from gateway.ports import NetworkView
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration

SERVER_DELAY_S = 0.03


def _slow_app() -> Starlette:
    """/v1/models answers after a set server-side delay; /blob returns 1 MiB."""

    async def models(_request: Request) -> Response:
        await asyncio.sleep(SERVER_DELAY_S)
        return Response(b'{"object": "list", "data": []}', media_type="application/json")

    async def blob(_request: Request) -> Response:
        return Response(b"x" * (1 << 20), media_type="application/octet-stream")

    return Starlette(routes=[Route("/v1/models", models), Route("/blob", blob)])


@pytest.fixture(scope="module")
def slow_server():
    with ServerThread(_slow_app()) as server:
        yield server


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _settings(cloud_url: str, edge_url: str, **network) -> Settings:
    net = {
        "probe_interval_s": 0.05,
        "probe_jitter": 0.5,
        "probe_timeout_s": 1.0,
        "stale_after_s": 0.5,
    }
    net.update(network)
    return Settings(cloud={"base_url": cloud_url}, edge={"base_url": edge_url}, network=net)


async def _until(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_background_probes_fill_the_snapshot_and_metrics(slow_server, edge_server) -> None:
    metrics = GatewayMetrics()
    settings = _settings(slow_server.url + "/v1", edge_server[1].url + "/v1")
    monitor = NetworkMonitor(settings, metrics)
    view: NetworkView = monitor  # mypy checks the Protocol; the service only sees this
    assert view.snapshot().cloud.stale  # nothing measured yet
    await monitor.start()
    try:
        await _until(
            lambda: (
                monitor.estimators["cloud"].rtt.samples >= 3
                and monitor.estimators["edge"].rtt.samples >= 3
            )
        )
        state = monitor.snapshot()
        # the HTTP round trip includes the endpoint's server time; TCP connect does not
        assert not state.cloud.stale and not state.edge.stale
        assert state.cloud.rtt_s >= SERVER_DELAY_S
        assert state.edge.rtt_s < SERVER_DELAY_S
        rtt = metrics.registry.get_sample_value("netgpt_network_rtt_seconds", {"target": "cloud"})
        assert rtt is not None and rtt >= SERVER_DELAY_S
        assert (
            metrics.registry.get_sample_value("netgpt_network_estimate_stale", {"target": "cloud"})
            == 0.0
        )
        report = monitor.state()
        assert report["cloud"]["probe_url"] == slow_server.url + "/v1/models"
        assert report["cloud"]["rtt_samples"] >= 3
    finally:
        await monitor.stop()
    assert all(task.done() for task in monitor._tasks) and not monitor._tasks


async def test_unreachable_target_counts_failures_and_goes_stale(edge_server) -> None:
    metrics = GatewayMetrics()
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    settings = _settings(dead, edge_server[1].url + "/v1")
    monitor = NetworkMonitor(settings, metrics)
    assert await monitor.probe_once("cloud") is None
    assert await monitor.probe_once("edge") is not None
    failures = metrics.registry.get_sample_value(
        "netgpt_network_probe_failures_total", {"target": "cloud", "kind": "tcp"}
    )
    assert failures == 1.0
    assert (
        metrics.registry.get_sample_value(
            "netgpt_network_probe_failures_total", {"target": "cloud", "kind": "http"}
        )
        == 1.0
    )
    state = monitor.snapshot()
    assert state.cloud.stale and state.cloud.failure_rate > 0
    assert not state.edge.stale
    assert (
        metrics.registry.get_sample_value("netgpt_network_estimate_stale", {"target": "cloud"})
        == 1.0
    )
    # the policy routes a stale link on the conservative values
    policy = LiveInputs(settings, monitor)
    link = policy.cloud_link(state)
    assert link.rtt_s == settings.routing.stale_rtt_s
    assert "failed" in (monitor.state()["cloud"]["last_error"] or "")
    await monitor.stop()


async def test_estimate_goes_stale_when_probes_stop(slow_server, edge_server) -> None:
    now = [1000.0]
    settings = _settings(slow_server.url + "/v1", edge_server[1].url + "/v1", stale_after_s=5.0)
    monitor = NetworkMonitor(settings, clock=lambda: now[0])
    await monitor.probe_once("cloud")
    assert not monitor.snapshot().cloud.stale
    now[0] += 6.0
    assert monitor.snapshot().cloud.stale
    assert monitor.state()["cloud"]["stale"] is True
    await monitor.stop()


async def test_passive_and_active_bandwidth(slow_server, edge_server) -> None:
    settings = _settings(
        slow_server.url + "/v1",
        edge_server[1].url + "/v1",
        bandwidth_probe_url=slow_server.url + "/blob",
        min_transfer_bytes=10_000,
    )
    monitor = NetworkMonitor(settings)
    monitor.observe_transfer("cloud", 5_000, 0.01)  # too small to say anything
    monitor.observe_transfer("nowhere", 1 << 20, 0.01)
    assert monitor.estimators["cloud"].bandwidth.samples == 0
    monitor.observe_transfer("cloud", 1_000_000, 0.5)
    await monitor.probe_once("cloud")
    assert monitor.snapshot().cloud.bandwidth_bytes_per_s == pytest.approx(2e6)
    rate = await monitor.probe_bandwidth_once()
    assert rate is not None and rate > 2e6  # loopback moves a MiB far faster than 2 MB/s
    assert monitor.estimators["cloud"].bandwidth.samples == 2
    monitor.observe_compute("cloud", 0.7)
    assert monitor.snapshot().cloud.compute_s == 0.7
    await monitor.stop()


async def test_probes_measure_connect_and_round_trip(slow_server) -> None:
    host, port = "127.0.0.1", slow_server.port
    connect = await tcp_connect_time(host, port, 1.0)
    assert 0 < connect < SERVER_DELAY_S
    prober = HttpProber(1.0)
    try:
        # the first request opens the connection; all of them include the server's delay
        rtt = await prober.best_round_trip(slow_server.url + "/v1/models")
        assert SERVER_DELAY_S <= rtt < SERVER_DELAY_S + 0.05
    finally:
        await prober.close()


def test_safe_url_drops_credentials_and_query() -> None:
    assert (
        safe_url("https://user:pw@api.example.com:8443/v1/models?key=s")
        == "https://api.example.com:8443/v1/models"
    )


async def test_stop_returns_even_if_a_task_swallows_its_cancel(slow_server, edge_server) -> None:
    # Python 3.11's asyncio.wait_for can lose a cancel that races its inner await; a probe loop
    # that survives one cancel must not hang the gateway's shutdown
    import asyncio

    settings = _settings(slow_server.url + "/v1", edge_server[1].url + "/v1")
    monitor = NetworkMonitor(settings)
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)  # the first cancel is lost, as in the race

    monitor._tasks.append(asyncio.create_task(stubborn()))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(monitor.stop())
    await asyncio.wait({stopping}, timeout=5.0)  # a bound, not a speed target: it takes ~0.1 s
    assert stopping.done(), "stop() hung on a task that survived its cancel"
    assert swallowed == [1] and not monitor._tasks
