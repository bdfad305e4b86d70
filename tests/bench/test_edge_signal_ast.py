"""BFCL's AST rule, case by case (the rules of BFCL's checker the outcomes were scored with)."""

from __future__ import annotations

import json
from typing import Any

from bench.common.ast_check import check, standardize
from bench.common.bfcl import to_openai_tools

# BFCL-typed functions, converted as the benchmark sends them
WEATHER = {
    "name": "weather.get",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "ratio": {"type": "float"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "opts": {"type": "dict", "properties": {"unit": {"type": "string"}}},
        },
        "required": ["city", "days"],
    },
}
HOTEL = {
    "name": "hotel.book",
    "parameters": {
        "type": "dict",
        "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}},
        "required": ["city"],
    },
}
TRUTH = {
    "weather.get": {
        "city": ["New York, NY", "NYC"],
        "days": [3],
        "ratio": ["", 0.5],
        "tags": ["", ["Rain", "wind"]],
        "opts": ["", {"unit": ["celsius"]}],
    }
}


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def _simple(*calls: dict[str, Any]) -> tuple[bool, str]:
    v = check("simple", to_openai_tools(WEATHER), TRUTH, list(calls))
    return v.correct, v.error_type


def test_strings_compare_after_bfcl_standardisation() -> None:
    assert standardize("New York, NY") == standardize("new york ny") == "newyorkny"
    assert _simple(_call("weather_get", city="new-york ny", days=3))[0]
    assert _simple(_call("weather_get", city="nyc", days=3))[0]
    assert _simple(_call("weather_get", city="Boston", days=3)) == (False, "value_error:string")


def test_types_follow_python_with_int_for_float_only() -> None:
    assert _simple(_call("weather_get", city="NYC", days=3, ratio=0.5))[0]
    # an int where a float is expected is accepted only through float(): 1 != 0.5 is a value error
    assert _simple(_call("weather_get", city="NYC", days=3, ratio=1)) == (
        False,
        "value_error:others",
    )
    # a float where an int is expected is a type error even when equal (3.0 == 3)
    assert _simple(_call("weather_get", city="NYC", days=3.0)) == (False, "type_error:simple")
    assert _simple(_call("weather_get", city="NYC", days="3")) == (False, "type_error:simple")
    # items of the wrong type: BFCL's nested check passes when "" is among the answers (its
    # quirk, kept), so the list's values are what fail
    assert _simple(_call("weather_get", city="NYC", days=3, tags=[1, 2])) == (
        False,
        "value_error:list/tuple",
    )


def test_parameters_required_unexpected_and_optional() -> None:
    assert _simple(_call("weather_get", days=3)) == (
        False,
        "simple_function_checker:missing_required",
    )
    assert _simple(_call("weather_get", city="NYC", days=3, extra=1)) == (
        False,
        "simple_function_checker:unexpected_param",
    )
    assert _simple(_call("weather.get", city="NYC", days=3)) == (
        False,
        "simple_function_checker:wrong_func_name",  # the OpenAI name has "_" for "."
    )
    assert _simple(_call("weather_get", city="NYC", days=3, ratio=0.5, tags=["rain", "WIND"]))[0]


def test_lists_keep_order_and_dicts_their_keys() -> None:
    assert not _simple(_call("weather_get", city="NYC", days=3, tags=["wind", "rain"]))[0]
    assert _simple(_call("weather_get", city="NYC", days=3, opts={"unit": "Celsius"}))[0]
    assert not _simple(_call("weather_get", city="NYC", days=3, opts={"unit": "kelvin"}))[0]
    assert not _simple(_call("weather_get", city="NYC", days=3, opts={"unit": "c", "x": 1}))[0]


def test_counts_decoding_and_relevance() -> None:
    one = _call("weather_get", city="NYC", days=3)
    assert _simple(one, one) == (False, "simple_function_checker:wrong_count")
    bad = {"type": "function", "function": {"name": "weather_get", "arguments": '{"city": '}}
    assert _simple(bad) == (False, "ast_decoder:decoder_failed")
    assert _simple() == (False, "ast_decoder:decoder_failed")
    tools = to_openai_tools(WEATHER)
    assert check("relevance", tools, None, []).correct
    assert not check("relevance", tools, None, [one]).correct


def test_parallel_and_multiple_match_in_any_order_by_tool_name_substring() -> None:
    tools = to_openai_tools([WEATHER, HOTEL])
    truth = {
        "weather.get_1": {"city": ["Oslo"], "days": [1]},
        "hotel.book": {"city": ["Oslo"], "nights": ["", 2]},
        "weather.get_2": {"city": ["Cork"], "days": [2]},
    }
    calls = [
        _call("hotel_book", city="oslo"),
        _call("weather_get", city="Cork", days=2),
        _call("weather_get", city="Oslo", days=1),
    ]
    assert check("parallel_multiple_function", tools, truth, calls).correct
    assert not check("parallel_multiple_function", tools, truth, calls[:2]).correct
    wrong = [*calls[:2], _call("weather_get", city="Oslo", days=2)]
    assert check("parallel_multiple_function", tools, truth, wrong).error_type.endswith(
        "cannot_find_match"
    )
    multiple = {"hotel.book": {"city": ["Oslo"], "nights": [2]}}
    assert check(
        "multiple_function", tools, multiple, [_call("hotel_book", city="Oslo", nights=2)]
    ).correct
    assert not check(
        "multiple_function", tools, multiple, [_call("weather_get", city="Oslo", days=2)]
    ).correct


def test_a_value_of_the_answers_own_type_counts_as_a_variable() -> None:
    # the schema says integer but the answer holds a string (a variable name in BFCL's data)
    fn = {
        "name": "f",
        "parameters": {"type": "dict", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    }
    tools = to_openai_tools(fn)
    assert check("simple", tools, {"f": {"n": ["count"]}}, [_call("f", n="count")]).correct
    assert not check("simple", tools, {"f": {"n": ["count"]}}, [_call("f", n="other")]).correct


def test_a_list_whose_items_fail_the_nested_type_is_a_type_error() -> None:
    # no "" among the answers: nothing lets the items through, and BFCL's type_checker leaves
    # the result invalid even though the list itself has the answer's type
    truth = {"weather.get": {"city": ["NYC"], "days": [3], "tags": [["rain", "wind"]]}}
    verdict = check("simple", to_openai_tools(WEATHER), truth,
                    [_call("weather_get", city="NYC", days=3, tags=[1, 2])])
    assert not verdict.correct and verdict.error_type.startswith("type_error")
    ok = check("simple", to_openai_tools(WEATHER), truth,
               [_call("weather_get", city="NYC", days=3, tags=["rain", "wind"])])
    assert ok.correct
