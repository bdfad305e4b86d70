import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.routing import schema_guard as sg

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
SCHEMAS = sg.tool_schemas([{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}])


def call(name, arguments):
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": args}}


@pytest.mark.parametrize(
    ("calls", "kind"),
    [
        ([call("get_time", {"city": "Oslo"})], sg.WRONG_FUNCTION),
        ([call("get_weather", '{"city": "Oslo"')], sg.BAD_JSON),
        ([call("get_weather", "[1]")], sg.BAD_JSON),
        ([call("get_weather", {})], sg.MISSING_REQUIRED),
        ([call("get_weather", {"city": 7})], sg.WRONG_TYPE),
        ([call("get_weather", {"city": "Oslo", "days": 0})], sg.SCHEMA_OTHER),
    ],
)
def test_invalid_calls_are_caught_with_their_kind(calls, kind):
    check = sg.check_tool_calls(calls, SCHEMAS, sg.ValidatorCache())
    assert not check.valid and check.error == kind


def test_valid_call_passes_and_returns_parsed_arguments():
    check = sg.check_tool_calls([call("get_weather", {"city": "Oslo", "days": 2})], SCHEMAS, sg.ValidatorCache())
    assert check.valid and check.arguments == ({"city": "Oslo", "days": 2},)


def test_tool_choice_is_honoured():
    cache = sg.ValidatorCache()
    good = [call("get_weather", {"city": "Oslo"})]
    assert not sg.check_tool_calls([], SCHEMAS, cache, tool_choice="required").valid
    assert not sg.check_tool_calls(good, SCHEMAS, cache, tool_choice="none").valid
    named = {"type": "function", "function": {"name": "other"}}
    schemas = dict(SCHEMAS, other={"type": "object"})
    assert not sg.check_tool_calls(good, schemas, cache, tool_choice=named).valid
    assert not sg.check_tool_calls(good * 2, SCHEMAS, cache, parallel_tool_calls=False).valid
    assert sg.check_tool_calls(good, SCHEMAS, cache, tool_choice="required").valid


def test_validators_are_compiled_once_per_schema():
    cache = sg.ValidatorCache()
    for _ in range(5):
        sg.check_tool_calls([call("get_weather", {"city": "x"})], SCHEMAS, cache)
    assert len(cache) == 1


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(), st.none()), max_size=4))
def test_guard_never_raises_and_agrees_with_required(arguments):
    check = sg.check_tool_calls([call("get_weather", arguments)], SCHEMAS, sg.ValidatorCache())
    if "city" not in arguments:
        assert not check.valid
    if check.valid:
        assert isinstance(arguments["city"], str)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "object", "properties": {"city": {"type": "string", "pattern": "("}}},
        {"type": 5},
        {"type": "object", "properties": {"city": {"$ref": "#/definitions/missing"}}},
    ],
)
def test_unusable_client_schema_is_an_invalid_draft_not_a_crash(bad):
    cache = sg.ValidatorCache()
    for _ in range(2):  # the second time comes from the cache
        check = sg.check_tool_calls([call("f", {"city": "x"})], {"f": bad}, cache)
        assert not check.valid and check.error == sg.INVALID_SCHEMA


def test_remote_refs_are_never_fetched():
    import socket

    with socket.socket() as server:  # a listener that records whether anyone connects
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        for ref in (f"http://127.0.0.1:{port}/s.json", "file:///etc/passwd", "other.json#/x"):
            schema = {"type": "object", "properties": {"city": {"$ref": ref}}}
            check = sg.check_tool_calls([call("f", {"city": "x"})], {"f": schema}, sg.ValidatorCache())
            assert not check.valid and check.error == sg.INVALID_SCHEMA
        with pytest.raises(TimeoutError):
            server.accept()
