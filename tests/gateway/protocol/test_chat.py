import pytest

from gateway.errors import RequestError, UnsupportedParameter
from gateway.protocol.chat import parse_request

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def test_every_role_and_unknown_fields_are_accepted():
    raw = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 64,
        "stream_options": {"include_usage": True},
        "response_format": {"type": "json_object"},
        "vendor_knob": {"keep": True},
    }
    request = parse_request(raw)
    assert request.named_tool == "get_weather"
    assert request.model_extra == {"vendor_knob": {"keep": True}}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools[0].function"),
        ({"messages": [{"role": "assistant"}]}, "messages[0]"),
    ],
)
def test_bad_requests_name_the_field(raw, param):
    with pytest.raises(RequestError) as info:
        parse_request(raw)
    assert info.value.status == 400
    assert info.value.param == param


def test_n_other_than_one_is_refused_clearly():
    with pytest.raises(UnsupportedParameter) as info:
        parse_request({"messages": [{"role": "user", "content": "x"}], "n": 3})
    assert info.value.param == "n" and "n=1" in info.value.message


def test_tool_choice_must_name_an_offered_tool():
    with pytest.raises(RequestError) as info:
        parse_request({
            "messages": [{"role": "user", "content": "x"}],
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "absent"}},
        })
    assert info.value.param == "tool_choice"


def test_body_must_be_an_object():
    with pytest.raises(RequestError):
        parse_request([1, 2])
