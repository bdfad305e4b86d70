"""The verifier's features on ordinary and awkward requests and drafts."""

from __future__ import annotations

import json
import math

import pytest

from gateway.routing.verifier import (
    DRAFT_FEATURES,
    FEATURE_DOCS,
    FEATURE_NAMES,
    LOGPROB_FEATURES,
    REQUEST_FEATURES,
    SAMPLE_FEATURES,
    LogprobSummary,
    extract,
    features,
    prepare,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather_forecast_get",
            "description": "Get the weather forecast for a city over a number of days.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "days": {"type": "integer"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "days"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "stock_price_get",
            "description": "Latest stock price of a company.",
            "parameters": {
                "type": "object",
                "properties": {"ticker": {"type": "string"}},
                "required": ["ticker"],
            },
        },
    },
]
ASK = [{"role": "user", "content": "What is the weather forecast in Paris for the next 3 days?"}]


def call(name, arguments):
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": text}}


def named(vector):
    assert len(vector) == len(FEATURE_NAMES)
    return dict(zip(FEATURE_NAMES, vector, strict=True))


def test_every_feature_is_documented_and_grouped():
    assert FEATURE_NAMES == REQUEST_FEATURES + DRAFT_FEATURES + LOGPROB_FEATURES + SAMPLE_FEATURES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(len(FEATURE_DOCS[n]) > 20 for n in FEATURE_NAMES)


def test_grounded_draft_against_invented_one():
    good = named(extract(ASK, TOOLS, [call("weather_forecast_get", {"city": "Paris", "days": 3})]))
    bad = named(
        extract(
            ASK,
            TOOLS,
            [call("weather_forecast_get", {"city": "London", "days": 7, "unit": "kelvin"})],
        )
    )
    assert good["draft_values_grounded"] == 1.0 and good["draft_request_numbers_used"] == 1.0
    assert bad["draft_values_grounded"] == 0.0 and bad["draft_request_numbers_used"] == 0.0
    assert good["draft_optional_filled"] == 0.0 and bad["draft_optional_filled"] == 1.0
    assert bad["draft_enum_violation"] == 1.0 and good["draft_enum_violation"] == 0.0
    assert good["draft_chosen_is_best"] == 1.0 and good["draft_chosen_overlap"] > 0.3
    assert good["draft_no_call"] == 0.0 and good["draft_missing_required"] == 0.0


def test_wrong_tool_overlaps_less_than_the_right_one():
    right = named(extract(ASK, TOOLS, [call("weather_forecast_get", {"city": "Paris", "days": 3})]))
    wrong = named(extract(ASK, TOOLS, [call("stock_price_get", {"ticker": "Paris"})]))
    assert wrong["draft_chosen_overlap"] < right["draft_chosen_overlap"]
    assert wrong["draft_chosen_is_best"] == 0.0


def test_numbers_written_as_strings_and_words_still_count():
    ask = [{"role": "user", "content": "Forecast for Oslo, three days, and 1,500 metres up."}]
    x = named(extract(ask, TOOLS, [call("weather_forecast_get", {"city": "Oslo", "days": "3"})]))
    assert x["draft_values_grounded"] == 1.0  # "3" matches the word "three"
    assert x["draft_type_mismatch"] == 0.5  # "3" is a string where an integer is expected
    assert x["req_numbers"] == pytest.approx(math.log1p(2))  # 1,500 and "three"
    used = named(
        extract(ask, TOOLS, [call("weather_forecast_get", {"city": "Oslo", "days": 1500})])
    )
    assert used["draft_request_numbers_used"] == 1.0 and used["draft_numbers_literal"] == 1.0


def test_unicode_and_list_content_parts():
    ask = [
        {"role": "system", "content": None},
        {"role": "user", "content": [{"type": "text", "text": "Wetter in Zürich für 2 Tage?"}]},
    ]
    x = named(extract(ask, TOOLS, [call("weather_forecast_get", {"city": "Zürich", "days": 2})]))
    assert x["draft_strings_grounded"] == 1.0 and x["draft_numbers_grounded"] == 1.0
    assert x["req_turns"] == pytest.approx(math.log1p(2))


def test_nested_arguments_are_walked():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "book",
                "parameters": {"type": "object", "properties": {"trip": {"type": "object"}}},
            },
        }
    ]
    ask = [{"role": "user", "content": "Book a trip from Rome to Lyon for 2 people"}]
    x = named(
        extract(
            ask,
            tools,
            [call("book", {"trip": {"legs": [{"from": "Rome"}, {"to": "Lyon"}], "people": 2}})],
        )
    )
    assert x["draft_nested_values"] == 1.0 and x["draft_values_grounded"] == 1.0


def test_empty_tool_list_and_no_tool_calls():
    none = named(extract(ASK, [], None))
    assert none["req_tools"] == 0.0 and none["draft_no_call"] == 1.0
    assert none["draft_calls"] == 0.0 and none["draft_no_call_x_overlap"] == 0.0
    called = named(extract(ASK, [], [call("weather_forecast_get", {"city": "Paris"})]))
    assert called["draft_unknown_tool"] == 1.0 and called["draft_calls_per_tool"] == 0.0
    no_call_fit = named(extract(ASK, TOOLS, []))
    assert no_call_fit["draft_no_call_x_overlap"] > 0.3  # a tool fits, yet no call


