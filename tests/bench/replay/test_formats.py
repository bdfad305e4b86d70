"""Each recorded output format, decoded from lines written for the test (no recorded data)."""

from __future__ import annotations

import json

import pytest

from bench.common.replay import decode, format_for
from bench.common.replay.pycall import CallSyntaxError, parse_calls


def _calls(decoded):
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in decoded.tool_calls
    ]


# ---- openai_fc --------------------------------------------------------------------------------


def test_fc_calls_keep_the_api_arguments_string():
    d = decode("openai_fc", [{"geo_distance": '{"from":"Paris","km":true}'}, {"f": "{}"}])
    assert d.parsed and d.content is None
    assert d.tool_calls[0]["function"] == {
        "name": "geo_distance",
        "arguments": '{"from":"Paris","km":true}',
    }
    assert d.tool_calls[1]["id"] != d.tool_calls[0]["id"]
    assert d.message()["tool_calls"][1]["function"]["name"] == "f"


def test_fc_text_answer_is_content_without_calls():
    d = decode("openai_fc", "I cannot help with that.")
    assert d.parsed and d.tool_calls == () and d.content == "I cannot help with that."
    assert "tool_calls" not in d.message()


def test_fc_invalid_arguments_json_reaches_the_client_unchanged():
    d = decode("openai_fc", [{"f": '{"a": 1'}])
    assert d.tool_calls[0]["function"]["arguments"] == '{"a": 1'


def test_fc_malformed_entry_is_a_failed_parse():
    d = decode("openai_fc", [{"f": "{}", "g": "{}"}])
    assert not d.parsed and d.tool_calls == () and d.error


# ---- xlam_json ---------------------------------------------------------------------------------


def test_xlam_tool_calls_object_with_dotted_names():
    raw = '\n{"tool_calls": [{"name": "math.gcd", "arguments": {"a": 12, "b": 18}}, 7]}'
    d = decode("xlam_json", raw)
    assert _calls(d) == [("math_gcd", {"a": 12, "b": 18})]  # the non-object entry is skipped
    assert (
        decode("xlam_json", raw, openai_names=False).tool_calls[0]["function"]["name"] == "math.gcd"
    )


def test_xlam_bare_list_and_empty_list():
    assert _calls(decode("xlam_json", '[{"name": "f", "arguments": {}}]')) == [("f", {})]
    empty = decode("xlam_json", "\n[]")
    assert empty.parsed and empty.tool_calls == () and empty.content == "\n[]"


@pytest.mark.parametrize("raw", ['"No function fits."', "not json at all", '{"tool_calls": 3}'])
def test_xlam_other_text_is_a_failed_parse(raw):
    d = decode("xlam_json", raw)
    assert not d.parsed and d.tool_calls == () and d.content == raw


# ---- hermes -----------------------------------------------------------------------------------


def test_hermes_blocks_one_json_line_each():
    raw = (
        '<tool_call>\n{"arguments": {"city": "Zürich"}, "name": "weather_get"}\n</tool_call>\n'
        '<tool_call>\n{"arguments": {"n": 2}, "name": "roll"}\n</tool_call>\n'
    )
    assert _calls(decode("hermes", raw)) == [
        ("weather_get", {"city": "Zürich"}),
        ("roll", {"n": 2}),
    ]


def test_hermes_single_quotes_become_double_quotes_as_bfcl_did():
    raw = "<tool_call>\n{'arguments': {'x': 1}, 'name': 'f'}\n</tool_call>"
    assert _calls(decode("hermes", raw)) == [("f", {"x": 1})]
    broken = '<tool_call>\n{"arguments": {"q": "Assassin\'s Creed"}, "name": "f"}\n</tool_call>'
    assert not decode("hermes", broken).parsed  # the apostrophe breaks the JSON, as in BFCL


def test_hermes_text_without_block_is_no_call_and_broken_block_fails():
    text = decode("hermes", "The function does not fit this question.")
    assert text.parsed and text.tool_calls == ()
    bad = decode("hermes", '<tool_call>\n{"name": "f"}\n</tool_call>')  # no arguments
    assert not bad.parsed and bad.content.startswith("<tool_call>")


# ---- python_calls -----------------------------------------------------------------------------


def test_python_calls_list_with_literals_and_nesting():
    raw = "\n\n[geo.dist(a='x', b=-2.5, c=[1, (2, 3)], d={'k': None, 1: True}), f(n=2*3, e=...)]"
    assert _calls(decode("python_calls", raw)) == [
        ("geo_dist", {"a": "x", "b": -2.5, "c": [1, [2, 3]], "d": {"k": None, "1": True}}),
        ("f", {"n": 6, "e": "..."}),
    ]


def test_python_calls_without_brackets_and_names_as_text():
    d = decode("python_calls", "f(x=y, g=h(1), k=lambda v: v)")
    assert _calls(d) == [("f", {"x": "y", "g": "h(1)", "k": "lambda v: v"})]


@pytest.mark.parametrize(
    "raw",
    ["[None]", "['f(a=1)']", "[f(1, 2)]", "<|start|>[f(a=1)]", "[f(a=1) + 1]"],
)
def test_python_calls_that_do_not_decode(raw):
    d = decode("python_calls", raw)
    assert not d.parsed and d.tool_calls == () and d.content == raw


def test_python_calls_empty_list_is_a_parsed_answer_without_calls():
    d = decode("python_calls", "\n\n[]")
    assert d.parsed and d.tool_calls == ()


def test_pycall_never_evaluates_and_bounds_arithmetic():
    with pytest.raises(CallSyntaxError):
        parse_calls("[f(a=10**100000)]")
    with pytest.raises(CallSyntaxError):
        parse_calls("[f(a='x'*10**9)]")
    assert parse_calls("[f(a=__import__('os'))]") == [("f", {"a": "__import__('os')"})]
    assert parse_calls("[f(a=7//2, b='ab'+'c')]") == [("f", {"a": 3, "b": "abc"})]


# ---- glm --------------------------------------------------------------------------------------


def test_glm_name_then_arguments():
    assert _calls(decode("glm", 'math_gcd\n{"a": 4, "b": 6}')) == [("math_gcd", {"a": 4, "b": 6})]


def test_glm_one_line_is_text_and_bad_json_fails():
    assert decode("glm", "I am unable to do that.").tool_calls == ()
    bad = decode("glm", "\nTo find the roots we use the function")
    assert not bad.parsed and bad.tool_calls == ()


# ---- dispatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fmt"),
    [
        ("gpt-4o-2024-08-06-FC", "openai_fc"),
        ("mistral-large-2407-FC-Any", "openai_fc"),
        ("Salesforce_xLAM-7b-fc-r", "xlam_json"),
        ("NousResearch_Hermes-2-Pro-Llama-3-8B", "hermes"),
        ("meta-llama_Meta-Llama-3-8B-Instruct", "python_calls"),
        ("THUDM_glm-4-9b-chat", "glm"),
    ],
)
def test_format_for_model_names(model, fmt):
    assert format_for(model) == fmt


def test_unknown_model_and_format_say_what_is_known():
    with pytest.raises(KeyError, match="known formats"):
        format_for("some-other-model")
    with pytest.raises(KeyError, match="openai_fc"):
        decode("nope", "")
