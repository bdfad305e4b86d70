"""The tool side of the verifier's features, memoised per tool list. Pure, no I/O.

Clients send the same tools request after request, and tokenising their names, descriptions and
parameter names is most of the request side's cost. ``tool_set`` reduces a request's tools to a
hashable key — per tool: name, description, parameter names, required names — and memoises
everything derived from that key (``ToolSet``). The parameter *schemas* (types, enums) are not in
the key: the draft side reads them from the request itself (``ToolSet.schemas`` of the call), so
two clients whose tools differ only in a schema share the cached part and still get their own
type and enum checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeGuard

from gateway.routing.verifier.text import content_stems, words

# (name, description, parameter names, required names) of one tool
ToolKey = tuple[str, str, tuple[Any, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    stems: frozenset[str]  # content stems of name, description and parameter names
    name_stems: frozenset[str]
    required: frozenset[str]
    optional: tuple[Any, ...]  # parameter names not required, in the schema's order


@dataclass(frozen=True, slots=True)
class ToolSet:
    """Everything derived from one tool list's key (``tool_set``)."""

    infos: Mapping[str, ToolInfo]  # by name; a repeated name: the last tool, at the first place
    tools_feature: float  # req_tools
    required_feature: float  # req_required


@lru_cache(maxsize=4096)
def _tool_stems(
    name: str, description: str, params: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str]]:
    """(stems of name + description + parameter names, stems of the name), per tool: a new
    tool list made of known tools skips the tokenising."""
    return content_stems(words(f"{name} {description} {' '.join(params)}")), content_stems(
        words(name)
    )


def _info(key: ToolKey) -> ToolInfo:
    name, description, params, required = key
    stems, name_stems = _tool_stems(name, description, tuple(str(p) for p in params))
    needed = frozenset(required)
    return ToolInfo(
        name=name,
        stems=stems,
        name_stems=name_stems,
        required=needed,
        optional=tuple(p for p in params if p not in needed),
    )


@lru_cache(maxsize=2048)  # BFCL's 1,240 requests hold 1,062 distinct tool lists
def _cached_set(keys: tuple[ToolKey, ...]) -> ToolSet:
    infos: dict[str, ToolInfo] = {}
    for key in keys:
        infos[key[0]] = _info(key)
    required = [len(i.required) for i in infos.values()]
    return ToolSet(
        infos=MappingProxyType(infos),  # shared by every request with these tools: read-only
        tools_feature=math.log1p(len(infos)),
        required_feature=math.log1p(sum(required) / len(required)) if required else 0.0,
    )


def clear_caches() -> None:
    """Forget memoised tool lists and tool tokenisations (for cold-start timings)."""
    _cached_set.cache_clear()
    _tool_stems.cache_clear()


def _mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


_EMPTY: Mapping[str, Any] = {}


def tool_set(
    tools: Sequence[Mapping[str, Any]],
) -> tuple[ToolSet, dict[str, Mapping[str, Any]]]:
    """The memoised tool side of ``tools`` and this request's parameter schemas by tool name
    (a tool that is not a mapping, or has no string name, counts for nothing)."""
    keys: list[ToolKey] = []
    schemas: dict[str, Mapping[str, Any]] = {}
    for tool in tools:
        function = tool.get("function", tool) if _mapping(tool) else None
        if not _mapping(function):
            continue
        name = function.get("name")
        if not isinstance(name, str):
            continue
        params = function.get("parameters")
        props = params.get("properties") if _mapping(params) else None
        props = props if _mapping(props) else _EMPTY
        required = params.get("required") if _mapping(params) else None
        description = function.get("description")
        keys.append(
            (
                name,
                description if isinstance(description, str) else "",
                tuple(props),
                tuple([r for r in required if isinstance(r, str)])
                if isinstance(required, list)
                else (),
            )
        )
        schemas[name] = props
    return _cached_set(tuple(keys)), schemas
