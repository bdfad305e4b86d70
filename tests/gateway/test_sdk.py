"""The official ``openai`` SDK against the gateway under real uvicorn, upstreams on loopback."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import TOOLS

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Book a table at Noma for 4, and what's the weather in Oslo?"}]


def joined_stream_calls(stream):
    calls: dict[int, dict] = {}
    finish = None
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for d in choice.delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
                if d.id:
                    assert entry["id"] is None, "the id comes once"
                    entry["id"] = d.id
                if d.function and d.function.name:
                    entry["name"] = d.function.name
                if d.function and d.function.arguments:
                    entry["arguments"] += d.function.arguments
    return [calls[i] for i in sorted(calls)], finish, usage


@pytest.mark.parametrize("route", ["edge", "cloud"])
def test_sync_sdk_non_streamed_and_streamed_agree(gateway_server, route):
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key="unused", max_retries=0)
    extra = {} if route == "edge" else {"x_fake": {"edge": {"logprob": -4.0}}}
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=MESSAGES, tools=TOOLS, extra_body=extra
    )
    assert raw.headers["x-netgpt-route"] == route
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    ids = [c.id for c in choice.message.tool_calls]
    assert len(ids) == len(set(ids)) >= 1
    whole = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]

    with client.chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, tools=TOOLS, stream=True,
        stream_options={"include_usage": True}, extra_body=extra,
    ) as response:
        assert response.headers["x-netgpt-route"] == route
        assert response.headers["content-type"].startswith("text/event-stream")
        calls, finish, usage = joined_stream_calls(response.parse())
    assert finish == "tool_calls"
    assert usage is not None and usage.total_tokens > 0
    assert len({c["id"] for c in calls}) == len(calls)
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == whole


async def test_async_sdk_streamed_and_not(gateway_server):
    client = openai.AsyncOpenAI(base_url=gateway_server.url + "/v1", api_key="unused", max_retries=0)
    completion = await client.chat.completions.create(model="auto", messages=MESSAGES, tools=TOOLS)
    assert completion.choices[0].finish_reason == "tool_calls"
    args = json.loads(completion.choices[0].message.tool_calls[0].function.arguments)
    stream = await client.chat.completions.create(
        model="auto", messages=MESSAGES, tools=TOOLS, stream=True
    )
    pieces = []
    async for chunk in stream:
        assert chunk.usage is None
        for choice in chunk.choices:
            for d in choice.delta.tool_calls or []:
                pieces.append(d.function.arguments or "")
    assert json.loads("".join(pieces)) == args
    await client.close()


def test_sdk_sees_errors_as_api_errors(gateway_server):
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=MESSAGES, tools=TOOLS, n=3)
    assert info.value.body["param"] == "n"


def test_tool_result_turns_round_trip(gateway_server):
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key="unused", max_retries=0)
    first = client.chat.completions.create(model="auto", messages=MESSAGES, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    follow = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "done"},
    ]
    second = client.chat.completions.create(model="auto", messages=follow, tools=TOOLS, tool_choice="required")
    assert second.choices[0].message.tool_calls
