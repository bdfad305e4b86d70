"""The Responses request -> chat completions translation (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import RequestError, UnsupportedParameter
from gateway.protocol.chat import parse_request
from gateway.protocol.responses import input_items, parse_responses_request, to_chat

TOOL = {"type": "function", "name": "get_weather", "description": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def chat_of(raw: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    request = parse_responses_request(raw)
    chat = to_chat(request, (history or []) + input_items(request), raw)
    parse_request(chat)  # what the service gets must be a valid chat request
    return chat


def test_string_input_and_instructions():
    chat = chat_of({"model": "edge", "input": "hi", "instructions": "Be brief."})
    assert chat == {"model": "edge", "messages": [{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "hi"}]}


def test_flat_tools_become_nested_and_options_map():
    chat = chat_of({"input": "hi", "tools": [TOOL], "tool_choice": {"type": "function", "name": "get_weather"},
                    "parallel_tool_calls": False, "max_output_tokens": 50, "temperature": 0.2,
                    "top_p": 0.9, "user": "u1", "metadata": {"a": "b"}, "store": False, "include": []})
    assert chat["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "weather", "parameters": TOOL["parameters"]}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (chat["parallel_tool_calls"], chat["max_tokens"], chat["temperature"], chat["top_p"],
            chat["user"]) == (False, 50, 0.2, 0.9, "u1")
    for consumed in ("metadata", "store", "include", "input", "max_output_tokens"):
        assert consumed not in chat


def test_stream_asks_for_usage_and_unknown_fields_travel_on():
    chat = chat_of({"input": "hi", "stream": True, "x_fake": {"edge": {"mode": "text"}}, "top_k": 5})
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["x_fake"] == {"edge": {"mode": "text"}} and chat["top_k"] == 5


def test_function_calls_and_outputs_become_tool_calls_and_tool_messages():
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "weather in "},
                                     {"type": "input_text", "text": "Oslo and Rome"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "get_weather",
         "arguments": '{"city":"Oslo"}', "status": "completed"},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "12 C"},
        {"type": "function_call_output", "call_id": "c2",
         "output": [{"type": "input_text", "text": "20 C"}]},
    ]
    messages = chat_of({"input": items, "tools": [TOOL]})["messages"]
    assert messages[0] == {"role": "user", "content": "weather in Oslo and Rome"}
    assert messages[1]["role"] == "assistant" and messages[1]["content"] == "Checking."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert messages[1]["tool_calls"][1]["function"] == {"name": "get_weather", "arguments": '{"city":"Rome"}'}
    assert messages[2:] == [{"role": "tool", "tool_call_id": "c1", "content": "12 C"},
                            {"role": "tool", "tool_call_id": "c2", "content": "20 C"}]


def test_a_call_without_text_before_it_is_its_own_assistant_message():
    items = [{"role": "user", "content": "x"},
             {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"}]
    messages = chat_of({"input": items, "tools": [TOOL]})["messages"]
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}


def test_images_become_image_url_parts_and_developer_stays():
    items = [{"role": "developer", "content": "rules"},
             {"role": "user", "content": [{"type": "input_text", "text": "what is it?"},
                                          {"type": "input_image", "image_url": "data:image/png;base64,AA",
                                           "detail": "low"}]}]
    messages = chat_of({"input": items})["messages"]
    assert messages[0] == {"role": "developer", "content": "rules"}
    assert messages[1]["content"] == [{"type": "text", "text": "what is it?"},
                                      {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA",
                                                                          "detail": "low"}}]


def test_history_comes_first():
    history = [{"type": "message", "role": "user", "content": "first"},
               {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"}]
    messages = chat_of({"input": [{"type": "function_call_output", "call_id": "c1", "output": "ok"}],
                        "tools": [TOOL], "instructions": "sys"}, history)["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        ({"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True},
         {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True}}),
    ],
)
def test_text_format_becomes_response_format(fmt, expected):
    chat = chat_of({"input": "hi", "text": {"format": fmt}})
    assert chat.get("response_format") == expected


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"input": "x", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"input": "x", "tools": [{"type": "computer_use_preview"}]}, "tools[0].type"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "prompt": {"id": "p"}}, "prompt"),
        ({"input": [{"type": "web_search_call", "id": "ws"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "input[0].content[0].type"),
    ],
)
def test_unsupported(raw, param):
    with pytest.raises(UnsupportedParameter) as caught:
        parse_responses_request(raw)
    assert caught.value.param == param and caught.value.status == 400


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"input": 5}, "input"),
        ({"input": "x", "background": 0}, "background"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "max_output_tokens": "5"}, "max_output_tokens"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        ({"input": "x", "tools": [{"type": "function", "name": ""}]}, "tools[0].name"),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": "x", "reasoning": None, "conversation": None, "truncation": "middle"}, "truncation"),
    ],
)
def test_invalid(raw, param):
    with pytest.raises(RequestError) as caught:
        parse_responses_request(raw)
    assert caught.value.param == param
