"""Live load: gauges parsed from vLLM's and llama.cpp's /metrics, health from scrapes and calls,
exact in-flight counts."""

from __future__ import annotations

import httpx
import pytest

from bench.fakes import FakeUpstream
from gateway.config import ExpertsSettings
from gateway.experts.config import Expert, ExpertConfig
from gateway.experts.load import LiveLoad, parse_gauges
from gateway.metrics import GatewayMetrics
from tests.support.server import ServerThread, closed_port_url

# the shape llama-server --metrics serves (b4000+), with a counter and a histogram-free page
LLAMACPP_METRICS = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 1234
# HELP llamacpp:prompt_seconds_total Prompt process time
# TYPE llamacpp:prompt_seconds_total counter
llamacpp:prompt_seconds_total 3.5
# HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s.
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 41.25
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 3
"""


def test_llamacpp_gauges_are_read():
    assert parse_gauges(LLAMACPP_METRICS) == {"tokens_per_s": 41.25, "running": 2.0, "waiting": 3.0}


def test_vllm_gauges_are_read_from_the_fakes_exact_page():
    fake = FakeUpstream(name="edge", flavor="vllm")
    fake.running = 4
    with ServerThread(fake) as server:
        text = httpx.get(server.url + "/metrics").text
    gauges = parse_gauges(text)
    assert gauges == {"running": 4.0, "waiting": 0.0, "kv_usage": 0.04}


def test_label_sets_are_summed_and_histograms_ignored():
    text = (
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="a"} 1\n'
        'vllm:num_requests_running{model_name="b"} 2\n'
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        'vllm:e2e_request_latency_seconds_bucket{le="1.0"} 5\n'
    )
    assert parse_gauges(text) == {"running": 3.0}


def _expert(name: str, url: str, flavor: str = "vllm") -> Expert:
    from gateway.config import EdgeSettings

    cfg = ExpertConfig(name=name, base_url=url + "/v1", model="m", flavor=flavor)  # type: ignore[arg-type]
    return Expert(cfg, EdgeSettings(base_url=url + "/v1", model="m"))


async def test_a_scrape_reads_the_gauges_and_a_dead_server_is_marked_down_then_up():
    fake = FakeUpstream(name="edge", flavor="vllm")
    server = ServerThread(fake).start()
    metrics = GatewayMetrics()
    load = LiveLoad([_expert("a", server.url)], ExpertsSettings(scrape_timeout_s=0.5), metrics)
    await load.start()
    try:
        fake.running = 2
        await load.scrape("a")
        state = load.loads["a"]
        assert state.healthy and state.running == 2.0 and not load.stale(state)
        port = server.port
        server.stop()
        await load.scrape("a")
        assert not state.healthy and state.last_error is not None
        assert metrics.registry.get_sample_value("netgpt_expert_up", {"expert": "a"}) == 0
        # back on the same port
        back = _ServerOnPort(fake, port).start()
        try:
            await load.scrape("a")
            assert state.healthy
            assert metrics.registry.get_sample_value("netgpt_expert_up", {"expert": "a"}) == 1
        finally:
            back.stop()
    finally:
        await load.stop()
        server.stop()


async def test_a_server_without_metrics_is_up_with_unknown_gauges_and_a_closed_port_down():
    cloud_like = FakeUpstream(name="cloud", flavor="openai")
    with ServerThread(cloud_like) as server:
        from starlette.applications import Starlette

        load = LiveLoad(
            [_expert("plain", server.url), _expert("gone", closed_port_url()), _expert("o", server.url, "openai")],
            ExpertsSettings(scrape_timeout_s=0.5),
            GatewayMetrics(),
        )
        assert Starlette  # the fake answers /metrics; point "plain" at a 404 instead
        load._urls["plain"] = (server.url + "/no-metrics-here", True)
        await load.start()
        try:
            for name in ("plain", "gone", "o"):
                await load.scrape(name)
            assert load.loads["plain"].healthy and load.loads["plain"].running is None
            assert not load.loads["gone"].healthy
            assert load.loads["o"].healthy  # probed on /models
        finally:
            await load.stop()


def test_in_flight_counts_are_exact_and_exported():
    metrics = GatewayMetrics()
    load = LiveLoad([_expert("a", "http://127.0.0.1:1")], ExpertsSettings(), metrics)
    assert load.acquire("a") == 1
    assert load.acquire("a") == 2
    load.loads["a"].remote_in_flight = 3
    assert load.acquire("a") == 6  # another replica's calls count too
    load.release("a")
    assert load.loads["a"].in_flight == 2
    assert metrics.registry.get_sample_value("netgpt_expert_in_flight", {"expert": "a"}) == 2
    load.failed("a", "upstream_unreachable")
    assert not load.loads["a"].healthy and load.state()["a"]["last_error"] == "upstream_unreachable"


class _ServerOnPort(ServerThread):
    """A ServerThread on a given port (to bring a 'dead' expert back where it was)."""

    def __init__(self, app: object, port: int) -> None:
        super().__init__(app)
        self._fixed = port

    def start(self) -> ServerThread:
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._fixed))
        self.port = self._fixed
        self._sock = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", ws="none",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.005)
        return self


pytestmark = pytest.mark.integration
