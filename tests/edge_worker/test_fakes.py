"""The fake upstream speaks vLLM's and OpenAI's shapes: checked with the official openai SDK."""

from __future__ import annotations

import json
import re
import time

import httpx
import jsonschema
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.fakes import OFFLOAD_MARKER, FakeUpstream, sample_value
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "hourly": {"type": "boolean"},
    },
    "required": ["city", "unit", "days"],
}
SEARCH = {
    "type": "object",
    "properties": {
        "query": {"type": "string"},
        "filters": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "price": {"type": "number", "exclusiveMinimum": 0},
            },
            "required": ["tags", "price"],
        },
    },
    "required": ["query", "filters"],
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "search", "parameters": SEARCH}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
MESSAGES = [{"role": "user", "content": "Weather in Paris for 3 days?"}]


@pytest.fixture(scope="module")
def edge():
    fake = FakeUpstream(name="edge", model="qwen-edge", flavor="vllm")
    with ServerThread(fake) as server:
        yield fake, server


@pytest.fixture(scope="module")
def cloud():
    fake = FakeUpstream(name="cloud", model="gpt-4o-mini", flavor="openai")
    with ServerThread(fake) as server:
        yield fake, server


@pytest.fixture(autouse=True)
def _reset(edge, cloud):
    edge[0].reset()
    cloud[0].reset()


def sdk(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)


def chat(server: ServerThread, **body) -> httpx.Response:
    return httpx.post(server.url + "/v1/chat/completions", json={"messages": MESSAGES, **body})


def test_vllm_tool_call_parses_with_the_sdk_and_validates(edge):
    _, server = edge
    with sdk(server) as client:
        out = client.chat.completions.create(model="qwen-edge", messages=MESSAGES, tools=TOOLS)
    choice = out.choices[0]
    assert out.object == "chat.completion" and out.model == "qwen-edge"
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{32}", call.id)
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens > 0


def test_vllm_logprobs_cover_the_hermes_text(edge):
    _, server = edge
    with sdk(server) as client:
        out = client.chat.completions.create(
            model="m", messages=MESSAGES, tools=TOOLS, logprobs=True, top_logprobs=3
        )
    items = out.choices[0].logprobs.content
    text = "".join(item.token for item in items)
    call = out.choices[0].message.tool_calls[0]
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>")
    hermes = json.loads(text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
    assert hermes == {"name": call.function.name, "arguments": json.loads(call.function.arguments)}
    assert all(item.logprob == pytest.approx(-0.05) for item in items)
    assert all(len(item.top_logprobs) == 3 for item in items)
    assert all(bytes(item.bytes).decode() == item.token for item in items)
    assert out.usage.completion_tokens == len(items)


async def test_openai_flavor_async_sdk_ids_and_named_tool(cloud):
    _, server = cloud
    async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        out = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "search"}},
        )
    (call,) = out.choices[0].message.tool_calls
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call.id)
    assert call.function.name == "search"
    jsonschema.validate(json.loads(call.function.arguments), SEARCH)
    assert out.system_fingerprint


@pytest.mark.parametrize("flavor", ["edge", "cloud"])
def test_streamed_tool_call_matches_the_non_streamed_one(flavor, edge, cloud):
    _, server = edge if flavor == "edge" else cloud
    with sdk(server) as client:
        whole = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
        chunks = list(client.chat.completions.create(
            model="m", messages=MESSAGES, tools=TOOLS, stream=True,
            stream_options={"include_usage": True},
        ))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    first_call = next(c for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    head = first_call.choices[0].delta.tool_calls[0]
    assert head.id and head.type == "function" and head.function.arguments == ""
    args = "".join(
        tc.function.arguments or ""
        for c in chunks if c.choices
        for tc in c.choices[0].delta.tool_calls or []
    )
    whole_call = whole.choices[0].message.tool_calls[0]
    assert head.function.name == whole_call.function.name
    assert json.loads(args) == json.loads(whole_call.function.arguments)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_ends_with_done_and_no_usage_unless_asked(edge):
    _, server = edge
    response = chat(server, tools=TOOLS, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(p["choices"] for p in payloads) and all("usage" not in p for p in payloads)


def test_text_answers_without_tools_or_with_tool_choice_none(edge):
    _, server = edge
    with sdk(server) as client:
        plain = client.chat.completions.create(model="m", messages=MESSAGES)
        none = client.chat.completions.create(
            model="m", messages=MESSAGES, tools=TOOLS, tool_choice="none"
        )
    for out in (plain, none):
        assert out.choices[0].finish_reason == "stop"
        assert out.choices[0].message.content and not out.choices[0].message.tool_calls


@pytest.mark.parametrize(
    "schema",
    [
        WEATHER,
        SEARCH,
        {"type": "dict", "properties": {"x": {"type": "float"}, "t": {"type": "tuple",
         "items": {"type": "integer"}}}, "required": ["x", "t"]},
        {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
         "w": {"type": ["string", "null"], "maxLength": 3}, "c": {"const": 7},
         "n": {"type": "number", "minimum": 10, "maximum": 20},
         "d": {"type": "string", "format": "date"}}, "required": ["v", "w", "c", "n", "d"]},
        {"type": "object", "properties": {"items": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}},
         "required": ["items"]},
    ],
)
def test_sampled_arguments_validate_against_their_schema(schema):
    value = sample_value(schema)
    jsonschema.validate(value, _standard(schema))
    assert set(schema["required"]) <= set(value)


def _standard(schema):
    """BFCL's type aliases (dict, float, tuple) in standard JSON Schema, for the validator."""
    text = json.dumps(schema)
    for alias, name in (("dict", "object"), ("float", "number"), ("tuple", "array")):
        text = text.replace(f'"type": "{alias}"', f'"type": "{name}"')
    return json.loads(text)


