"""Chat Completions encoding of a service :class:`~gateway.service.Outcome`: a JSON body, the
buffered answer replayed as OpenAI's SSE chunks, or a relayed cloud stream as SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.responses import Response, StreamingResponse

from gateway.protocol.sse import DONE, completion_to_sse, error_event, event
from gateway.service import Outcome, StreamError

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def chat_response(outcome: Outcome) -> Response:
    if outcome.items is not None:
        return StreamingResponse(
            _relay(outcome.items, outcome.include_usage), outcome.status,
            outcome.headers | SSE_HEADERS, media_type="text/event-stream",
        )
    if outcome.response is not None and outcome.stream:
        events = completion_to_sse(outcome.response, include_usage=outcome.include_usage)
        return StreamingResponse(_iterate(events), outcome.status, outcome.headers | SSE_HEADERS,
                                 media_type="text/event-stream")
    body = outcome.response if outcome.response is not None else outcome.error
    return Response(orjson.dumps(body), outcome.status, outcome.headers, media_type="application/json")


async def _relay(items: AsyncIterator[bytes | StreamError], include_usage: bool) -> AsyncIterator[bytes]:
    # the items are read to their end even after an error, so the service's stage finishes
    # (metrics, record) when the stream does, not whenever the generator is collected
    failed = False
    async for item in items:
        if isinstance(item, StreamError):
            failed = True
            yield error_event(item.envelope)
        elif include_usage or not _usage_only(item):
            yield event(item)
    if not failed:
        yield DONE


def _usage_only(payload: bytes) -> bool:
    """A chunk with no choices and a usage object: sent only to a client that asked for it."""
    if b'"choices"' not in payload:
        return False
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and "usage" in chunk


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in events:
        yield chunk
