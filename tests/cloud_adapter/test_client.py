"""CloudClient against real uvicorn servers on loopback: retries, Retry-After, cost, streams."""

from __future__ import annotations

import json
import logging
import time
from email.utils import formatdate

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.fakes import FakeUpstream
from cloud_adapter.client import CloudClient
from cloud_adapter.pricing import cost_usd, flat_price
from gateway.config import CloudSettings, Settings
from gateway.errors import (
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.infra.upstream_http import retry_after_s
from tests.support.server import ServerThread, closed_port_url

pytestmark = pytest.mark.integration

TOOLS = [{"type": "function", "function": {"name": "book", "parameters": {
    "type": "object", "required": ["room", "nights"],
    "properties": {"room": {"type": "string", "enum": ["single", "double"]},
                   "nights": {"type": "integer", "minimum": 1}}}}}]
BODY = {"model": "auto", "messages": [{"role": "user", "content": "book a room"}], "tools": TOOLS}
KEY = "sk-cloud-secret-0123456789"
PRICE = (1e-6, 4e-6)  # USD per input / output token


def fail(status: int, **kw) -> dict:
    return {**BODY, "x_fake": {"cloud": {"mode": "error", "status": status, **kw}}}


async def _echo_key(request: Request) -> Response:
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    message = f"Incorrect API key provided: {key}. You can find your API key at ..."
    return Response(orjson.dumps({"error": {"message": message, "type": "invalid_request_error",
                                            "param": None, "code": "invalid_api_key"}}),
                    status_code=401, media_type="application/json")


async def _echo_key_503(request: Request) -> Response:
    key = request.headers.get("authorization", "")
    return Response(f"upstream overloaded for {key}".encode(), status_code=503)


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream(name="cloud", model="gpt-4o-mini", flavor="openai")
    with ServerThread(upstream) as server:
        upstream.url = server.url
        yield upstream


@pytest.fixture(scope="module")
def echo():
    app = Starlette(routes=[
        Route("/v1/chat/completions", _echo_key, methods=["POST"]),
        Route("/busy/chat/completions", _echo_key_503, methods=["POST"]),
    ])
    with ServerThread(app) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.reset()


def make(base_url: str, **kw) -> CloudClient:
    options = {"model": "gpt-4o-mini", "api_key": KEY, "backoff_base_s": 0.01,
               "backoff_max_s": 0.05, **kw}
    return CloudClient(Settings(cloud=CloudSettings(base_url=base_url, **options)),
                       price=lambda _now: PRICE)


@pytest.fixture
async def client(fake):
    cloud = make(fake.url + "/v1")
    yield cloud
    await cloud.aclose()


async def test_complete_forwards_auth_and_model_and_prices_usage(fake, client):
    answer = await client.complete({**BODY, "stream": False, "stream_options": {"x": 1}})
    sent = fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"]["model"] == "gpt-4o-mini" and "stream_options" not in sent["body"]
    usage = answer.response["usage"]
    assert (answer.input_tokens, answer.output_tokens) == (
        usage["prompt_tokens"], usage["completion_tokens"])
    assert answer.input_tokens > 0 and answer.output_tokens > 0
    assert answer.cost_usd == pytest.approx(
        usage["prompt_tokens"] * PRICE[0] + usage["completion_tokens"] * PRICE[1])
    assert answer.attempts == 1 and answer.response_bytes > 0
    assert 0 < answer.ttfb_s <= answer.latency_s


async def test_price_is_asked_at_request_time(fake):
    seen = []
    cloud = CloudClient(Settings(cloud=CloudSettings(base_url=fake.url + "/v1")),
                        price=lambda now: seen.append(now) or (0.0, 1.0))
    try:
        before = time.time()
        answer = await cloud.complete(BODY)
    finally:
        await cloud.aclose()
    assert before <= seen[0] <= time.time()
    assert answer.cost_usd == answer.output_tokens


def test_flat_price_from_settings():
    price = flat_price(CloudSettings(price_input_per_mtok=2.0, price_output_per_mtok=8.0))
    assert price(0.0) == (2e-6, 8e-6)
    assert cost_usd(price, 1_000_000, 500_000, 0.0) == pytest.approx(6.0)


async def test_retries_until_success(fake, client):
    answer = await client.complete(fail(503, fail_times=2))
    assert answer.attempts == 3 and len(fake.requests) == 3
    assert answer.response["choices"][0]["finish_reason"] == "tool_calls"


async def test_retry_after_is_honoured(fake):
    cloud = make(fake.url + "/v1", backoff_max_s=2.0, max_retries=1)
    try:
        started = time.perf_counter()
        answer = await cloud.complete(fail(429, retry_after_s=0.3, fail_times=1))
    finally:
        await cloud.aclose()
    assert answer.attempts == 2
    assert time.perf_counter() - started >= 0.3


async def test_retry_after_is_capped_by_backoff_max(fake, client):
    started = time.perf_counter()
    answer = await client.complete(fail(429, retry_after_s=30, fail_times=1))
    assert answer.attempts == 2 and time.perf_counter() - started < 5


def test_retry_after_parses_seconds_and_http_dates():
    assert retry_after_s("2") == 2.0 and retry_after_s("0.5") == 0.5
    now = time.time()
    assert retry_after_s(formatdate(now + 10, usegmt=True), now=now) == pytest.approx(10, abs=1)
    assert retry_after_s(formatdate(now - 10, usegmt=True), now=now) == 0.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_backoff_is_full_jitter_below_an_exponential_ceiling():
    cloud = CloudClient(CloudSettings(backoff_base_s=0.1, backoff_max_s=0.5), jitter=lambda: 1.0)
    error = UpstreamStatusError("cloud", 503, "busy")
    assert [cloud.backoff_s(n, error) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.5])
    low = CloudClient(CloudSettings(backoff_base_s=0.1), jitter=lambda: 0.25)
    assert low.backoff_s(2, error) == pytest.approx(0.05)