def _call(response: httpx.Response):
    message = response.json()["choices"][0]["message"]
    return message["tool_calls"][0]["function"]


@pytest.mark.parametrize("mode", ["invalid_name", "invalid_json", "missing_required", "wrong_type"])
def test_broken_tool_call_modes(edge, mode):
    _, server = edge
    function = _call(chat(server, tools=TOOLS, x_fake={"edge": {"mode": mode}}))
    if mode == "invalid_name":
        assert function["name"] not in SCHEMAS
        return
    assert function["name"] == "get_weather"
    if mode == "invalid_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(function["arguments"])
        return
    with pytest.raises(jsonschema.ValidationError) as caught:
        jsonschema.validate(json.loads(function["arguments"]), WEATHER)
    assert caught.value.validator == ("required" if mode == "missing_required" else "type")


def test_offload_modes(edge):
    _, server = edge
    marker = chat(server, tools=TOOLS, x_fake={"edge": {"mode": "offload_marker"}}).json()
    assert OFFLOAD_MARKER in marker["choices"][0]["message"]["content"]
    offload_tool = {"type": "function", "function": {"name": "request_cloud_assistance",
                    "parameters": {"type": "object", "properties": {"reason": {"type": "string"}},
                                   "required": ["reason"]}}}
    response = chat(server, tools=[*TOOLS, offload_tool], x_fake={"edge": {"mode": "offload_tool"}})
    function = _call(response)
    assert function["name"] == "request_cloud_assistance"
    assert "reason" in json.loads(function["arguments"])


@pytest.mark.parametrize("fixture", ["edge", "cloud"])
def test_error_mode_is_an_openai_envelope_the_sdk_reads(fixture, request):
    _, server = request.getfixturevalue(fixture)
    name = fixture
    with sdk(server) as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="m", messages=MESSAGES,
            extra_body={"x_fake": {name: {"mode": "error", "status": 503, "message": "overloaded"}}},
        )
    assert caught.value.status_code == 503
    assert caught.value.body["message"] == "overloaded"


def test_429_carries_retry_after(cloud):
    _, server = cloud
    response = chat(server, x_fake={"cloud": {"mode": "error", "status": 429, "retry_after_s": 2}})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_drop_closes_the_connection_without_an_answer(edge):
    _, server = edge
    with pytest.raises(httpx.RemoteProtocolError):
        chat(server, x_fake={"edge": {"mode": "drop"}})
    assert chat(server).status_code == 200  # the server itself lives on


def test_fail_times_then_succeeds(edge):
    fake, server = edge
    fake.configure({"mode": "error", "status": 500, "fail_times": 2})
    statuses = [chat(server, tools=TOOLS).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]


def test_per_request_override_applies_only_to_its_own_name(edge):
    _, server = edge
    response = chat(server, tools=TOOLS, x_fake={"cloud": {"mode": "error", "status": 500}})
    assert response.status_code == 200
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_logprob_and_delay_parameters(edge):
    _, server = edge
    started = time.perf_counter()
    response = chat(server, tools=TOOLS, logprobs=True,
                    x_fake={"edge": {"logprob": -3.0, "delay_s": 0.2}})
    assert time.perf_counter() - started >= 0.2
    items = response.json()["choices"][0]["logprobs"]["content"]
    assert items and {item["logprob"] for item in items} == {-3.0}


def test_config_reset_and_recorded_requests(edge):
    _, server = edge
    config = httpx.post(server.url + "/_fake/config", json={"edge": {"mode": "text"}})
    assert config.json()["behaviour"]["mode"] == "text"
    response = httpx.post(
        server.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-edge"},
        json={"messages": MESSAGES, "tools": TOOLS, "custom_field": [1, 2]},
    )
    assert response.json()["choices"][0]["finish_reason"] == "stop"
    recorded = httpx.get(server.url + "/_fake/requests").json()["data"]
    assert recorded[-1]["headers"]["authorization"] == "Bearer sk-edge"
    assert recorded[-1]["body"]["custom_field"] == [1, 2]
    assert httpx.post(server.url + "/_fake/reset").status_code == 200
    assert httpx.get(server.url + "/_fake/requests").json()["data"] == []
    assert chat(server, tools=TOOLS).json()["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}], "tools": {}}', "tools"),
        (b'{"messages": [{"role": "user", "content": "x"}], "x_fake": {"edge": {"mode": "nope"}}}',
         "x_fake"),
        (b'{"messages": [{"role": "user", "content": "x"}], "x_fake": {"edge": {"delay_s": "1"}}}',
         "x_fake"),
    ],
)
def test_bad_input_gets_a_400_envelope(edge, body, param):
    _, server = edge
    response = httpx.post(server.url + "/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] and error["param"] == param and set(error) == {
        "message", "type", "param", "code"}


def test_models_health_and_metrics(edge):
    fake, server = edge
    with sdk(server) as client:
        models = client.models.list()
    assert [m.id for m in models.data] == ["qwen-edge"]
    health = httpx.get(server.url + "/health")
    assert health.status_code == 200 and health.content == b""
    chat(server, tools=TOOLS)

    def sample(name):
        text = httpx.get(server.url + "/metrics").text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name:
                    assert s.labels == {"model_name": "qwen-edge"}
                    return s.value
        raise AssertionError(f"{name} missing")

    before = sample("vllm:generation_tokens_total")
    assert before > 0 and sample("vllm:num_requests_running") == 0
    assert sample("vllm:num_requests_waiting") == 0 and sample("vllm:kv_cache_usage_perc") == 0
    chat(server, tools=TOOLS)
    assert sample("vllm:generation_tokens_total") > before
    assert sample("vllm:prompt_tokens_total") > 0 and sample("vllm:gpu_cache_usage_perc") == 0
