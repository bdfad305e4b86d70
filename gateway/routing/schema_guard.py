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
MALFORMED = "malformed_tool_calls"  # not a list of {"function": {...}} objects at all


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    valid: bool
    error: str | None = None  # one of the kinds above
    detail: str | None = None
    arguments: tuple[Any, ...] = ()  # parsed arguments per call, when valid



def _refuse_remote(uri: str) -> Any:
    raise fastjsonschema.JsonSchemaDefinitionException(f"remote $ref '{uri}' is not allowed")


# A client's schema must never make the gateway open a URL: every scheme a $ref could name is
# answered by a refusal instead of fastjsonschema's default (urllib) resolver.
_NO_REMOTE = dict.fromkeys(("http", "https", "file", "ftp", "data", "urn"), _refuse_remote)


def _remote_refs(node: Any) -> bool:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return True
        return any(_remote_refs(value) for value in node.values())
    if isinstance(node, list):
        return any(_remote_refs(value) for value in node)
    return False


def _compile(schema: Mapping[str, Any]) -> Validator:
    """Compile a client-supplied schema; every way it can be unusable becomes a
    ``JsonSchemaDefinitionException`` (a bad regex in ``pattern`` raises ``re.error`` from
    inside fastjsonschema, for one)."""
    if _remote_refs(schema):
        raise fastjsonschema.JsonSchemaDefinitionException("only local '#/...' $refs are allowed")
    try:
        validator: Validator = fastjsonschema.compile(dict(schema), handlers=_NO_REMOTE)
    except fastjsonschema.JsonSchemaDefinitionException:
        raise
    except Exception as exc:  # noqa: BLE001 - any compile failure means "unusable schema"
        raise fastjsonschema.JsonSchemaDefinitionException(f"{type(exc).__name__}: {exc}") from None
    return validator


class ValidatorCache:
    """Compiled validators keyed by the schema's canonical JSON; LRU-bounded. A schema that
    cannot be compiled is cached too (as its error), so it is not recompiled per request."""

    def __init__(self, max_size: int = 4096) -> None:
        self._max = max_size
        self._cache: OrderedDict[bytes, Validator | fastjsonschema.JsonSchemaDefinitionException] = (
            OrderedDict()
        )

    def get(self, schema: Mapping[str, Any] | None) -> Validator:
        key = orjson.dumps(schema or {}, option=orjson.OPT_SORT_KEYS)
        found = self._cache.get(key)
        if found is None:
            try:
                found = _compile(schema or {"type": "object"})
            except fastjsonschema.JsonSchemaDefinitionException as exc:
                found = exc
            self._cache[key] = found
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        if isinstance(found, fastjsonschema.JsonSchemaDefinitionException):
            raise found
        return found

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
    # an upstream's answer is input too: a shape no model should send is a failed check,
    # never an exception (found by the atheris fuzzer, bench/fuzz/parser.py)
    if tool_calls is not None and not isinstance(tool_calls, list | tuple):
        return SchemaCheck(False, MALFORMED, "tool_calls is not a list")
    calls = tool_calls or ()
    for call in calls:
        if not isinstance(call, Mapping) or not isinstance(call.get("function") or {}, Mapping):
            return SchemaCheck(False, MALFORMED, "a tool call is not an object with a function object")
    if tool_choice == "none" and calls:
        return SchemaCheck(False, CHOICE_VIOLATED, "tool_choice is 'none' but the draft calls a tool")
    if tool_choice == "required" and not calls:
        return SchemaCheck(False, CHOICE_VIOLATED, "tool_choice is 'required' but no tool was called")
    function = tool_choice.get("function") if isinstance(tool_choice, Mapping) else None
    named = function.get("name") if isinstance(function, Mapping) else None
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
