"""EdgeClient against a real uvicorn server on loopback: bodies, logprobs, error mapping."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.fakes import FakeUpstream
from edge_worker.client import EdgeClient
from gateway.config import EdgeSettings, Settings
from gateway.errors import UpstreamConnectError, UpstreamStatusError, UpstreamTimeout
from tests.support.server import ServerThread, closed_port_url

pytestmark = pytest.mark.integration

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
BODY = {"model": "auto", "messages": [{"role": "user", "content": "weather?"}], "tools": TOOLS}
KEY = "edge-secret-key-123"


async def _echo_key(request: Request) -> Response:
    # an upstream that quotes the key it rejects, as OpenAI does
    key = request.headers.get("authorization", "")
    return Response(b'{"error": {"message": "Incorrect API key provided: ' + key.encode() + b'"}}',
                    status_code=401, media_type="application/json")


async def _not_json(_request: Request) -> Response:
    return Response(b"<html>proxy error</html>", media_type="text/html")


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream(name="edge", model="qwen-edge", flavor="vllm")
    with ServerThread(upstream) as server:
        upstream.url = server.url
        yield upstream


@pytest.fixture(scope="module")
def odd():
    """Upstreams that misbehave in ways the fake doesn't model."""
    app = Starlette(routes=[Route("/echo/chat/completions", _echo_key, methods=["POST"]),
                            Route("/html/chat/completions", _not_json, methods=["POST"])])
    with ServerThread(app) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.reset()


def settings(base_url: str, **kw) -> Settings:
    return Settings(edge=EdgeSettings(base_url=base_url, model="qwen-edge", **kw))


@pytest.fixture
async def client(fake):
    edge = EdgeClient(settings(fake.url + "/v1", top_logprobs=2))
    yield edge
    await edge.aclose()


async def test_draft_sends_logprobs_request_and_reads_them(fake, client):
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}, "custom": 1}
    draft = await client.draft(body)
    sent = fake.requests[-1]["body"]
    assert sent["model"] == "qwen-edge" and sent["logprobs"] is True
    assert sent["top_logprobs"] == 2 and sent["stream"] is False
    assert "stream_options" not in sent and sent["custom"] == 1
    assert body["model"] == "auto" and body["stream"] is True  # the caller's dict is untouched
    assert "authorization" not in fake.requests[-1]["headers"]
    content = draft.response["choices"][0]["logprobs"]["content"]
    assert draft.token_logprobs == [item["logprob"] for item in content]
    assert len(draft.token_logprobs) > 5 and set(draft.token_logprobs) == {-0.05}
    assert draft.message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert draft.finish_reason == "tool_calls"
    assert 0 < draft.ttfb_s <= draft.latency_s
    assert draft.response_bytes > 100


async def test_low_confidence_logprobs(client):
    draft = await client.draft({**BODY, "x_fake": {"edge": {"logprob": -3}}})
    assert draft.token_logprobs and set(draft.token_logprobs) == {-3.0}


async def test_one_session_is_reused(client):
    await client.draft(BODY)
    session = client._session
    await client.draft(BODY)
    assert client._session is session
    assert session.connector.limit == 512


async def test_api_key_is_sent_as_bearer(fake):
    edge = EdgeClient(settings(fake.url + "/v1", api_key=KEY))
    try:
        await edge.draft(BODY)
    finally:
        await edge.aclose()
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(edge)


async def test_connect_refused_is_a_connect_error():
    edge = EdgeClient(settings(closed_port_url() + "/v1"))
    try:
        with pytest.raises(UpstreamConnectError) as caught:
            await edge.draft(BODY)
    finally:
        await edge.aclose()
    assert caught.value.upstream == "edge" and caught.value.status == 503


async def test_slow_edge_is_a_timeout(fake):
    edge = EdgeClient(settings(fake.url + "/v1", timeout_s=0.2))
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await edge.draft({**BODY, "x_fake": {"edge": {"delay_s": 1.0}}})
    finally:
        await edge.aclose()
    assert caught.value.status == 504 and caught.value.upstream == "edge"


async def test_http_error_carries_status_and_upstream_message(client):
    with pytest.raises(UpstreamStatusError) as caught:
        await client.draft({**BODY, "x_fake": {"edge": {"mode": "error", "status": 500,
                                                         "message": "CUDA out of memory"}}})
    assert caught.value.status_code == 500
    assert "CUDA out of memory" in caught.value.message
    assert caught.value.body["error"]["code"] == 500


async def test_dropped_connection_is_a_connect_error(client):
    with pytest.raises(UpstreamConnectError):
        await client.draft({**BODY, "x_fake": {"edge": {"mode": "drop"}}})
    assert (await client.draft(BODY)).token_logprobs  # the pool recovers


async def test_malformed_body_is_a_status_error(odd):
    edge = EdgeClient(settings(odd.url + "/html"))
    try:
        with pytest.raises(UpstreamStatusError) as caught:
            await edge.draft(BODY)
    finally:
        await edge.aclose()
    assert caught.value.status_code == 502 and caught.value.status == 502


async def test_key_never_leaks_into_errors_or_logs(odd, caplog):
    caplog.set_level(logging.DEBUG)
    edge = EdgeClient(settings(odd.url + "/echo", api_key=KEY))
    try:
        with pytest.raises(UpstreamStatusError) as caught:
            await edge.draft(BODY)
    finally:
        await edge.aclose()
    exc = caught.value
    assert exc.status_code == 401 and "Incorrect API key provided" in exc.message
    for text in (str(exc), repr(exc), exc.message, str(exc.body), caplog.text, repr(edge)):
        assert KEY not in text


async def test_ping(fake, client):
    assert await client.ping() > 0
    edge = EdgeClient(settings(closed_port_url() + "/v1"))
    try:
        with pytest.raises(UpstreamConnectError):
            await edge.ping()
    finally:
        await edge.aclose()
