"""BFCL v1's AST rule: is an OpenAI-shaped answer to a BFCL request right?

Written after the checker the recorded outcomes were scored with (gorilla,
``berkeley-function-call-leaderboard/eval_checker/checker.py``, 2024 layout; Python branch only),
rule by rule:

- **decode** (the OpenAI FC handler): each tool call becomes ``{name: json.loads(arguments)}``;
  arguments that do not parse to an object are a decoder failure. A relevance request is right
  exactly when nothing decodes to a call.
- **count**: simple needs exactly one call; multiple, parallel and parallel-multiple need as many
  calls as the answer has entries, matched in *any* order: for each answer entry in turn the
  first still-unmatched call that passes the simple check is taken (greedy, as BFCL).
- **function**: the entry's tool is the first offered tool whose name is a substring of the
  entry's key (``calculate_bmi 1`` → ``calculate_bmi``); the call's name must equal it.
- **parameters**: every ``required`` one present; none outside the tool's properties or the
  answer; an answer parameter without ``""`` among its values may not be left out.
- **types**: the value's Python type must be the schema's (string→str, integer→int,
  float→float, boolean→bool, array/tuple→list, dict→dict, any→str); a float parameter is first
  passed through ``float()`` (so an int is accepted); arrays check their items' type one level
  deep; a value of the answer's own type when that differs from the schema's counts as a
  "variable" and skips the special value checks.
- **values**: strings (also inside lists and dicts) compare after removing spaces and
  ``,./-_*^``, lowercasing and ``'``→``"``; lists compare in order; a dict must have exactly the
  answer dict's number of keys, each value among its accepted ones; other values by ``in``
  (Python equality, so ``2 == 2.0``).

Tools arrive converted to JSON Schema (``bench.common.bfcl.to_openai_tools``); the conversion is
reversed for the type rule (``number``→float, ``object``→dict, no type→any).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common.bfcl import openai_name

_PY_TYPE: dict[str | None, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "object": dict,
    "dict": dict,
    None: str,  # BFCL's "any"
}
_STRIP = re.compile(r"[ \,\.\/\-\_\*\^]")


@dataclass(frozen=True, slots=True)
class Verdict:
    correct: bool
    error_type: str = ""  # BFCL's error type names, e.g. "simple_function_checker:wrong_func_name"


_OK = Verdict(True)


def standardize(text: str) -> str:
    return _STRIP.sub("", text).lower().replace("'", '"')


def _std(value: Any) -> Any:
    return standardize(value) if type(value) is str else value


def decode(tool_calls: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, Any]] | None:
    """(name, arguments) per call, or None when any call's arguments are not a JSON object."""
    out = []
    for call in tool_calls or ():
        function = call.get("function") or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            return None
        if not isinstance(args, dict):
            return None
        out.append((str(function.get("name")), args))
    return out


def _answer_type(accepted: Sequence[Any]) -> type | None:
    for a in accepted:
        if a != "":
            return type(a)
    return None


def _type_ok(value: Any, accepted: Any, expected: type, nested: type | None) -> tuple[bool, bool]:
    """(type passes, value is a "variable") after BFCL's ``type_checker``."""
    accepted = accepted if isinstance(accepted, list) else [accepted]
    answer_type = _answer_type(accepted)
    variable = answer_type is not None and answer_type is not expected
    elements: Any = value  # a list when the type check passes for an array
    if type(value) is expected:
        if nested is None:
            return True, variable
        for item in accepted:
            items_ok = True
            if type(item) is list:
                items_ok = all(_type_ok(v, item, nested, None)[0] for v in elements)
            if items_ok:
                return True, variable
        # a list of the expected type whose items fail the nested type is invalid (BFCL's
        # type_checker), not a "variable" of the answer's type
        return False, variable
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, variable


def _dict_ok(value: Mapping[str, Any], answers: Sequence[Any]) -> bool:
    for answer in answers:
        if answer == "" or not isinstance(answer, Mapping):
            continue
        if len(value) != len(answer):
            continue
        ok = True
        for key, v in value.items():
            if key not in answer:
                ok = False
                break
            expected = answer[key]
            if isinstance(expected, Mapping):
                if not (isinstance(v, Mapping) and _dict_ok(v, [expected])):
                    ok = False
                    break
            elif _std(v) not in [_std(a) for a in expected]:
                ok = False
                break
        if ok:
            return True
    return False