async def test_retries_exhausted_raise_the_last_error(fake, client, caplog):
    caplog.set_level(logging.WARNING, logger="netgpt.cloud")
    with pytest.raises(UpstreamStatusError) as caught:
        await client.complete(fail(500, message="boom"))
    assert caught.value.status_code == 500 and "boom" in caught.value.message
    assert len(fake.requests) == 3  # 1 + max_retries (2)
    assert caplog.text.count("retrying") == 2


async def test_client_errors_are_not_retried(fake, client):
    with pytest.raises(UpstreamStatusError) as caught:
        await client.complete(fail(400, message="bad tools"))
    assert caught.value.passthrough and caught.value.body["error"]["message"] == "bad tools"
    assert len(fake.requests) == 1


async def test_connect_errors_are_retried_then_raised(caplog):
    caplog.set_level(logging.WARNING, logger="netgpt.cloud")
    cloud = make(closed_port_url() + "/v1", max_retries=2)
    try:
        with pytest.raises(UpstreamConnectError):
            await cloud.complete(BODY)
    finally:
        await cloud.aclose()
    assert caplog.text.count("retrying") == 2


async def test_dropped_connection_is_retried(fake, client):
    answer = await client.complete({**BODY, "x_fake": {"cloud": {"mode": "drop", "fail_times": 1}}})
    assert answer.attempts == 2


async def test_read_timeout_is_not_retried(fake):
    cloud = make(fake.url + "/v1", read_timeout_s=0.2)
    try:
        with pytest.raises(UpstreamTimeout):
            await cloud.complete({**BODY, "x_fake": {"cloud": {"delay_s": 1.0}}})
    finally:
        await cloud.aclose()
    assert len(fake.requests) == 1


async def test_key_never_in_errors_reprs_or_logs(echo, caplog):
    caplog.set_level(logging.DEBUG)
    cloud = make(echo.url + "/v1")
    busy = make(echo.url + "/busy")
    try:
        with pytest.raises(UpstreamStatusError) as rejected:
            await cloud.complete(BODY)
        with pytest.raises(UpstreamStatusError) as overloaded:
            await busy.complete(BODY)
    finally:
        await cloud.aclose()
        await busy.aclose()
    assert rejected.value.status_code == 401 and "Incorrect API key" in rejected.value.message
    assert overloaded.value.status_code == 503 and "retrying" in caplog.text
    for exc in (rejected.value, overloaded.value):
        for text in (str(exc), repr(exc), exc.message, json.dumps(exc.body), repr(exc.args)):
            assert KEY not in text
    assert KEY not in caplog.text and KEY not in repr(cloud) and KEY not in str(vars(cloud))


async def test_stream_assembles_the_same_tool_call_and_costs(fake, client):
    whole = await client.complete(BODY)
    stream = await client.stream({**BODY, "stream": True})
    payloads = [payload async for payload in stream.chunks]
    sent = fake.requests[-1]["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert b"[DONE]" not in payloads
    chunks = [orjson.loads(p) for p in payloads]
    assert chunks[0]["object"] == "chat.completion.chunk" and chunks[-1]["choices"] == []
    assembled = stream.assembled["choices"][0]
    call, whole_call = assembled["message"]["tool_calls"][0], whole.response["choices"][0][
        "message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == whole_call["function"]["name"] == "book"
    assert json.loads(call["function"]["arguments"]) == json.loads(whole_call["function"]["arguments"])
    assert assembled["finish_reason"] == "tool_calls"
    usage = stream.assembled["usage"]
    assert usage == whole.response["usage"]
    assert stream.cost_usd == pytest.approx(whole.cost_usd) and stream.cost_usd > 0
    assert stream.attempts == 1 and stream.ttfb_s > 0


async def test_stream_keeps_a_callers_stream_options(fake, client):
    stream = await client.stream({**BODY, "stream_options": {"include_usage": False, "x": 1}})
    assert [p async for p in stream.chunks]
    assert fake.requests[-1]["body"]["stream_options"] == {"include_usage": True, "x": 1}


async def test_stream_text_answer_assembles_content(client):
    stream = await client.stream({**BODY, "x_fake": {"cloud": {"mode": "text", "text": "Hi there, you."}}})
    [p async for p in stream.chunks]
    message = stream.assembled["choices"][0]["message"]
    assert message["content"] == "Hi there, you." and "tool_calls" not in message


async def test_stream_retries_before_the_first_byte(fake, client):
    stream = await client.stream(fail(502, fail_times=1))
    assert [p async for p in stream.chunks] and stream.attempts == 2
    assert len(fake.requests) == 2


async def test_stream_is_not_retried_after_the_first_byte(fake):
    cloud = make(fake.url + "/v1", read_timeout_s=0.2)
    try:
        stream = await cloud.stream({**BODY, "x_fake": {"cloud": {"chunk_delay_s": 1.0}}})
        received = []
        with pytest.raises(UpstreamTimeout):
            async for payload in stream.chunks:
                received.append(payload)
    finally:
        await cloud.aclose()
    assert len(received) == 1 and len(fake.requests) == 1
    assert stream.assembled == {}


async def test_stream_error_before_first_byte_raises_from_stream(fake, client):
    with pytest.raises(UpstreamStatusError) as caught:
        await client.stream(fail(404, message="model not found"))
    assert caught.value.status_code == 404 and len(fake.requests) == 1


async def test_ping(client):
    assert await client.ping() > 0
    down = make(closed_port_url() + "/v1")
    try:
        with pytest.raises(UpstreamConnectError):
            await down.ping()
    finally:
        await down.aclose()
