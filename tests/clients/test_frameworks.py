"""pydantic-ai and LangChain run tool-calling agents through the gateway's Responses API (under
uvicorn, fake upstreams on loopback). The fake edge calls a tool once, then answers in text."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration
FINAL = "It is 12 C in Oslo."
STEER = {"x_fake": {"edge": {"mode": "tool_call", "fail_times": 1, "then": "text", "text": FINAL}}}
ASK = "What's the weather in Oslo?"


async def test_pydantic_ai_agent_with_the_responses_model(gateway_server, edge_fake):
    pytest.importorskip("pydantic_ai", reason="pydantic-ai-slim[openai] is in the dev extra")
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=gateway_server.url + "/v1", api_key="unused")
    agent = Agent(OpenAIResponsesModel("auto", provider=provider), instructions="Use the tools.",
                  model_settings={"extra_body": STEER})
    called: list[dict] = []

    @agent.tool_plain
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city."""
        called.append({"city": city, "unit": unit})
        return "12 C"

    @agent.tool_plain
    def book_table(restaurant: str, people: int) -> str:
        """Book a restaurant table."""
        called.append({"restaurant": restaurant})
        return "booked"

    result = await agent.run(ASK)
    assert result.output == FINAL
    assert len(called) == 1 and set(called[0]) == {"city", "unit"}
    second = edge_fake.requests[-1]["body"]
    assert second["messages"][0] == {"role": "system", "content": "Use the tools."}
    assert second["messages"][-1]["role"] == "tool" and second["messages"][-1]["content"] == "12 C"
    assert {t["function"]["name"] for t in second["tools"]} >= {"get_weather", "book_table"}


def test_langchain_chat_openai_with_the_responses_api(gateway_server, edge_fake):
    pytest.importorskip("langchain_openai", reason="langchain-openai is in the dev extra")
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city."""
        return "12 C"

    @tool
    def book_table(restaurant: str, people: int) -> str:
        """Book a restaurant table."""
        return "booked"

    tools = {t.name: t for t in (get_weather, book_table)}
    llm = ChatOpenAI(model="auto", base_url=gateway_server.url + "/v1", api_key="unused",
                     use_responses_api=True, max_retries=0, extra_body=STEER).bind_tools(list(tools.values()))
    messages: list = [HumanMessage(ASK)]
    for _ in range(4):  # the agent loop: call the model, run the tools it asks for, until it answers
        reply = llm.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(ToolMessage(tools[call["name"]].invoke(call["args"]), tool_call_id=call["id"]))
    assert reply.text == FINAL
    assert isinstance(messages[-2], ToolMessage) and messages[-2].content == "12 C"
    sent = edge_fake.requests[-1]["body"]["messages"]
    assert sent[-1]["role"] == "tool" and sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(sent[-2]["tool_calls"][0]["function"]["arguments"]).keys() >= {"city", "unit"}
