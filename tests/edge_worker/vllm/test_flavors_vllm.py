"""The vLLM call strategies of edge_worker/flavors.py (pure: no server).

The real vLLM's answers to these bodies are checked in test_real_vllm.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from edge_worker.flavors import (
    effective_strategy,
    recover_prefilled_call,
    shape_request,
    strict_tools,
)
from gateway.config import EdgeSettings
from tests.conftest import TOOLS

PREFILL = "<tool_call>\n"


def body(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "auto", "tools": TOOLS,
                           "messages": [{"role": "user", "content": "Weather in Oslo?"}]}
    out.update(extra)
    return out


def guided(b: dict[str, Any], flavor: Any = "vllm", prefill: str = "") -> dict[str, Any]:
    return shape_request(b, flavor=flavor, model="smollm2", top_logprobs=1, draft_max_tokens=64,
                         call_prefill=prefill, call_strategy="guided")


def test_guided_forces_one_greedy_call_with_strict_functions_and_leaves_the_client_body() -> None:
    original = body(tool_choice="auto", temperature=0.7, parallel_tool_calls=True)
    before = copy.deepcopy(original)
    out = guided(original)
    assert out["tool_choice"] == "required"
    assert out["parallel_tool_calls"] is False and out["temperature"] == 0.0
    assert [t["function"]["strict"] for t in out["tools"]] == [True, True]
    assert [t["function"]["parameters"] for t in out["tools"]] == \
        [t["function"]["parameters"] for t in TOOLS]
    # no prefill, no continuation, no stop: guided decoding ends the call itself
    assert out["messages"] == original["messages"]
    assert "continue_final_message" not in out and "stop" not in out
    assert original == before  # the cloud may get the client's own request next
    assert all("strict" not in t["function"] for t in TOOLS)


def test_guided_replaces_a_configured_prefill_on_vllm_only() -> None:
    out = guided(body(), prefill=PREFILL)
    assert out["messages"][-1]["role"] == "user" and "stop" not in out
    llama = guided(body(), flavor="llamacpp", prefill=PREFILL)  # llama.cpp keeps the prefill
    assert llama["messages"][-1] == {"role": "assistant", "content": PREFILL}
    assert "strict" not in llama["tools"][0]["function"]


def test_guided_keeps_a_named_choice_and_sends_none_unchanged() -> None:
    named = {"type": "function", "function": {"name": "book_table"}}
    out = guided(body(tool_choice=named))
    assert out["tool_choice"] == named and out["tools"][1]["function"]["strict"] is True
    untouched = guided(body(tool_choice="none"))
    assert untouched["tool_choice"] == "none" and untouched["tools"] == TOOLS
    assert "tools" not in guided({"messages": [{"role": "user", "content": "hi"}]})


def test_strict_tools_passes_other_tool_kinds_through() -> None:
    odd = [{"type": "custom", "custom": {"name": "x"}}, "junk"]
    assert strict_tools(odd) == odd
    assert strict_tools(None) is None


def completion(content: Any, tool_calls: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"id": "x", "object": "chat.completion", "usage": {"completion_tokens": 9},
            "choices": [{"index": 0, "message": message, "finish_reason": "stop",
                         "logprobs": {"content": [{"token": "{", "logprob": -0.1}]}}]}


@pytest.mark.parametrize("text", [
    '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}\n',
    '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}\n</tool_call>',
    '{"name": "get_weather", "parameters": {"city": "Oslo", "unit": "celsius"}}',
])
def test_a_prefilled_call_is_moved_out_of_content(text: str) -> None:
    response = completion(text)
    out = recover_prefilled_call(response, PREFILL)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("chatcmpl-tool-")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo", "unit": "celsius"}
    assert choice["logprobs"] == response["choices"][0]["logprobs"]  # the score still has them
    assert response["choices"][0]["message"]["content"] == text  # the input is not changed


@pytest.mark.parametrize("response", [
    completion("The weather in Oslo is sunny."),
    completion('{"name": "get_weather", "arguments": {"city": "Os'),  # cut off by the cap
    completion('["not", "a call"]'),
    completion(None, tool_calls=[{"id": "a", "type": "function",
                                  "function": {"name": "get_weather", "arguments": "{}"}}]),
    {"choices": []},
])
def test_anything_else_is_left_for_the_schema_guard(response: dict[str, Any]) -> None:
    assert recover_prefilled_call(response, PREFILL) == response


def test_no_prefill_no_recovery() -> None:
    response = completion('{"name": "get_weather", "arguments": {}}')
    assert recover_prefilled_call(response, "") == response


def test_auto_is_guided_on_vllm_when_calls_are_forced_and_the_prefill_elsewhere() -> None:
    assert effective_strategy("auto", "vllm", PREFILL) == "guided"
    assert effective_strategy("auto", "vllm", "") == "prefill"  # nothing forced: body unchanged
    assert effective_strategy("auto", "llamacpp", PREFILL) == "prefill"
    assert effective_strategy("prefill", "vllm", PREFILL) == "prefill"
    auto = shape_request(body(), flavor="vllm", model="m", top_logprobs=1, draft_max_tokens=9,
                         call_prefill=PREFILL, call_strategy="auto")
    assert auto["tool_choice"] == "required" and auto["tools"][0]["function"]["strict"] is True
    assert auto["messages"][-1]["role"] == "user"
    plain = shape_request(body(), flavor="vllm", model="m", top_logprobs=1, draft_max_tokens=9,
                          call_prefill="", call_strategy="auto")
    assert "tool_choice" not in plain and plain["tools"] == TOOLS


def test_the_strategy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EdgeSettings().call_strategy == "auto"
    monkeypatch.setenv("NETGPT_EDGE_CALL_STRATEGY", "guided")
    assert EdgeSettings().call_strategy == "guided"
    monkeypatch.setenv("NETGPT_EDGE_CALL_STRATEGY", "grammar")
    with pytest.raises(ValueError, match="call_strategy"):
        EdgeSettings()
