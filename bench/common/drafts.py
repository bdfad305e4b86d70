"""Edge drafts rebuilt from the recorded error type, checked by the gateway's schema guard.

The recorded data says *whether* the edge model was right and, when not, BFCL's error type, but
not the text it produced. To put the schema guard on the real request path, each draft is
rebuilt from the request's reference answer and then broken the way the recorded error type
says: an error a schema check catches (unparsable output, wrong function name, missing required
argument, wrong type) is injected into the call; any other error (a wrong value, a wrong count of
parallel calls, a call where none was wanted) leaves a schema-valid call. The guard then decides
validity on the real tool schemas, so the validity bit is the guard's verdict, not an assumption.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.common.bfcl import Request, ground_truth_calls
from gateway.routing.schema_guard import (
    SchemaCheck,
    ValidatorCache,
    check_tool_calls,
    tool_schemas,
)

# BFCL error types a schema check can catch, by the kind of damage they do to the call
UNPARSABLE = ("ast_decoder:decoder_failed", "ast_decoder:decoder_wrong_output_format")
WRONG_NAME = ("simple_function_checker:wrong_func_name",)
MISSING_REQUIRED = ("simple_function_checker:missing_required",)
WRONG_TYPE_PREFIX = "type_error:"


def schema_catchable(error_type: str) -> bool:
    return (
        error_type in UNPARSABLE
        or error_type in WRONG_NAME
        or error_type in MISSING_REQUIRED
        or error_type.startswith(WRONG_TYPE_PREFIX)
    )


@dataclass(frozen=True, slots=True)
class DraftCheck:
    """The guard's verdict on one rebuilt draft."""

    catchable: bool  # the recorded error type is one a schema check catches
    check: SchemaCheck

    @property
    def valid(self) -> bool:
        # a draft without a catchable error stands for an answer the guard accepted; where the
        # rebuilt reference itself fails the guard, that is a quirk of BFCL's answer file
        return self.check.valid or not self.catchable

    @property
    def reference_quirk(self) -> bool:
        return not self.catchable and not self.check.valid


def _placeholder(schema: Mapping[str, Any] | None) -> Any:
    kind = (schema or {}).get("type")
    if "enum" in (schema or {}):
        return (schema or {})["enum"][0]
    return {
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "object": {},
    }.get(kind, "x")


def _wrong_type(schema: Mapping[str, Any] | None) -> Any:
    kind = (schema or {}).get("type")
    return {"string": 12345, "array": "not-a-list", "object": "not-an-object"}.get(kind, "text")


def _calls_for(request: Request) -> list[tuple[str, dict[str, Any]]]:
    calls = ground_truth_calls(request)
    if calls:
        return calls
    # relevance: the reference is "no call"; a wrong answer calls the offered tool with
    # well-typed required arguments (BFCL's relevance_error:decoder_success)
    tool = request.tools[0]["function"]
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    args = {name: _placeholder(props.get(name)) for name in params.get("required") or ()}
    return [(tool["name"], args)]


def _break(
    error_type: str, calls: list[tuple[str, dict[str, Any]]], schemas: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    name, args = calls[0]
    params = schemas.get(name) or {}
    if error_type in WRONG_NAME:
        return [(name + "_v2", args), *calls[1:]]
    if error_type in MISSING_REQUIRED:
        required = [
            r for r in params.get("required") or () if r in (params.get("properties") or {})
        ]
        if required:
            args = {k: v for k, v in args.items() if k != required[0]}
        return [(name, args), *calls[1:]]
    if error_type.startswith(WRONG_TYPE_PREFIX):
        props = params.get("properties") or {}
        typed = [k for k in args if (props.get(k) or {}).get("type")]
        if typed:
            args = dict(args)
            args[typed[0]] = _wrong_type(props[typed[0]])
        return [(name, args), *calls[1:]]
    return list(calls)


def rebuild_draft(request: Request) -> list[dict[str, Any]]:
    """The edge draft's ``tool_calls`` as the recorded outcome implies them."""
    outcome = request.edge
    if request.category == "relevance" and outcome.correct:
        return []
    schemas = tool_schemas(request.tools)
    calls: list[tuple[str, Any]] = list(_calls_for(request))
    if not outcome.correct:
        calls = _break(outcome.error_type, copy.deepcopy(_calls_for(request)), schemas)
    tool_calls = []
    for i, (name, args) in enumerate(calls):
        arguments = json.dumps(args)
        if outcome.error_type in UNPARSABLE and i == 0:
            arguments = arguments[: max(1, len(arguments) // 2)]  # cut off mid-object
        tool_calls.append(
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return tool_calls


def check_request(request: Request, cache: ValidatorCache) -> DraftCheck:
    draft = rebuild_draft(request)
    verdict = check_tool_calls(draft, tool_schemas(request.tools), cache)
    return DraftCheck(schema_catchable(request.edge.error_type), verdict)
