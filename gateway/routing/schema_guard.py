"""Schema guard: does a draft's tool calls fit the request's tools and tool_choice?

Every call must name an offered tool, its arguments must parse as a JSON object and validate
against that tool's ``parameters`` JSON Schema. Validators are compiled once per distinct schema
(fastjsonschema generates Python code for each schema, ~10-50x faster than an interpreted
validator) and kept in a bounded cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import orjson

Validator = Callable[[Any], Any]

# error kinds, named as BFCL names the ones a schema check catches
WRONG_FUNCTION = "wrong_function_name"
BAD_JSON = "unparsable_arguments"
MISSING_REQUIRED = "missing_required_argument"
WRONG_TYPE = "wrong_argument_type"
SCHEMA_OTHER = "schema_violation"
CHOICE_VIOLATED = "tool_choice_violated"
INVALID_SCHEMA = "invalid_tool_schema"


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    valid: bool
    error: str | None = None  # one of the kinds above
    detail: str | None = None
    arguments: tuple[Any, ...] = ()  # parsed arguments per call, when valid


OK_NO_CALLS = SchemaCheck(True)


class ValidatorCache:
    """Compiled validators keyed by the schema's canonical JSON; LRU-bounded."""

    def __init__(self, max_size: int = 4096) -> None:
        self._max = max_size
        self._cache: OrderedDict[bytes, Validator] = OrderedDict()

    def get(self, schema: Mapping[str, Any] | None) -> Validator:
        key = orjson.dumps(schema or {}, option=orjson.OPT_SORT_KEYS)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        validator: Validator = fastjsonschema.compile(dict(schema or {"type": "object"}))
        self._cache[key] = validator
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return validator

    def __len__(self) -> int:
        return len(self._cache)


def _kind(exc: fastjsonschema.JsonSchemaValueException) -> str:
    if exc.rule == "required":
        return MISSING_REQUIRED
    if exc.rule == "type":
        return WRONG_TYPE
    return SCHEMA_OTHER


def tool_schemas(tools: Sequence[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any] | None]:
    """name -> parameters schema, from the request's raw ``tools`` list."""
    out: dict[str, Mapping[str, Any] | None] = {}
    for tool in tools or ():
        function = tool.get("function") or {}
        out[function.get("name", "")] = function.get("parameters")
    return out


def check_tool_calls(
    tool_calls: Sequence[Mapping[str, Any]] | None,
    schemas: Mapping[str, Mapping[str, Any] | None],
    cache: ValidatorCache,
    *,
    tool_choice: Any = None,
    parallel_tool_calls: bool | None = None,
) -> SchemaCheck:
    """Check a draft's ``tool_calls`` against the offered tools and ``tool_choice``."""
    calls = tool_calls or ()
    if tool_choice == "none" and calls:
        return SchemaCheck(False, CHOICE_VIOLATED, "tool_choice is 'none' but the draft calls a tool")
    if tool_choice == "required" and not calls:
        return SchemaCheck(False, CHOICE_VIOLATED, "tool_choice is 'required' but no tool was called")
    named = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, Mapping) else None
    if named is not None and not calls:
        return SchemaCheck(False, CHOICE_VIOLATED, f"tool_choice names '{named}' but no tool was called")
    if parallel_tool_calls is False and len(calls) > 1:
        return SchemaCheck(False, CHOICE_VIOLATED, "parallel_tool_calls is false but the draft made several calls")
    parsed: list[Any] = []
    for call in calls:
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or name not in schemas:
            return SchemaCheck(False, WRONG_FUNCTION, f"'{name}' is not an offered tool")
        if named is not None and name != named:
            return SchemaCheck(False, CHOICE_VIOLATED, f"tool_choice names '{named}', draft called '{name}'")
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            return SchemaCheck(False, BAD_JSON, f"arguments of '{name}' are not valid JSON")
        if not isinstance(arguments, dict):
            return SchemaCheck(False, BAD_JSON, f"arguments of '{name}' are not a JSON object")
        try:
            validator = cache.get(schemas[name])
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            return SchemaCheck(False, INVALID_SCHEMA, f"schema of '{name}' cannot be compiled: {exc}")
        try:
            validator(arguments)
        except fastjsonschema.JsonSchemaValueException as exc:
            return SchemaCheck(False, _kind(exc), f"'{name}': {exc.message}")
        parsed.append(arguments)
    return SchemaCheck(True, arguments=tuple(parsed))