def _list_dict_ok(value: Sequence[Any], answers: Sequence[Any]) -> bool:
    for answer in answers:
        if not isinstance(answer, list) or len(answer) != len(value):
            continue
        if all(
            isinstance(v, Mapping) and _dict_ok(v, [a]) for v, a in zip(value, answer, strict=True)
        ):
            return True
    return False


def _list_ok(value: Sequence[Any], answers: Sequence[Any]) -> bool:
    got = [_std(v) for v in value]
    return any(isinstance(a, list) and got == [_std(x) for x in a] for a in answers)


def _param(value: Any, accepted: Any, schema: Mapping[str, Any]) -> str:
    """The empty string when the parameter passes, else BFCL's error type."""
    kind = schema.get("type")
    expected = _PY_TYPE.get(kind, str)
    nested = None
    if kind in ("array", "tuple"):
        nested = _PY_TYPE.get((schema.get("items") or {}).get("type"), str)
    if expected is float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return "type_error:simple"
    type_ok, variable = _type_ok(value, accepted, expected, nested)
    if not type_ok:
        return (
            "type_error:nested"
            if nested is not None and type(value) is list
            else "type_error:simple"
        )
    accepted = accepted if isinstance(accepted, list) else [accepted]
    if not variable:
        if expected is dict:
            return "" if _dict_ok(value, accepted) else "value_error:dict_value"
        if expected is list and nested is dict:
            return "" if _list_dict_ok(value, accepted) else "value_error:list_dict_count"
        if expected is str:
            wanted = [standardize(a) for a in accepted if type(a) is str]
            return "" if standardize(value) in wanted else "value_error:string"
        if expected is list:
            return "" if _list_ok(value, accepted) else "value_error:list/tuple"
    return "" if value in accepted else "value_error:others"


def simple_check(
    tool: Mapping[str, Any], call: tuple[str, Any], answer: Mapping[str, Any]
) -> Verdict:
    """One call against one tool and one answer entry's ``{param: [accepted values]}``."""
    name, args = call
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    if name != tool.get("name"):
        return Verdict(False, "simple_function_checker:wrong_func_name")
    for required in params.get("required") or ():
        if required not in args:
            return Verdict(False, "simple_function_checker:missing_required")
    for param, value in args.items():
        if param not in props or param not in answer:
            return Verdict(False, "simple_function_checker:unexpected_param")
        error = _param(value, answer[param], props[param])
        if error:
            return Verdict(False, error)
    for param, accepted in answer.items():
        if param not in args and not (isinstance(accepted, list) and "" in accepted):
            return Verdict(False, "simple_function_checker:missing_optional")
    return _OK


def _find_tool(tools: Sequence[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    converted = openai_name(key)
    return next((t for t in tools if str(t.get("name")) in converted), None)


def check(
    category: str,
    tools: Sequence[Mapping[str, Any]],
    ground_truth: Mapping[str, Any] | None,
    tool_calls: Sequence[Mapping[str, Any]] | None,
) -> Verdict:
    """BFCL's AST verdict on ``tool_calls`` (OpenAI shape) for one request.

    ``tools`` are the request's OpenAI tools (``{"type": "function", "function": {...}}``) or
    bare function objects; ``ground_truth`` is BFCL's ``{function: {param: [values]}}`` (None
    for relevance).
    """
    functions = [t.get("function", t) for t in tools]
    decoded = decode(tool_calls)
    if category == "relevance" or ground_truth is None:
        # right exactly when no call decodes
        return _OK if not decoded else Verdict(False, "relevance_error:decoder_success")
    if decoded is None or not decoded:
        return Verdict(False, "ast_decoder:decoder_failed")
    entries = list(ground_truth.items())
    if category == "simple":
        if len(decoded) != 1:
            return Verdict(False, "simple_function_checker:wrong_count")
        answer = entries[0][1] if entries else {}
        if not isinstance(answer, Mapping):
            return Verdict(False, "possible_answer:malformed")
        return simple_check(functions[0], decoded[0], answer)
    if len(decoded) != len(entries):
        return Verdict(False, "parallel_function_checker_no_order:wrong_count")
    matched: set[int] = set()
    for key, answer in entries:
        tool = _find_tool(functions, key)
        if tool is None or not isinstance(answer, Mapping):
            return Verdict(False, "parallel_function_checker_no_order:cannot_find_description")
        hit = next(
            (
                i
                for i, call in enumerate(decoded)
                if i not in matched and simple_check(tool, call, answer).correct
            ),
            None,
        )
        if hit is None:
            return Verdict(False, "parallel_function_checker_no_order:cannot_find_match")
        matched.add(hit)
    return _OK
