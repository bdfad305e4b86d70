"""Streams that break (issue 14): a cloud stream cut in mid-answer ends with an OpenAI-shaped
error event and no ``[DONE]`` (the official SDK raises on it) and counts as failed; an edge
draft that turns out unusable never reaches the client, half-sent or whole.

The breaks are real: a fault-injecting TCP proxy (tests/faults/proxy.py) between the gateway
(uvicorn) and the fake upstream resets the connection after N bytes of the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gateway.config import Settings
from tests.conftest import TOOLS, GatewayServer, chat_body
from tests.faults.proxy import FaultProxy
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration
MESSAGES = [{"role": "user", "content": "What is the weather in Oslo?"}]


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


@pytest.fixture
def proxied(
    make_settings: Callable[..., Settings], edge_server: Any, cloud_server: Any
) -> Iterator[tuple[GatewayServer, FaultProxy, FaultProxy]]:
    """The gateway with a fault proxy before the edge and one before the cloud."""
    with FaultProxy(host_port(edge_server[1].url)) as edge, FaultProxy(host_port(cloud_server[1].url)) as cloud:
        settings = make_settings(edge={"base_url": edge.url + "/v1"}, cloud={"base_url": cloud.url + "/v1"})
        with GatewayServer(settings) as server:
            yield server, edge, cloud


def sse_payloads(raw: bytes) -> list[bytes]:
    return [e[len(b"data: "):] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]


def failed(server: GatewayServer, status: str) -> float:
    registry = server.app.state.metrics.registry
    value = registry.get_sample_value(
        "netgpt_requests_total", {"route": "cloud", "reason": "forced", "status": status}
    )
    return value or 0.0


def test_a_cloud_stream_broken_mid_answer_ends_with_an_error_event_and_no_done(proxied: Any) -> None:
    server, _, cloud = proxied
    before = failed(server, "503")
    cloud.set(reset_after_bytes=900)  # headers and a few chunks pass, then RST
    body = chat_body(model="cloud", stream=True, x_fake={"cloud": {"chunk_delay_s": 0.01}})
    resp = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=10)
    assert resp.status_code == 200  # the status line left before the break
    payloads = sse_payloads(resp.content)
    assert len(payloads) >= 2, "some chunks arrived before the break"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert not any(c["choices"] and c["choices"][0].get("finish_reason") for c in chunks), "never looks finished"
    last = orjson.loads(payloads[-1])
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert last["error"]["code"] == "upstream_unreachable" and "cloud upstream" in last["error"]["message"]
    assert b"[DONE]" not in resp.content
    assert failed(server, "503") == before + 1, "counted as failed in netgpt_requests_total"
    assert cloud.stats.resets >= 1


def test_the_openai_sdk_raises_on_a_broken_stream(proxied: Any) -> None:
    server, _, cloud = proxied
    cloud.set(reset_after_bytes=900)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="cloud", messages=MESSAGES, tools=TOOLS, stream=True,
        extra_body={"x_fake": {"cloud": {"chunk_delay_s": 0.01}}},
    )
    received = []
    with pytest.raises(openai.APIError, match="cloud upstream"):
        for chunk in stream:
            received.append(chunk)
    assert received, "the chunks before the break were delivered"
    # after the fault: the next stream is whole
    cloud.set()
    whole = list(client.chat.completions.create(model="cloud", messages=MESSAGES, tools=TOOLS, stream=True))
    assert whole[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("toxic", "steer", "reason"),
    [
        ({"reset_after_bytes": 300}, {}, "edge_unavailable"),  # the draft breaks in mid-body
        ({}, {"mode": "invalid_json"}, "schema_invalid"),  # a whole draft that fails the guard
        ({}, {"mode": "offload_marker"}, "offload_requested"),  # the edge asks for help
    ],
)
def test_an_unusable_edge_draft_never_reaches_the_client(
    proxied: Any, toxic: dict[str, Any], steer: dict[str, Any], reason: str
) -> None:
    server, edge, _ = proxied
    edge.set(**toxic)
    body = chat_body(stream=True, x_fake={"edge": steer} if steer else {})
    resp = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud" and resp.headers["x-netgpt-reason"] == reason
    payloads = sse_payloads(resp.content)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    # every byte the client got is the cloud's answer: one role chunk, one model, one id
    assert {c["model"] for c in chunks} == {"cloud-large"}
    assert len({c["id"] for c in chunks}) == 1
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("role")) == 1
    assert "edge-small" not in resp.text and "unknown>" not in resp.text


# ---------------------------------------------------------------------- a clean close too early
def _cut_short(_request: Request) -> StreamingResponse:
    """An upstream whose chunked body ends properly but before the answer did: no finish_reason
    and no [DONE] (what a proxy that drops the rest of a stream looks like)."""
    head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "cloud-large"}

    async def events() -> Any:
        yield b"data: " + orjson.dumps(head | {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}) + b"\n\n"
        yield b"data: " + orjson.dumps(head | {"choices": [{"index": 0, "delta": {"content": "Half an ans"}}]}) + b"\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def test_a_stream_that_ends_cleanly_but_unfinished_is_an_error_not_a_short_answer(
    make_settings: Callable[..., Settings],
) -> None:
    app = Starlette(routes=[Route("/v1/chat/completions", _cut_short, methods=["POST"])])
    with ServerThread(app) as cloud:
        settings = make_settings(cloud={"base_url": cloud.url + "/v1"})
        with GatewayServer(settings) as server:
            resp = httpx.post(server.url + "/v1/chat/completions", json=chat_body(model="cloud", stream=True), timeout=10)
    payloads = sse_payloads(resp.content)
    assert b"[DONE]" not in resp.content
    error = orjson.loads(payloads[-1])["error"]
    assert error["code"] == "upstream_error" and "before the answer was complete" in error["message"]
    assert orjson.loads(payloads[-2])["choices"][0]["delta"]["content"] == "Half an ans"
