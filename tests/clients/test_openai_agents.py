"""The OpenAI Agents SDK (``openai-agents``) through the gateway under real uvicorn: an Agent with
two ``@function_tool``s runs its tool loop to a final answer, with the Responses model and with
the chat-completions model. The fake edge calls a tool once, then answers in text."""

from __future__ import annotations

import pytest

agents = pytest.importorskip("agents", reason="openai-agents is in the dev extra: pip install -e '.[dev]'")

from agents import (  # noqa: E402
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI  # noqa: E402

pytestmark = pytest.mark.integration
set_tracing_disabled(True)  # nothing leaves the machine
FINAL = "It is 12 C in Oslo; your table at Noma is booked."


def build_agent(server, kind: str, called: list[tuple[str, dict]]) -> Agent:
    @function_tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city."""
        called.append(("get_weather", {"city": city, "unit": unit}))
        return f"12 degrees {unit} in {city}"

    @function_tool
    def book_table(restaurant: str, people: int) -> str:
        """Book a restaurant table."""
        called.append(("book_table", {"restaurant": restaurant, "people": people}))
        return "booked"

    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    model = (OpenAIResponsesModel(model="auto", openai_client=client) if kind == "responses"
             else OpenAIChatCompletionsModel(model="auto", openai_client=client))
    # the fake edge: a tool call for the first request, then the final text
    steer = {"edge": {"mode": "tool_call", "fail_times": 1, "then": "text", "text": FINAL}}
    return Agent(name="assistant", instructions="Use the tools, then answer.",
                 tools=[get_weather, book_table], model=model,
                 model_settings=ModelSettings(extra_body={"x_fake": steer}))


@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_agent_tool_loop_to_a_final_answer(gateway_server, edge_fake, kind):
    called: list[tuple[str, dict]] = []
    agent = build_agent(gateway_server, kind, called)
    result = await Runner.run(agent, "What's the weather in Oslo, and book Noma for 4?", max_turns=4)
    assert result.final_output == FINAL
    assert [name for name, _ in called] == ["get_weather"]
    assert isinstance(called[0][1]["city"], str) and isinstance(called[0][1]["unit"], str)
    paths = [r["path"] for r in edge_fake.requests]
    assert len(paths) == 2, "one tool turn, one answer turn"
    second = edge_fake.requests[-1]["body"]["messages"]
    assert second[-1]["role"] == "tool" and "12 degrees" in second[-1]["content"]
    # both tools reach the edge (besides the gateway's own offload tool)
    assert {t["function"]["name"] for t in edge_fake.requests[0]["body"]["tools"]} >= {"get_weather", "book_table"}


@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_agent_streamed_run(gateway_server, edge_fake, kind):
    called: list[tuple[str, dict]] = []
    agent = build_agent(gateway_server, kind, called)
    result = Runner.run_streamed(agent, "What's the weather in Oslo?", max_turns=4)
    kinds = [event.type async for event in result.stream_events()]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert result.final_output == FINAL
    assert [name for name, _ in called] == ["get_weather"]
