"""aiohttp helpers for upstream clients: the connection pool, and aiohttp failures mapped onto
the gateway's error tree (``gateway.errors``) with messages that are safe to show.

A leaf module like ``gateway.errors``: both upstream adapters (``edge_worker.client`` and
``cloud_adapter.client``) import it, and adapters never import each other (ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    Upstream,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}
# how much of a non-JSON error body goes into a message
_SNIPPET = 200


def connector(max_connections: int) -> aiohttp.TCPConnector:
    """One keep-alive pool per upstream; DNS answers cached so a hot path never resolves."""
    return aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=max_connections, ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )


def redact(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (an upstream may echo the key it rejected)."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text


def transport_error(upstream: Upstream, exc: BaseException, target: str) -> tuple[UpstreamError, bool]:
    """The gateway error for an aiohttp/asyncio failure, and whether a retry may help.

    Connect failures and disconnects before the answer are retryable; a read timeout is not
    (it already spent the whole read budget).
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(upstream, f"connect to {target} timed out"), True
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return UpstreamTimeout(upstream, f"{target} did not answer in time"), False
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectError(upstream, f"cannot connect to {target}"), True
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamConnectError(upstream, f"{target} closed the connection without answering"), True
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return UpstreamConnectError(upstream, f"the connection to {target} broke ({type(exc).__name__})"), True
    return UpstreamConnectError(upstream, f"request to {target} failed ({type(exc).__name__})"), False


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(
    upstream: Upstream, status: int, raw: bytes, headers: Mapping[str, str], secret: str | None
) -> UpstreamStatusError:
    """An upstream's HTTP error answer, with its own message (OpenAI or old vLLM envelope)."""
    text = redact(raw.decode("utf-8", "replace"), secret)
    body: dict[str, Any] | None = None
    message = text[:_SNIPPET].strip() or "(empty body)"
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif isinstance(error, str):
            message = error
        elif isinstance(parsed.get("message"), str):  # vLLM < 0.9: {"object": "error", ...}
            message = parsed["message"]
    return UpstreamStatusError(
        upstream, status, message, body=body, retry_after_s=retry_after_s(headers.get("retry-after"))
    )


def parse_completion(upstream: Upstream, raw: bytes, secret: str | None) -> dict[str, Any]:
    """A 2xx body that must be a chat.completion object; 502-style error when it is not."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("choices"), list):
        snippet = redact(raw[:80].decode("utf-8", "replace"), secret)
        raise UpstreamStatusError(
            upstream, 502, f"answered 2xx with a body that is not a chat.completion: {snippet!r}"
        )
    return parsed
