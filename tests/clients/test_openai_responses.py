"""The official ``openai`` SDK's Responses API against the gateway under real uvicorn (fake
upstreams on loopback), used as its users use it."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import TOOLS

pytestmark = pytest.mark.integration

FLAT_TOOLS = [{"type": "function", **t["function"]} for t in TOOLS]
ASK = "What is the weather in Oslo?"
CLOUD = {"x_fake": {"edge": {"logprob": -4.0}}}  # a draft scored below tau: the cloud answers


def client_for(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("route", ["edge", "cloud"])
def test_create_plain(gateway_server, route):
    client = client_for(gateway_server)
    raw = client.responses.with_raw_response.create(
        model="auto", input=ASK, tools=FLAT_TOOLS, extra_body=CLOUD if route == "cloud" else None)
    assert raw.headers["x-netgpt-route"] == route
    response = raw.parse()
    assert response.status == "completed"
    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather"
    assert {"city", "unit"} <= json.loads(call.arguments).keys()
    assert response.usage is not None and response.usage.total_tokens > 0


@pytest.mark.parametrize("route", ["edge", "cloud"])
def test_create_stream_true(gateway_server, route):
    client = client_for(gateway_server)
    stream = client.responses.create(model="auto", input=ASK, tools=FLAT_TOOLS, stream=True,
                                     extra_body=CLOUD if route == "cloud" else None)
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    final = events[-1].response
    assert final.output[0].type == "function_call" and final.output[0].arguments == args
    assert json.loads(args)


def test_stream_helper_text(gateway_server, edge_fake):
    client = client_for(gateway_server)
    deltas = []
    with client.responses.stream(model="auto", input="Say hello",
                                 extra_body={"x_fake": {"edge": {"mode": "text", "text": "Hello there!"}}}) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello there!"


def test_stream_helper_function_call(gateway_server):
    client = client_for(gateway_server)
    with client.responses.stream(model="auto", input=ASK, tools=FLAT_TOOLS, extra_body=CLOUD) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    assert done and final.output[0].arguments == done[0].arguments


def test_multi_turn_with_function_call_output(gateway_server, edge_fake):
    client = client_for(gateway_server)
    first = client.responses.create(model="auto", input=ASK, tools=FLAT_TOOLS, store=False)
    call = first.output[0]
    items = [{"role": "user", "content": ASK}, call.model_dump(exclude_none=True),
             {"type": "function_call_output", "call_id": call.call_id, "output": "12 C, cloudy"}]
    second = client.responses.create(model="auto", input=items, tools=FLAT_TOOLS, extra_body={
        "x_fake": {"edge": {"mode": "text", "text": "It is 12 C and cloudy in Oslo."}}})
    assert second.output_text == "It is 12 C and cloudy in Oslo."
    sent = edge_fake.requests[-1]["body"]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "12 C, cloudy"}
    assert sent[-2]["tool_calls"][0]["function"]["arguments"] == call.arguments


def test_multi_turn_with_previous_response_id(gateway_server, edge_fake):
    client = client_for(gateway_server)
    first = client.responses.create(model="auto", input=ASK, tools=FLAT_TOOLS)
    call = first.output[0]
    second = client.responses.create(
        model="auto", previous_response_id=first.id, tools=FLAT_TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "12 C"}],
        extra_body={"x_fake": {"edge": {"mode": "text", "text": "12 C in Oslo."}}})
    assert second.previous_response_id == first.id and second.output_text == "12 C in Oslo."
    sent = edge_fake.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert client.responses.retrieve(first.id).id == first.id
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_unsupported_tool_is_a_bad_request(gateway_server):
    client = client_for(gateway_server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="auto", input=ASK, tools=[{"type": "web_search"}])
    assert caught.value.param == "tools[0].type"


def test_a_cloud_stream_broken_mid_answer_fails_never_completes(make_settings, edge_server, cloud_server):
    from tests.conftest import GatewayServer
    from tests.faults.proxy import FaultProxy

    host, port = cloud_server[1].url.split("://", 1)[1].rsplit(":", 1)
    with FaultProxy((host, int(port))) as proxy:
        with GatewayServer(make_settings(cloud={"base_url": proxy.url + "/v1"})) as server:
            proxy.set(reset_after_bytes=900)  # the head and a few chunks pass, then RST
            client = client_for(server)
            extra = {"x_fake": {"cloud": {"chunk_delay_s": 0.01}}}
            kinds = [e.type for e in client.responses.create(
                model="cloud", input=ASK, tools=FLAT_TOOLS, stream=True, extra_body=extra)]
            assert kinds[0] == "response.created" and kinds[-2:] == ["error", "response.failed"]
            assert "response.completed" not in kinds
            with client.responses.stream(model="cloud", input=ASK, tools=FLAT_TOOLS, extra_body=extra) as stream:
                failed = [e for e in stream if e.type == "response.failed"]
                with pytest.raises(RuntimeError, match="response.completed"):
                    stream.get_final_response()
            assert failed[0].response.error.code == "upstream_unreachable"