@pytest.mark.parametrize("arguments", ['{"city": "Paris"', "[1, 2]", "null", "", "{" * 5000])
def test_malformed_arguments_json(arguments):
    x = named(extract(ASK, TOOLS, [call("weather_forecast_get", arguments)]))
    if arguments == "":
        assert x["draft_bad_arguments"] == 0.0  # empty arguments mean {}
        assert x["draft_missing_required"] == 1.0
    else:
        assert x["draft_bad_arguments"] == 1.0
    assert all(math.isfinite(v) for v in x.values())


def test_odd_shapes_do_not_raise():
    odd_tools = [
        {"type": "function"},
        {"function": {"name": 3}},
        "text",
        {"name": "bare", "parameters": []},
    ]
    odd_calls = [{"function": None}, {"nope": 1}, call("bare", {"x": [[[[[[[[[[1]]]]]]]]]]})]
    x = named(extract([{"role": "user"}, "junk"], odd_tools, odd_calls))
    assert x["draft_calls"] == pytest.approx(math.log1p(3))
    assert all(math.isfinite(v) for v in x.values())


def test_duplicates_and_parallel_counts():
    ask = [{"role": "user", "content": "Weather in Paris and Rome for 2 days each"}]
    same = call("weather_forecast_get", {"city": "Paris", "days": 2})
    x = named(extract(ask, TOOLS, [same, same]))
    assert x["draft_duplicate_calls"] == 0.5 and x["draft_calls_per_tool"] == 1.0


def test_logprob_part_is_clipped_and_flagged():
    ctx = prepare(ASK, TOOLS)
    calls = [call("weather_forecast_get", {"city": "Paris", "days": 3})]
    absent = named(features(ctx, calls))
    present = named(features(ctx, calls, LogprobSummary(mean=-0.5, min=-1e9, n_tokens=40)))
    assert absent["lp_present"] == 0.0 and present["lp_present"] == 1.0
    assert present["lp_min"] == -30.0 and present["lp_sum"] == pytest.approx(-2.0)
    nan = named(features(ctx, calls, LogprobSummary(mean=float("nan"), min=-1.0, n_tokens=3)))
    assert nan["lp_present"] == 0.0


def test_request_part_is_the_same_whatever_the_draft():
    ctx = prepare(ASK, TOOLS)
    a = features(ctx, [])
    b = features(ctx, [call("stock_price_get", {"ticker": "X"})])
    n = len(REQUEST_FEATURES)
    assert a[:n] == b[:n] == ctx.vector and a[n:] != b[n:]


def test_calls_cover_is_looser_than_identity_where_bfcl_is():
    from gateway.routing.verifier import calls_cover

    cloud = [call("weather_forecast_get", {"city": "new york", "days": 3})]
    assert calls_cover(
        [call("weather_forecast_get", {"city": "New York", "days": 3.0, "unit": "c"})], cloud
    )
    assert not calls_cover([call("weather_forecast_get", {"city": "Boston", "days": 3})], cloud)
    assert not calls_cover([call("weather_forecast_get", {"city": "new york"})], cloud)
    assert not calls_cover(cloud + cloud, cloud)  # a call too many
    assert not calls_cover([call("stock_price_get", {"city": "new york", "days": 3})], cloud)
    assert not calls_cover([call("weather_forecast_get", "{bad")], cloud)
    assert calls_cover(None, [])  # neither calls
    two = [call("f", {"a": 1}), call("f", {"a": 2})]
    assert calls_cover(list(reversed(two)), two)  # any order, each call matched once
    assert not calls_cover([call("f", {"a": 1}), call("f", {"a": 1})], two)


def test_no_call_interactions_copy_the_request_feature_only_without_a_call():
    none = named(extract(ASK, TOOLS, []))
    some = named(extract(ASK, TOOLS, [call("weather_forecast_get", {"city": "Paris", "days": 3})]))
    for name in ("shared_words", "coverage", "numbers", "tools"):
        assert none[f"draft_no_call_x_{name}"] == none[f"req_{name}"]
        assert some[f"draft_no_call_x_{name}"] == 0.0
    assert none["req_shared_words"] > 0


def test_user_text_is_found_past_non_message_entries():
    ask = ["junk", {"role": "system", "content": "You answer with tools."}, ASK[0]]
    x = named(extract(ask, TOOLS, [call("weather_forecast_get", {"city": "Paris", "days": 3})]))
    assert x["draft_request_numbers_used"] == 1.0 and x["req_numbers"] == pytest.approx(
        math.log1p(1)
    )


def test_numbers_glued_to_names_are_not_numbers():
    from gateway.routing.verifier.text import numbers

    assert numbers("H2O at v22 for 3 days", extended=False) == [3.0]
    assert numbers("x-5 and COVID-19, -3", extended=False) == [5.0, 19.0, -3.0]
    assert sorted(numbers("5% of two million")) == [0.05, 2.0, 5.0]
