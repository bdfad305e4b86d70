"""Is an answer right? A simplified BFCL AST check against the request's ground truth.

As BFCL's checker: the function names must match; every required parameter must be present;
each value must be among the acceptable ones (an int is accepted for a float; strings compare
case-insensitively, trimmed); ``""`` among the acceptable values means the parameter may be
left out; parallel calls match in any order; for a relevance request the right answer is no
call. Simplified: no per-language type rules, nested values compare with the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bench.routing.data import Request, ground_truth_calls


def _same(value: Any, accepted: Any) -> bool:
    if isinstance(accepted, Mapping):
        if not isinstance(value, Mapping):
            return False
        return _args_match(value, accepted)
    if isinstance(value, bool) or isinstance(accepted, bool):
        return value is accepted
    if isinstance(value, int | float) and isinstance(accepted, int | float):
        return float(value) == float(accepted)
    if isinstance(value, str) and isinstance(accepted, str):
        return value.strip().lower() == accepted.strip().lower()
    if isinstance(value, list) and isinstance(accepted, list):
        return len(value) == len(accepted) and all(map(_same, value, accepted))
    return bool(value == accepted)


def _acceptable(value: Any, options: Any) -> bool:
    if not isinstance(options, list):
        return _same(value, options)
    return any(_same(value, option) for option in options if option != "")


def _args_match(args: Mapping[str, Any], truth: Mapping[str, Any]) -> bool:
    if any(name not in truth for name in args):
        return False
    for name, options in truth.items():
        if name in args:
            if not _acceptable(args[name], options):
                return False
        elif not (isinstance(options, list) and "" in options):
            return False
    return True


def _parse(tool_calls: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]] | None:
    calls = []
    for call in tool_calls:
        function = call.get("function") or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            return None
        calls.append((str(function.get("name")), args))
    return calls


def is_correct(request: Request, tool_calls: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether ``tool_calls`` (OpenAI shape) answer ``request`` right."""
    tool_calls = tool_calls or []
    if request.ground_truth is None:
        return not tool_calls
    truth = [
        (name, params)
        for (name, _), params in zip(
            ground_truth_calls(request),
            (p for p in request.ground_truth.values() if isinstance(p, Mapping)),
            strict=True,
        )
    ]
    calls = _parse(tool_calls)
    if calls is None or len(calls) != len(truth):
        return False
    unmatched = list(truth)
    for name, args in calls:
        if not isinstance(args, Mapping):
            return False
        hit = next(
            (
                i
                for i, (t_name, t_args) in enumerate(unmatched)
                if t_name == name and _args_match(args, t_args)
            ),
            None,
        )
        if hit is None:
            return False
        unmatched.pop(hit)
    return True
