"""``CloudClient``: the gateway's client of the cloud model (any OpenAI-compatible endpoint).

Bearer auth with ``NETGPT_CLOUD_API_KEY`` (the key is never logged, echoed, or put in an error or
a repr: upstream messages that quote it are redacted), separate connect and read timeouts, one
shared keep-alive pool, and bounded retries (``max_retries``) with exponential backoff and full
jitter on connect errors, 429 and 5xx, honouring ``Retry-After`` (capped by ``backoff_max_s``).
A 4xx other than 429 is the request's fault and is raised at once.

    client = CloudClient(settings)
    answer = await client.complete(body)          # CloudAnswer, cost from usage
    stream = await client.stream(body)            # CloudStream
    async for payload in stream.chunks: ...       # raw SSE data payloads (bytes)
    stream.assembled, stream.cost_usd             # set when the stream has ended
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import orjson

from cloud_adapter.assemble import StreamAssembler
from cloud_adapter.pricing import PriceFn, cost_usd, flat_price, usage_tokens
from cloud_adapter.sse import sse_payloads
from gateway.config import CloudSettings, Settings
from gateway.errors import UpstreamError, UpstreamStatusError
from gateway.infra.upstream_http import (
    JSON_HEADERS,
    connector,
    parse_completion,
    status_error,
    transport_error,
)
from gateway.ports import CloudAnswer, CloudStream

log = logging.getLogger("netgpt.cloud")
T = TypeVar("T")
DONE = b"[DONE]"


class _Failed(Exception):
    """One failed attempt: the error to raise, and whether another attempt may help."""

    def __init__(self, error: UpstreamError, retryable: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable


class CloudClient:
    """Implements ``gateway.ports.CloudBackend``; build one per app, close it with ``aclose()``."""

    def __init__(
        self,
        settings: Settings | CloudSettings,
        *,
        price: PriceFn | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        cloud = settings.cloud if isinstance(settings, Settings) else settings
        self.base_url = str(cloud.base_url).rstrip("/")
        self.model = cloud.model
        self.max_retries = cloud.max_retries
        self.backoff_base_s = cloud.backoff_base_s
        self.backoff_max_s = cloud.backoff_max_s
        self.price: PriceFn = price or flat_price(cloud)
        self._jitter = jitter
        self._api_key = cloud.api_key  # SecretStr: its repr is '**********'
        self._max_connections = cloud.max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=cloud.connect_timeout_s, sock_connect=cloud.connect_timeout_s,
            sock_read=cloud.read_timeout_s,
        )
        self._target = self.base_url.split("://", 1)[-1].split("/", 1)[0]
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"CloudClient(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _client(self) -> aiohttp.ClientSession:
        # built on first use, inside the running loop, then shared by every request
        if self._session is None or self._session.closed:
            headers = dict(JSON_HEADERS)
            if self._secret:
                headers["authorization"] = f"Bearer {self._secret}"
            self._session = aiohttp.ClientSession(
                connector=connector(self._max_connections), headers=headers
            )
        return self._session

    # -- bodies ------------------------------------------------------------------------------

    def request_body(self, body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
        """The caller's fields with our model; streamed bodies always ask for the usage chunk
        (the cost needs it)."""
        out = dict(body)
        out["model"] = self.model
        out["stream"] = stream
        if stream:
            out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            out.pop("stream_options", None)
        return out

    # -- retries -----------------------------------------------------------------------------

    def backoff_s(self, attempt: int, error: UpstreamError) -> float:
        """Wait before attempt ``attempt + 1``: Retry-After when given, else full jitter."""
        if isinstance(error, UpstreamStatusError) and error.retry_after_s is not None:
            return min(error.retry_after_s, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return self._jitter() * ceiling

    async def _retrying(self, attempt_fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_fn(), attempt
            except _Failed as failed:
                if not failed.retryable or attempt > self.max_retries:
                    raise failed.error from None
                delay = self.backoff_s(attempt, failed.error)
                log.warning(
                    "cloud attempt %d/%d failed: %s; retrying in %.3fs",
                    attempt, self.max_retries + 1, failed.error.message, delay,
                )
                await asyncio.sleep(delay)

    async def _post(self, data: bytes) -> aiohttp.ClientResponse:
        """POST; a response with status < 300 (the caller releases it) or ``_Failed``."""
        try:
            resp = await self._client().post(
                self.base_url + "/chat/completions", data=data, timeout=self._timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Failed(*transport_error("cloud", exc, self._target)) from None
        if resp.status < 300:
            return resp
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        finally:
            resp.release()
        error = status_error("cloud", resp.status, raw, resp.headers, self._secret)
        raise _Failed(error, resp.status == 429 or resp.status >= 500)

    # -- CloudBackend ------------------------------------------------------------------------

    async def complete(self, body: dict[str, Any]) -> CloudAnswer:
        """One non-streamed completion, with retries. ``latency_s``/``ttfb_s`` time the attempt
        that succeeded (they feed network estimates); ``attempts`` counts them all."""
        data = orjson.dumps(self.request_body(body, stream=False))
        now = time.time()

        async def attempt() -> tuple[dict[str, Any], float, float, int]:
            started = time.perf_counter()
            resp = await self._post(data)
            ttfb = time.perf_counter() - started
            try:
                raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _Failed(*transport_error("cloud", exc, self._target)) from None
            finally:
                resp.release()
            response = parse_completion("cloud", raw, self._secret)
            return response, time.perf_counter() - started, ttfb, len(raw)

        (response, latency, ttfb, nbytes), attempts = await self._retrying(attempt)
        input_tokens, output_tokens = usage_tokens(response.get("usage"))
        return CloudAnswer(
            response=response,
            latency_s=latency,
            cost_usd=cost_usd(self.price, input_tokens, output_tokens, now),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            response_bytes=nbytes,
            ttfb_s=ttfb,
            attempts=attempts,
        )

    async def stream(self, body: dict[str, Any]) -> CloudStream:
        """Open a streamed completion. Retries happen until the first event has arrived, never
        after: the caller may already have relayed bytes. ``chunks`` yields each SSE ``data:``
        payload (bytes, the usage chunk included, ``[DONE]`` left out); when it is exhausted,
        ``assembled`` holds the whole chat.completion and ``cost_usd`` its cost."""
        data = orjson.dumps(self.request_body(body, stream=True))
        now = time.time()

        async def attempt() -> tuple[aiohttp.ClientResponse, AsyncIterator[bytes], bytes, float]:
            started = time.perf_counter()
            resp = await self._post(data)
            events = sse_payloads(resp.content)
            try:
                first = await anext(events)
            except StopAsyncIteration:
                resp.release()
                raise _Failed(
                    UpstreamStatusError("cloud", 502, "the stream ended before any event"), True
                ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                resp.close()
                raise _Failed(*transport_error("cloud", exc, self._target)) from None
            return resp, events, first, time.perf_counter() - started

        (resp, events, first, ttfb), attempts = await self._retrying(attempt)
        out = CloudStream(chunks=_empty(), ttfb_s=ttfb, attempts=attempts)
        out.chunks = self._relay(out, resp, events, first, now)
        return out

    async def _relay(
        self,
        out: CloudStream,
        resp: aiohttp.ClientResponse,
        events: AsyncIterator[bytes],
        first: bytes,
        now: float,
    ) -> AsyncIterator[bytes]:
        assembler = StreamAssembler()
        finished = False
        try:
            payload = first
            while payload != DONE:
                try:
                    assembler.add(orjson.loads(payload))
                except orjson.JSONDecodeError:
                    pass  # relayed as it came; the assembled answer just lacks it
                yield payload
                try:
                    payload = await anext(events)
                except StopAsyncIteration:
                    if assembler.finish_reason is None:
                        # the body ended cleanly but the answer did not (no [DONE], no
                        # finish_reason): a close in mid-answer, not a complete answer
                        raise UpstreamStatusError(
                            "cloud", 502, "the stream ended before the answer was complete"
                        ) from None
                    break
            finished = True
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("cloud", exc, self._target)[0] from None
        finally:
            if finished:
                resp.release()
            else:
                resp.close()  # abandoned or broken: the connection can't be reused
        out.assembled = assembler.result()
        input_tokens, output_tokens = usage_tokens(assembler.usage)
        out.cost_usd = cost_usd(self.price, input_tokens, output_tokens, now)

    async def ping(self) -> float:
        """``GET /models``: seconds it took; raises ``UpstreamError`` when the cloud is not up."""
        started = time.perf_counter()
        try:
            async with self._client().get(self.base_url + "/models", timeout=self._timeout) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    raise status_error("cloud", resp.status, raw, resp.headers, self._secret)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("cloud", exc, self._target)[0] from None
        return time.perf_counter() - started

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator
