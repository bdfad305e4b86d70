"""The gateway in front of the REAL llama-server running SmolLM2-135M-Instruct (issue 11).

Everything here is real except the cloud (the project's fake, which speaks OpenAI's shapes):
llama.cpp's server built from its PyPI source, the GGUF from its PyPI wheel, the gateway under
uvicorn, the official ``openai`` SDK as the client. Assertions are about shapes and routing,
never about the model's exact text. Decoding is greedy (the prefill recipe sets temperature 0),
so a request asked twice gets the same call.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from edge_worker.client import EdgeClient
from gateway.config import EdgeSettings, Settings
from gateway.routing.score import DraftFeatures, logprob_summary, score
from tests.conftest import TOOLS, GatewayServer

pytestmark = [pytest.mark.llamacpp, pytest.mark.integration, pytest.mark.slow]

PREFILL = "<tool_call>\n"
WEATHER = [{"role": "user", "content": "What is the weather in Oslo in celsius?"}]


@pytest.fixture
def edge_settings(real_edge: Any) -> Callable[..., dict[str, Any]]:
    def make(**extra: Any) -> dict[str, Any]:
        edge = {"base_url": real_edge.base_url, "model": "smollm2", "timeout_s": 60.0,
                "call_prefill": PREFILL}
        edge.update(extra)
        return edge

    return make


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., GatewayServer]]:
    servers: list[GatewayServer] = []

    def start(**overrides: Any) -> GatewayServer:
        server = GatewayServer(make_settings(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sdk(server: GatewayServer) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_real_tool_calls_in_openai_shape_plain_and_streamed(serve: Any, edge_settings: Any) -> None:
    gw = serve(edge=edge_settings())
    client = sdk(gw)
    raw = client.chat.completions.with_raw_response.create(
        model="edge", messages=WEATHER, tools=TOOLS)
    answer = raw.parse()
    assert raw.headers["x-netgpt-route"] == "edge"
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1  # the prefill recipe asks for one call
    assert calls[0].type == "function" and calls[0].id
    assert calls[0].function.name in {t["function"]["name"] for t in TOOLS}
    assert isinstance(json.loads(calls[0].function.arguments), dict)
    assert answer.usage is not None and answer.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model="edge", messages=WEATHER, tools=TOOLS, stream=True,
        stream_options={"include_usage": True})
    name, args, finish, usage = None, "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            for delta in c.delta.tool_calls or ():
                name = name or (delta.function.name if delta.function else None)
                args += (delta.function.arguments or "") if delta.function else ""
            finish = c.finish_reason or finish
    # the draft is never asked of the edge as a stream (llama-server refuses stream + tools +
    # logprobs): the gateway buffers it, decides, then replays it as SSE chunks
    assert finish == "tool_calls" and usage is not None
    assert name == calls[0].function.name
    assert json.loads(args) == json.loads(calls[0].function.arguments)


def test_a_named_tool_choice_is_answered_with_that_call(serve: Any, edge_settings: Any) -> None:
    # llama-server refuses a prefilled call under a named tool_choice (a 500 the gateway turned
    # into a 502 after the edge check's 30 s); the draft asks for "required" over that tool alone
    other = {"type": "function", "function": {"name": "get_time", "description": "Time now",
                                              "parameters": {"type": "object", "properties": {}}}}
    gw = serve(edge=edge_settings())
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="edge", messages=WEATHER, tools=[other, *TOOLS],
        tool_choice={"type": "function", "function": {"name": TOOLS[0]["function"]["name"]}})
    assert raw.http_response.status_code == 200 and raw.headers["x-netgpt-route"] == "edge"
    calls = raw.parse().choices[0].message.tool_calls
    assert calls and calls[0].function.name == TOOLS[0]["function"]["name"]


def test_the_score_comes_from_the_real_logprobs(serve: Any, edge_settings: Any) -> None:
    # q_cloud 0 makes tau 0: a schema-valid draft is answered at the edge whatever its score
    gw = serve(edge=edge_settings(), routing={"q_cloud": 0.0})
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=WEATHER, tools=TOOLS, logprobs=True)
    answer = raw.parse()
    assert raw.headers["x-netgpt-route"] == "edge", raw.headers["x-netgpt-reason"]
    content = answer.choices[0].logprobs.content
    assert content and all(t.logprob <= 0.0 for t in content)
    lps = [t.logprob for t in content]
    mean_lp, min_lp = logprob_summary(lps)
    calls = answer.choices[0].message.tool_calls or []
    expected = score(DraftFeatures(schema_valid=True, n_tool_calls=len(calls),
                                   mean_logprob=mean_lp, min_logprob=min_lp, n_tokens=len(lps)))
    header = float(raw.headers["x-netgpt-score"])
    assert 0.0 < header < 1.0
    assert header == pytest.approx(expected, abs=1e-4)  # header is printed to 4 places


def test_fallback_to_the_cloud_on_a_low_score(serve: Any, edge_settings: Any, cloud_fake: Any) -> None:
    # q_cloud 1 and no latency/cost terms: tau = 1, above any real score
    gw = serve(edge=edge_settings(),
               routing={"q_cloud": 1.0, "lambda_latency": 0.0, "lambda_cost": 0.0})
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=WEATHER, tools=TOOLS)
    assert raw.headers["x-netgpt-route"] == "cloud"
    assert raw.headers["x-netgpt-reason"] == "score_below_threshold"
    assert 0.0 < float(raw.headers["x-netgpt-score"]) < 1.0
    assert raw.parse().choices[0].message.tool_calls


def test_the_schema_guard_judges_the_real_models_output(serve: Any, edge_settings: Any) -> None:
    # a schema the model is most unlikely to satisfy: llama.cpp's grammar has no multipleOf
    tool = {"type": "function", "function": {
        "name": "set_code", "description": "Set the door code",
        "parameters": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "integer", "minimum": 1, "multipleOf": 1000003}}}}}
    messages = [{"role": "user", "content": "Set the door code to 1234."}]
    gw = serve(edge=edge_settings(), routing={"q_cloud": 0.0})
    client = sdk(gw)
    forced = client.chat.completions.create(model="edge", messages=messages, tools=[tool])
    call = (forced.choices[0].message.tool_calls or [None])[0]
    assert call is not None, "the prefill recipe always yields a call"
    try:
        jsonschema.validate(json.loads(call.function.arguments),
                            tool["function"]["parameters"])
        valid = True
    except (jsonschema.ValidationError, ValueError):
        valid = False
    assert not valid, f"the model satisfied multipleOf 1000003: {call.function.arguments}"
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=[tool])
    assert raw.headers["x-netgpt-route"] == "cloud"
    assert raw.headers["x-netgpt-reason"] == "schema_invalid"
    assert float(raw.headers["x-netgpt-score"]) == 0.0


def test_the_draft_is_bounded(serve: Any, edge_settings: Any) -> None:
    # no prefill and "auto": SmolLM2 answers in prose; the cap ends it after 16 tokens
    gw = serve(edge=edge_settings(call_prefill="", draft_max_tokens=16))
    started = time.perf_counter()
    answer = sdk(gw).chat.completions.create(
        model="edge", tools=TOOLS,
        messages=[{"role": "user", "content": "Tell me a very long story about a dragon."}])
    assert answer.usage is not None and answer.usage.completion_tokens <= 16
    assert answer.choices[0].finish_reason in ("length", "stop", "tool_calls")
    assert time.perf_counter() - started < 30


async def test_the_flavour_is_detected_and_the_draft_has_logprobs(real_edge: Any) -> None:
    client = EdgeClient(EdgeSettings(base_url=real_edge.base_url, model="smollm2",
                                     call_prefill=PREFILL, timeout_s=60))
    try:
        assert client.flavor is None
        draft = await client.draft({"messages": WEATHER, "tools": TOOLS})
        assert client.flavor == "llamacpp"
        assert draft.token_logprobs and all(lp <= 0 for lp in draft.token_logprobs)
        assert draft.response["choices"][0]["message"]["tool_calls"]
    finally:
        await client.aclose()


def test_load_gauges_are_read_from_its_metrics(real_edge: Any, edge_settings: Any) -> None:
    def gauges() -> dict[str, float]:
        with urllib.request.urlopen(real_edge.root_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

    names = gauges()
    for name in ("llamacpp:requests_processing", "llamacpp:requests_deferred",
                 "llamacpp:predicted_tokens_seconds"):
        assert name in names
    busy: list[float] = []
    body = {"model": "smollm2", "messages": WEATHER, "tools": TOOLS, "max_tokens": 64}
    worker = threading.Thread(target=lambda: httpx.post(
        real_edge.base_url + "/chat/completions", json=body, timeout=120))
    worker.start()
    while worker.is_alive():
        busy.append(gauges()["llamacpp:requests_processing"])
        time.sleep(0.05)
    worker.join()
    assert max(busy) >= 1.0  # the request was seen in flight
    assert gauges()["llamacpp:requests_processing"] == 0.0


def test_edge_killed_and_restarted_mid_run(serve: Any, edge_settings: Any, real_edge: Any) -> None:
    gw = serve(edge=edge_settings(timeout_s=30.0, connect_timeout_s=0.5),
               routing={"q_cloud": 0.0})
    client = sdk(gw)
    seen: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def one() -> None:
        r = httpx.post(gw.url + "/v1/chat/completions", timeout=120,
                       json={"model": "auto", "messages": WEATHER, "tools": TOOLS})
        with lock:
            seen.append((r.status_code, r.headers.get("x-netgpt-route", ""),
                         r.headers.get("x-netgpt-reason", "")))

    try:
        in_flight = [threading.Thread(target=one) for _ in range(3)]
        for t in in_flight:
            t.start()
        time.sleep(0.3)
        real_edge.kill()
        for t in in_flight:
            t.join()
        one()  # edge down: answered by the cloud
        assert all(status == 200 for status, _, _ in seen), seen
        assert seen[-1][1:] == ("cloud", "edge_unavailable")
    finally:
        real_edge.start()
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=WEATHER, tools=TOOLS)
    assert raw.headers["x-netgpt-route"] == "edge", raw.headers["x-netgpt-reason"]
