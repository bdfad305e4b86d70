"""``POST /v1/responses`` (OpenAI's Responses API) and ``GET``/``DELETE /v1/responses/{id}``.

Thin: the request is translated to a chat completions request
(``gateway.protocol.responses``), answered by the same ``ChatService.handle`` as the chat route
(so the routing and its headers are the same), and the service's outcome encoded in the
Responses shape (``gateway.api.responses_encode``). Stored responses live in a
``gateway.service.store.ResponseStore`` (Redis with ``NETGPT_REDIS_URL``), per client key.
``POST /v1/responses`` takes the chat route's fast lane (``gateway.api.chat.ChatFastLane``: no
app middleware, the same envelopes); ``GET``/``DELETE`` go through the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.chat import admit_and_read, request_id
from gateway.api.encode import SSE_HEADERS
from gateway.api.errors import envelope_response
from gateway.api.responses_encode import (
    Folder,
    ResponseMeta,
    fold_completion,
    fold_stream,
    new_id,
    replay,
)
from gateway.errors import GatewayError, RequestError
from gateway.experts.slo import parse_slo
from gateway.protocol.chat import parse_request
from gateway.protocol.responses import (
    ResponsesRequest,
    input_items,
    parse_responses_request,
    to_chat,
)
from gateway.service import Outcome, RequestInfo
from gateway.service.store import MemoryResponseStore, RedisResponseStore, ResponseStore, owner_of
from gateway.tenancy.guard import bearer

log = logging.getLogger("netgpt.api")
API = "responses"


class ResponseNotFound(RequestError):
    status = 404
    code = "response_not_found"


def response_store(state: Any) -> ResponseStore:
    """The app's store, built on first use from the runtime (Redis when configured)."""
    store: ResponseStore | None = getattr(state, "responses_store", None)
    if store is None:
        ttl = state.settings.responses_ttl_s
        redis = state.runtime.redis
        store = RedisResponseStore(redis, ttl) if redis is not None else MemoryResponseStore(ttl)
        state.responses_store = store
    return store


def _echo(parsed: ResponsesRequest, raw: dict[str, Any]) -> dict[str, Any]:
    given = raw.get("text")
    text: dict[str, Any] = given if isinstance(given, dict) else {}
    return {
        "instructions": parsed.instructions,
        "tools": raw.get("tools") or [],
        "tool_choice": raw.get("tool_choice") or "auto",
        "parallel_tool_calls": parsed.parallel_tool_calls is not False,
        "max_output_tokens": raw.get("max_output_tokens"),  # as sent: 1e29 is no int orjson encodes
        "temperature": parsed.temperature,
        "top_p": parsed.top_p,
        "metadata": parsed.metadata or {},
        "previous_response_id": parsed.previous_response_id,
        "store": parsed.store is not False,
        "user": parsed.user,
        "text": {"format": {"type": "text"}, **text},
        "truncation": parsed.truncation or "disabled",
        "reasoning": {"effort": None, "summary": None},
    }


async def create_response(request: Request) -> Response:
    state = request.app.state
    rid = request_id(request)
    tenancy = state.tenancy
    try:
        principal, body, raw = await admit_and_read(request, state)
        parsed = parse_responses_request(raw)
        slo = parse_slo(request.headers, state.settings.slo)
        owner = owner_of(bearer(request.headers))
        history: list[dict[str, Any]] = []
        if parsed.previous_response_id is not None:
            entry = await response_store(state).load(owner, parsed.previous_response_id)
            if entry is None:
                raise ResponseNotFound("previous_response_id names no stored response "
                                   "(expired after NETGPT_RESPONSES_TTL_S, deleted, stored under another "
                                   "key, or sent with store=false)", param="previous_response_id",
                                   code="previous_response_not_found")
            history = list(entry.get("conversation") or [])
        conversation = history + input_items(parsed)
        chat_raw = to_chat(parsed, conversation, raw)
        chat_parsed = parse_request(chat_raw)
    except GatewayError as exc:
        reason = "rate_limited" if exc.status == 429 else "invalid_request"
        state.metrics.requests.labels("none", reason, str(exc.status)).inc()
        state.metrics.api_requests.labels(API, str(exc.status)).inc()
        return envelope_response(exc, rid)
    state.metrics.in_flight.inc()
    try:
        info = RequestInfo(rid, len(body), slo=slo)
        if not principal.limits.unlimited:
            info.on_usage = partial(tenancy.charge, principal)
        outcome = await state.runtime.service.handle(chat_raw, chat_parsed, info)
    finally:
        state.metrics.in_flight.dec()
    state.metrics.api_requests.labels(API, str(outcome.status)).inc()
    meta = ResponseMeta(new_id("resp"), parsed.model, _echo(parsed, raw))
    saver = _Saver(response_store(state), owner, conversation) if parsed.store is not False else None
    return await _encode(outcome, meta, bool(parsed.stream), saver)


