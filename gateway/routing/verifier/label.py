"""A training label a deployment can compute: did the edge make the cloud's calls?

``calibration.calls_agree`` (today's label) wants identical calls. A draft that fills an
optional argument the cloud left out (``unit="units"``), or writes ``"New York"`` where the
cloud wrote ``"new york"``, then counts as wrong, though BFCL's checker accepts most such
drafts. ``calls_cover`` is looser in exactly those two ways, so it is closer to "the draft is
acceptable" (measured on recorded BFCL answers: docs/bench-routing.md): the same functions as
many times, and every argument the cloud gave present in the matching edge call with an equal
value after BFCL's string standardisation (spaces and ``,./-_*^`` removed, lower case) and
numbers compared as numbers. Extra edge arguments are allowed. Pure, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_STRIP = re.compile(r"[ ,./\-_*^]")


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _STRIP.sub("", value).lower().replace("'", '"')
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    return str(value)


def _parsed(calls: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, dict[str, Any] | None]]:
    out: list[tuple[str, dict[str, Any] | None]] = []
    for call in calls or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        function = function if isinstance(function, Mapping) else {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except (ValueError, RecursionError):
                arguments = None
        out.append((str(function.get("name")), arguments if isinstance(arguments, dict) else None))
    return out


def calls_cover(
    edge_tool_calls: Sequence[Mapping[str, Any]] | None,
    cloud_tool_calls: Sequence[Mapping[str, Any]] | None,
) -> bool:
    """True when each cloud call has its own edge call of the same function holding every
    argument the cloud gave (values equal after normalisation) and no edge call is left over.
    Two answers without calls cover each other; arguments that are not JSON objects never do.

    >>> calls_cover([{"function": {"name": "f", "arguments": '{"city": "New York", "unit": "c"}'}}],
    ...             [{"function": {"name": "f", "arguments": '{"city": "new york"}'}}])
    True
    """
    edge, cloud = _parsed(edge_tool_calls), _parsed(cloud_tool_calls)
    if len(edge) != len(cloud):
        return False
    used: set[int] = set()
    for name, args in cloud:
        if args is None:
            return False
        wanted = {k: _norm(v) for k, v in args.items()}
        hit = next(
            (
                i
                for i, (other, given) in enumerate(edge)
                if i not in used
                and other == name
                and given is not None
                and all(k in given and _norm(given[k]) == v for k, v in wanted.items())
            ),
            None,
        )
        if hit is None:
            return False
        used.add(hit)
    return True
