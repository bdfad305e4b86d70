"""The request each edge flavour gets (edge_worker/flavors.py): pure, no server."""

from __future__ import annotations

from typing import Any

import pytest

from edge_worker.flavors import detect_flavor, shape_request, stop_sequences, wants_prefill
from gateway.config import EdgeSettings
from tests.conftest import TOOLS

PREFILL = "<tool_call>\n"


def body(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    out.update(extra)
    return out


def shape(b: dict[str, Any], flavor: Any = "llamacpp", prefill: str = PREFILL, **kw: Any) -> dict[str, Any]:
    return shape_request(b, flavor=flavor, model="smollm2", top_logprobs=1,
                         draft_max_tokens=kw.pop("cap", 256), call_prefill=prefill, **kw)


@pytest.mark.parametrize("flavor", ["vllm", "llamacpp", "openai"])
def test_every_flavour_asks_for_one_bounded_non_streamed_answer_with_logprobs(flavor: Any) -> None:
    out = shape(body(max_tokens=4000, n=1), flavor=flavor, prefill="")
    assert out["stream"] is False and "stream_options" not in out
    assert out["logprobs"] is True and out["top_logprobs"] == 1
    assert out["max_tokens"] == 256  # the cap wins over the client's larger max_tokens
    assert out["model"] == "smollm2" and "n" not in out
    assert "stop" not in out  # no prefill, no configured stop: none


def test_the_clients_smaller_limit_wins_and_max_completion_tokens_is_folded_in() -> None:
    assert shape(body(max_tokens=40), prefill="")["max_tokens"] == 40
    out = shape(body(max_completion_tokens=30, max_tokens=100), prefill="")
    assert out["max_tokens"] == 30 and "max_completion_tokens" not in out


def test_prefill_opens_the_call_and_forces_one_greedy_call() -> None:
    original = body(tool_choice="auto", parallel_tool_calls=True, temperature=0.9)
    out = shape(original)
    assert out["messages"][-1] == {"role": "assistant", "content": PREFILL}
    assert out["tool_choice"] == "required"
    assert out["parallel_tool_calls"] is False
    assert out["temperature"] == 0.0
    assert out["stop"] == ["</tool_call>"]
    # the caller's body is untouched (the cloud may get it next)
    assert original["messages"][-1]["role"] == "user" and original["tool_choice"] == "auto"


def test_prefill_keeps_a_named_tool_choice_and_merges_the_clients_stop() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    out = shape(body(tool_choice=named, stop="END"), flavor="openai")
    assert out["tool_choice"] == named
    assert out["stop"] == ["END", "</tool_call>"]


def test_llamacpp_gets_a_named_choice_as_required_with_only_that_tool() -> None:
    # llama-server answers a prefilled call under a named tool_choice with a 500 ("output that
    # does not match the expected format"); "required" over the named tool alone works
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    named = {"type": "function", "function": {"name": "get_weather"}}
    client = body(tool_choice=named, tools=[other, *TOOLS])
    out = shape(client)
    assert out["tool_choice"] == "required"
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"]
    assert client["tool_choice"] == named and len(client["tools"]) == 1 + len(TOOLS)  # untouched
    unknown = shape(body(tool_choice={"type": "function", "function": {"name": "nope"}}))
    assert unknown["tools"] == TOOLS  # names nothing offered: the schema guard judges the call


def test_vllm_is_told_to_continue_the_prefilled_turn() -> None:
    out = shape(body(), flavor="vllm")
    assert out["continue_final_message"] is True and out["add_generation_prompt"] is False
    assert "continue_final_message" not in shape(body(), flavor="llamacpp")


@pytest.mark.parametrize(
    "extra",
    [{"tools": None}, {"tool_choice": "none"},
     {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "It"}]}],
)
def test_no_prefill_without_tools_with_tool_choice_none_or_an_assistant_turn_already(extra: Any) -> None:
    b = body(**extra)
    assert not wants_prefill(b, PREFILL)
    out = shape(b)
    assert out["messages"] == b["messages"]
    assert out.get("tool_choice") == b.get("tool_choice")


def test_configured_stop_sequences_replace_the_default() -> None:
    assert stop_sequences(PREFILL, None) == ["</tool_call>"]
    assert stop_sequences(PREFILL, []) == []
    assert stop_sequences("", ["\n\n"]) == ["\n\n"]


def test_flavour_detection_from_the_models_listing() -> None:
    llama = {"object": "list", "models": [{"name": "smollm2"}],
             "data": [{"id": "smollm2", "object": "model", "owned_by": "llamacpp"}]}
    vllm = {"object": "list", "data": [{"id": "edge", "object": "model", "owned_by": "vllm"}]}
    other = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "openai"}]}
    assert detect_flavor(llama) == "llamacpp"
    assert detect_flavor(vllm) == "vllm"
    assert detect_flavor(other) == "openai"
    assert detect_flavor("not json") == "openai"


def test_settings_read_the_recipe_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETGPT_EDGE_FLAVOR", "llama.cpp")
    monkeypatch.setenv("NETGPT_EDGE_CALL_PREFILL", "<tool_call>\\n")
    monkeypatch.setenv("NETGPT_EDGE_DRAFT_STOP", "</tool_call>,\\n\\n")
    edge = EdgeSettings()
    assert edge.flavor == "llamacpp"
    assert edge.call_prefill == "<tool_call>\n"
    assert edge.draft_stop == ["</tool_call>", "\n\n"]
    monkeypatch.setenv("NETGPT_EDGE_DRAFT_STOP", "")
    assert EdgeSettings().draft_stop == []
    monkeypatch.setenv("NETGPT_EDGE_FLAVOR", "tgi")
    with pytest.raises(ValueError, match="flavor"):
        EdgeSettings()