class _Saver:
    def __init__(self, store: ResponseStore, owner: str, conversation: list[dict[str, Any]]) -> None:
        self.store, self.owner, self.conversation = store, owner, conversation

    async def __call__(self, folder: Folder) -> None:
        response = folder.response
        if response is None:  # failed: nothing to continue from
            return
        entry = {"response": response, "conversation": self.conversation + folder.output}
        try:
            await self.store.save(self.owner, response["id"], entry)
        except GatewayError as exc:  # the answer stands; a follow-up will get the 503
            log.warning("response not stored", extra={"error": exc.message})


async def _encode(outcome: Outcome, meta: ResponseMeta, stream: bool, saver: _Saver | None) -> Response:
    if outcome.error is not None or (outcome.response is None and outcome.items is None):
        return Response(orjson.dumps(outcome.error), outcome.status, outcome.headers,
                        media_type="application/json")
    folder = Folder(meta)
    if outcome.response is not None:
        folder, events = fold_completion(meta, outcome.response)
        if saver is not None:
            await saver(folder)
        if not stream:
            return Response(orjson.dumps(folder.response), outcome.status, outcome.headers,
                            media_type="application/json")
        return StreamingResponse(replay(events), outcome.status, outcome.headers | SSE_HEADERS,
                                 media_type="text/event-stream")
    assert outcome.items is not None
    return StreamingResponse(_streamed(folder, outcome, saver), outcome.status,
                             outcome.headers | SSE_HEADERS, media_type="text/event-stream")


async def _streamed(folder: Folder, outcome: Outcome, saver: _Saver | None) -> AsyncIterator[bytes]:
    assert outcome.items is not None
    async for event in fold_stream(folder, outcome.items):
        yield event
    if saver is not None:
        await saver(folder)


async def _owned(request: Request) -> tuple[ResponseStore, str, str]:
    state = request.app.state
    principal = state.tenancy.authenticate(request.headers)
    await state.tenancy.admit(principal)
    return response_store(state), owner_of(bearer(request.headers)), request.path_params["response_id"]


def _not_found() -> ResponseNotFound:
    # the id is not echoed: a client's string never comes back in an error
    return ResponseNotFound("no stored response has this id (expired, deleted, stored under "
                            "another key, or created with store=false)", param="response_id")


async def stored_response(request: Request) -> Response:
    """``GET`` or ``DELETE /v1/responses/{id}``: one route, so a 405 lists both in ``Allow``."""
    if request.method == "DELETE":
        return await delete_response(request)
    return await get_response(request)


async def get_response(request: Request) -> Response:
    store, owner, response_id = await _owned(request)
    entry = await store.load(owner, response_id)
    if entry is None:
        return envelope_response(_not_found(), request_id(request))
    return Response(orjson.dumps(entry["response"]), media_type="application/json")


async def delete_response(request: Request) -> Response:
    store, owner, response_id = await _owned(request)
    if not await store.delete(owner, response_id):
        return envelope_response(_not_found(), request_id(request))
    return Response(orjson.dumps({"id": response_id, "object": "response", "deleted": True}),
                    media_type="application/json")
