"""OpenAI server-sent events for chat completions.

A buffered answer (the edge draft, or a cloud answer fetched whole) is replayed as the chunks
OpenAI sends: a role chunk, content, tool-call deltas (id, type and name once, then the arguments
in pieces), the finish chunk, a usage chunk when asked, then ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
ARGUMENT_PIECE = 24  # characters of tool-call arguments per delta


def event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def completion_to_chunks(
    completion: dict[str, Any], *, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """Yield ``chat.completion.chunk`` objects that add up to ``completion``."""
    base = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 0),
        "model": completion.get("model", ""),
    }
    if completion.get("system_fingerprint") is not None:
        base["system_fingerprint"] = completion["system_fingerprint"]
    usage_null = {"usage": None} if include_usage else {}
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        out = dict(base)
        out["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        out.update(usage_null)
        out.update(extra)
        return out

    yield chunk({"role": "assistant", "content": ""})
    content = message.get("content")
    if content:
        for piece in _pieces(content, 64):
            yield chunk({"content": piece})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.get("id"),
                        "type": "function",
                        "function": {"name": function.get("name"), "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(function.get("arguments") or "", ARGUMENT_PIECE):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, choice.get("finish_reason") or "stop")
    if include_usage:
        final = dict(base)
        final["choices"] = []
        final["usage"] = completion.get("usage")
        yield final


def completion_to_sse(completion: dict[str, Any], *, include_usage: bool) -> list[bytes]:
    out = [event(orjson.dumps(c)) for c in completion_to_chunks(completion, include_usage=include_usage)]
    out.append(DONE)
    return out


def error_event(envelope: dict[str, Any]) -> bytes:
    """An error after the stream started: the OpenAI SDK raises on a chunk holding ``error``."""
    return event(orjson.dumps(envelope))
