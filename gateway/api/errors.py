"""OpenAI error envelopes for everything that goes wrong at the HTTP edge."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError, RateLimited
from gateway.tenancy.limits import retry_after_header

log = logging.getLogger("netgpt.api")

_HTTP_TYPES = {404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error"}


def envelope_response(error: GatewayError, request_id: str | None = None) -> Response:
    headers = {"x-request-id": request_id} if request_id else None
    if isinstance(error, GatewayError) and error.status == 401:
        headers = (headers or {}) | {"www-authenticate": "Bearer"}
    if isinstance(error, RateLimited):
        headers = (headers or {}) | {"retry-after": retry_after_header(error.retry_after_s)}
    return Response(
        orjson.dumps(error.envelope()),
        status_code=error.status,
        headers=headers,
        media_type="application/json",
    )


async def gateway_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return envelope_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail) if exc.detail else "error"
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}; see GET /v1/models and the README"
    err = GatewayError(message)
    err.status = exc.status_code
    err.type = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
    err.code = str(exc.status_code)
    response = envelope_response(err)
    if exc.headers:  # 405: Allow (RFC 9110 requires it)
        response.headers.update(exc.headers)
    return response


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # Logged by type only; the client gets an envelope, never a traceback.
    log.error(
        "unhandled error",
        extra={"error": type(exc).__name__, "path": request.url.path},
    )
    err = GatewayError("internal error in the gateway; the request id in x-request-id helps us find it")
    return envelope_response(err)
