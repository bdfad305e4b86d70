"""The edge model's own request for help (SEEDS.md B): a marker in its text, or a call to a
reserved tool. Either sends the request to the cloud; neither ever reaches the client."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def offload_tool_definition(name: str) -> dict[str, Any]:
    """The reserved tool added to the edge's tool list when offloading is enabled."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": (
                "Call this when you cannot answer the request correctly yourself: a larger "
                "model will answer instead."
            ),
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }


def _marker_pattern(marker: str) -> re.Pattern[str]:
    closing = marker.replace("<", "</", 1) if marker.startswith("<") else None
    if closing:
        # "<unknown> ... </unknown>" or a bare "<unknown>"
        return re.compile(re.escape(marker) + r"(?:.*?" + re.escape(closing) + r")?", re.DOTALL)
    return re.compile(re.escape(marker))


def _calls_named(calls: Any, tool: str) -> list[bool]:
    # an upstream's tool_calls may be anything; what is not a call object is not the reserved call
    if not isinstance(calls, list):
        return []
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        out.append(isinstance(function, Mapping) and function.get("name") == tool)
    return out


def requests_offload(message: Mapping[str, Any], marker: str, tool: str) -> bool:
    content = message.get("content")
    if isinstance(content, str) and marker and marker in content:
        return True
    return any(_calls_named(message.get("tool_calls"), tool))


def strip_offload(message: dict[str, Any], marker: str, tool: str) -> dict[str, Any]:
    """A copy of ``message`` without the marker text or the reserved call."""
    out = dict(message)
    content = out.get("content")
    if isinstance(content, str) and marker and marker in content:
        cleaned = _marker_pattern(marker).sub("", content).strip()
        out["content"] = cleaned or None
    calls = out.get("tool_calls")
    if calls and isinstance(calls, list):
        kept = [c for c, named in zip(calls, _calls_named(calls, tool), strict=True) if not named]
        out["tool_calls"] = kept or None
        if not kept:
            out.pop("tool_calls", None)
    return out
