"""Shared fixtures: fake upstreams on real loopback servers, gateway settings, the gateway app.

The fakes stand in for the LLMs only; everything between them and the client is real: aiohttp
over TCP to uvicorn-served fakes, and (for integration tests) the gateway itself under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as _hypothesis_settings

from bench.fakes import FakeUpstream
from gateway.config import Settings
from tests.support.server import ServerThread

# hypothesis's per-example deadline is a timing assertion: on a shared 2-core CI box it fails
# property tests for the machine's load, not the code's (speed lives in the benchmarks)
_hypothesis_settings.register_profile("netgpt", deadline=None)
_hypothesis_settings.load_profile("netgpt")

CLOUD_KEY = "sk-test-cloud-key-DO-NOT-LEAK-0123456789"
CLIENT_KEY = "client-key-DO-NOT-LEAK-abcdef"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_table",
            "parameters": {
                "type": "object",
                "properties": {"restaurant": {"type": "string"}, "people": {"type": "integer"}},
                "required": ["restaurant", "people"],
            },
        },
    },
]


def chat_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
        "tools": TOOLS,
    }
    body.update(extra)
    return body


@pytest.fixture(scope="session")
def edge_server() -> Iterator[tuple[FakeUpstream, ServerThread]]:
    fake = FakeUpstream(name="edge", model="edge-small", flavor="vllm")
    with ServerThread(fake) as server:
        yield fake, server


@pytest.fixture(scope="session")
def cloud_server() -> Iterator[tuple[FakeUpstream, ServerThread]]:
    fake = FakeUpstream(name="cloud", model="cloud-large", flavor="openai")
    with ServerThread(fake) as server:
        yield fake, server


@pytest.fixture
def edge_fake(edge_server: tuple[FakeUpstream, ServerThread]) -> FakeUpstream:
    edge_server[0].reset()
    return edge_server[0]


@pytest.fixture
def cloud_fake(cloud_server: tuple[FakeUpstream, ServerThread]) -> FakeUpstream:
    cloud_server[0].reset()
    return cloud_server[0]


@pytest.fixture
def make_settings(
    edge_server: tuple[FakeUpstream, ServerThread],
    cloud_server: tuple[FakeUpstream, ServerThread],
    tmp_path: Path,
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        sections: dict[str, dict[str, Any]] = {
            "edge": {"base_url": edge_server[1].url + "/v1", "model": "edge-small", "timeout_s": 2.0},
            "cloud": {
                "base_url": cloud_server[1].url + "/v1",
                "model": "cloud-large",
                "api_key": CLOUD_KEY,
                "read_timeout_s": 3.0,
                "connect_timeout_s": 1.0,
                "max_retries": 1,
                "backoff_base_s": 0.01,
            },
            "network": {"probes_enabled": False},
            "routing": {},
            "dataset": {},
        }
        for name in list(overrides):
            if name in sections:
                sections[name].update(overrides.pop(name))
        top: dict[str, Any] = {"data_dir": tmp_path / "var", "log_requests": True}
        top.update(overrides)
        return Settings(**sections, **top)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


class AppClient:
    """An httpx client on the gateway's ASGI app, with the app's lifespan running."""

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.http = client

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.app.state.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


@pytest.fixture
async def app_client_factory() -> AsyncIterator[Callable[[Settings], Any]]:
    from gateway.app import create_gateway

    stack: list[Any] = []

    async def make(settings: Settings) -> AppClient:
        # the stack `netgpt serve` runs (chat requests take the fast lane), GC left alone
        stack_app = create_gateway(settings, tune_gc=False)
        app = stack_app.app.app
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack_app), base_url="http://gateway", timeout=30
        )
        stack.append((lifespan, client))
        return AppClient(app, client)

    yield make
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def gw(app_client_factory: Callable[[Settings], Any], settings: Settings) -> AppClient:
    client: AppClient = await app_client_factory(settings)
    return client


class GatewayServer(ServerThread):
    """The gateway under a real uvicorn server (lifespan on) in a background thread, wrapped as
    ``netgpt serve`` wraps it (the wrapper passes ``.app.state`` through)."""

    def __init__(self, settings: Settings) -> None:
        from gateway.app import create_gateway

        super().__init__(create_gateway(settings, tune_gc=False), lifespan="on")


@pytest.fixture
def gateway_server(settings: Settings) -> Iterator[GatewayServer]:
    with GatewayServer(settings) as server:
        yield server


# ---------------------------------------------------------------- the real llama.cpp edge
@pytest.fixture(scope="session")
def real_edge() -> Iterator[Any]:
    """The real llama-server with SmolLM2-135M-Instruct on a free loopback port (2 slots).

    Built and fetched by `netgpt edge install` (scripts/test runs it first); built here if not.
    Tests that kill it must bring it back (``real_edge.start()``).
    """
    from edge_worker.llamacpp.server import LlamaServer

    server = LlamaServer("smollm2", parallel=2, ctx_per_slot=4096)
    with server:
        yield server

