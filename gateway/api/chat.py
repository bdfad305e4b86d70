"""POST /v1/chat/completions.

A plain Starlette route (not a FastAPI path operation): the body is read once, parsed once with
orjson and validated once with pydantic; FastAPI's per-request dependency machinery would cost
more than all of that on the edge path.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import secrets
from functools import partial
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.api.encode import chat_response
from gateway.api.errors import envelope_response, unexpected_error_handler
from gateway.errors import BodyTooLarge, GatewayError, RequestError, RequestTimeout, ShuttingDown
from gateway.experts.slo import parse_slo
from gateway.protocol.chat import parse_request
from gateway.service import ChatService, RequestInfo
from gateway.tenancy import Principal

log = logging.getLogger("netgpt.content")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _RequestIds:
    """32 hex characters, as ``uuid4().hex`` gave: a random half drawn once per process (again
    after a fork) and a counter. uuid4 read os.urandom per request, a system call that also
    hands the GIL to whichever thread wants it (the dataset writer's encoder)."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(secrets.randbits(48))

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _RequestIds()


def request_id(request: Request) -> str:
    given = request.headers.get("x-request-id")
    if given and _REQUEST_ID.match(given):
        return given
    return _ids.next()


async def read_body(request: Request, limit: int, timeout_s: float = 30.0) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body is {declared} bytes; the limit is {limit} (NETGPT_MAX_BODY_BYTES)")
    parts: list[bytes] = []
    size = 0
    try:
        # a client trickling its body (slow-loris) must not hold a request open for ever
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes (NETGPT_MAX_BODY_BYTES)")
                parts.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {timeout_s:g} s (NETGPT_CLIENT_TIMEOUT_S)"
        ) from None
    return b"".join(parts)


async def admit_and_read(request: Request, state: Any) -> tuple[Principal, bytes, Any]:
    """The intake every POST route shares: the caller's key, its limits, the bounded body and
    its JSON. Raises ``GatewayError`` (401, 429, 413, 408, 400) for the route to answer."""
    tenancy = state.tenancy
    principal = tenancy.authenticate(request.headers)
    await tenancy.admit(principal)
    body = await read_body(request, state.settings.max_body_bytes, state.settings.client_timeout_s)
    try:
        return principal, body, orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON: {exc}") from None


async def chat_completions(request: Request) -> Response:
    state = request.app.state
    service: ChatService = state.runtime.service
    rid = request_id(request)
    tenancy = state.tenancy
    try:
        principal, body, raw = await admit_and_read(request, state)
        parsed = parse_request(raw)
        slo = parse_slo(request.headers, state.settings.slo)  # 400 naming a malformed header
    except GatewayError as exc:
        reason = "rate_limited" if exc.status == 429 else "invalid_request"
        state.metrics.requests.labels("none", reason, str(exc.status)).inc()
        return envelope_response(exc, rid)
    if state.settings.log_content:
        # opt-in only (NETGPT_LOG_CONTENT): message text may be personal data
        log.info("request content", extra={"request_id": rid, "messages": raw.get("messages")})
    state.metrics.in_flight.inc()
    try:
        info = RequestInfo(rid, len(body), slo=slo)
        if not principal.limits.unlimited:
            info.on_usage = partial(tenancy.charge, principal)
        outcome = await service.handle(raw, parsed, info)
    finally:
        state.metrics.in_flight.dec()
    return chat_response(outcome)


CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"


class ChatFastLane:
    """ASGI wrapper that hands ``POST /v1/chat/completions`` straight to :func:`chat_completions`
    (and ``POST /v1/responses`` to ``responses.create_response``) and everything else
    (lifespan included) to the wrapped app.

    These routes need none of the app's middleware: they read and bound their own body, answer
    every ``GatewayError`` with an envelope themselves, and anything unexpected gets the same
    500 envelope here that the app's handler gives. Under load the middleware stack (server
    errors, telemetry, body limit, exceptions, exit stack, router matching) cost more than
    the chat route's own parsing and validation. ``netgpt serve`` wraps the app in it.
    """

    def __init__(self, app: Any) -> None:
        from gateway.api.responses import create_response  # it imports this module

        self.app = app
        # with CORS on, a browser's request (it sends Origin) goes through the app's middleware
        self._cors = bool(getattr(getattr(app, "state", None), "cors", False))
        self._routes = {CHAT_PATH: chat_completions, RESPONSES_PATH: create_response}

    def __getattr__(self, name: str) -> Any:  # app.state and friends stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if (
            handler is None
            or scope["method"] != "POST"
            or (self._cors and any(name == b"origin" for name, _ in scope["headers"]))
        ):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # what the app sets: request.app.state
        request = Request(scope, receive, send)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            response = await handler(request)
            await response(scope, receive, tracked)
        except ClientDisconnect:
            # gone before its body arrived (or the server is shutting down): nobody to answer
            self.app.state.metrics.requests.labels("none", "client_disconnected", "499").inc()
            return
        except asyncio.CancelledError:
            if started or not self.app.state.drain.draining:
                raise
            # uvicorn cancelled it: the shutdown grace ran out. An envelope the client can act
            # on (retry elsewhere) instead of uvicorn's bare 500
            self.app.state.metrics.requests.labels("none", "shutting_down", "503").inc()
            error = ShuttingDown("the gateway is shutting down and this request outlived its grace "
                                 "period (NETGPT_SHUTDOWN_GRACE_S); retry it")
            await envelope_response(error, request_id(request))(scope, receive, send)
        except Exception as exc:
            if started:
                raise  # mid-stream: the server closes the connection, as without the lane
            response = await unexpected_error_handler(request, exc)
            await response(scope, receive, send)
