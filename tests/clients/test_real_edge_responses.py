"""The Responses API clients in front of the REAL llama-server (SmolLM2-135M-Instruct): the
official ``openai`` SDK (create, stream=True, the stream helper, function_call_output and
previous_response_id turns) and the Agents SDK, the cloud being the project's fake. Assertions are
about shapes and routing, never the model's text (decoding is greedy with the call prefill)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from gateway.config import Settings
from tests.conftest import TOOLS, GatewayServer

pytestmark = [pytest.mark.llamacpp, pytest.mark.integration, pytest.mark.slow]

FLAT_TOOLS = [{"type": "function", **t["function"]} for t in TOOLS]
NAMES = {t["name"] for t in FLAT_TOOLS}
ASK = "What is the weather in Oslo in celsius?"


@pytest.fixture
def gateway(real_edge: Any, make_settings: Callable[..., Settings]) -> Iterator[GatewayServer]:
    edge = {"base_url": real_edge.base_url, "model": "smollm2", "timeout_s": 60.0,
            "call_prefill": "<tool_call>\n"}
    with GatewayServer(make_settings(edge=edge)) as server:
        yield server


def sdk(server: GatewayServer) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_create_plain_and_streamed_agree(gateway):
    client = sdk(gateway)
    raw = client.responses.with_raw_response.create(model="edge", input=ASK, tools=FLAT_TOOLS)
    assert raw.headers["x-netgpt-route"] == "edge"
    whole = raw.parse()
    assert whole.status == "completed"
    [call] = [item for item in whole.output if item.type == "function_call"]
    assert call.name in NAMES and isinstance(json.loads(call.arguments), dict)
    assert whole.usage is not None and whole.usage.output_tokens > 0

    events = list(client.responses.create(model="edge", input=ASK, tools=FLAT_TOOLS, stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    streamed = events[-1].response.output[0]
    assert (streamed.name, json.loads(streamed.arguments)) == (call.name, json.loads(call.arguments))

    with client.responses.stream(model="edge", input=ASK, tools=FLAT_TOOLS) as stream:
        final = stream.get_final_response()
    assert final.output[0].arguments == call.arguments


def test_multi_turn_with_function_call_output_and_previous_response_id(gateway):
    client = sdk(gateway)
    first = client.responses.create(model="edge", input=ASK, tools=FLAT_TOOLS)
    call = first.output[0]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "12 degrees, cloudy"}
    by_items = client.responses.create(
        model="edge", tools=FLAT_TOOLS, tool_choice="none",
        input=[{"role": "user", "content": ASK}, call.model_dump(exclude_none=True), output])
    by_id = client.responses.create(model="edge", tools=FLAT_TOOLS, tool_choice="none",
                                    previous_response_id=first.id, input=[output])
    for answer in (by_items, by_id):
        assert answer.status in ("completed", "incomplete")
        assert answer.output and answer.output[0].type == "message" and answer.output_text
        assert answer.usage is not None and answer.usage.input_tokens > first.usage.input_tokens
    # the same conversation either way (llama.cpp's prompt cache makes the text itself vary)
    assert by_items.usage.input_tokens == by_id.usage.input_tokens


async def test_agents_sdk_runs_through_the_real_edge(gateway):
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    called: list[str] = []

    @agents.function_tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city."""
        called.append(city)
        return f"12 degrees {unit}"

    @agents.function_tool
    def book_table(restaurant: str, people: int) -> str:
        """Book a restaurant table."""
        called.append(restaurant)
        return "booked"

    client = AsyncOpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    agent = agents.Agent(name="assistant", tools=[get_weather, book_table],
                         model=agents.OpenAIResponsesModel(model="edge", openai_client=client),
                         # the call prefill makes the tiny model call a tool on every turn:
                         # the tool's result is the final output
                         tool_use_behavior="stop_on_first_tool")
    result = await agents.Runner.run(agent, ASK, max_turns=3)
    assert len(called) == 1, "the agent ran the tool the edge called"
    assert result.final_output in ("12 degrees celsius", "12 degrees fahrenheit", "booked") or \
        result.final_output.startswith("12 degrees")
