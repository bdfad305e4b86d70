"""``EdgeClient``: the gateway's client of the edge model (vLLM, llama-server or OpenAI-compatible).

It asks for one complete, non-streamed, bounded answer with token log-probabilities (the score
needs the whole draft; the request is shaped per flavour by :mod:`edge_worker.flavors`, the
flavour detected from ``GET /models`` when ``NETGPT_EDGE_FLAVOR`` is unset) over a single shared
keep-alive pool, and maps every failure onto
``gateway.errors`` (connect → ``UpstreamConnectError``, timeout → ``UpstreamTimeout``, HTTP error
or a body that is not a chat.completion → ``UpstreamStatusError``). No retries: the edge is on
the local network and the cloud is the fallback.

    client = EdgeClient(settings)
    draft = await client.draft({"messages": [...], "tools": [...]})
    draft.token_logprobs  # [-0.05, -0.01, ...]
    await client.aclose()
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from edge_worker.flavors import (
    Flavor,
    Sampling,
    detect_flavor,
    effective_strategy,
    recover_prefilled_call,
    shape_request,
    wants_prefill,
)
from gateway.config import EdgeSettings, Settings
from gateway.errors import UpstreamError
from gateway.infra.upstream_http import (
    JSON_HEADERS,
    connector,
    parse_completion,
    status_error,
    transport_error,
)
from gateway.ports import EdgeDraft


class EdgeClient:
    """Implements ``gateway.ports.EdgeBackend``; build one per app, close it with ``aclose()``."""

    def __init__(self, settings: Settings | EdgeSettings) -> None:
        edge = settings.edge if isinstance(settings, Settings) else settings
        self.base_url = str(edge.base_url).rstrip("/")
        self.model = edge.model
        self.top_logprobs = edge.top_logprobs
        self.flavor: Flavor | None = edge.flavor
        self._configured_flavor = edge.flavor is not None
        self._detect_after = 0.0  # monotonic time of the next detection attempt
        self.call_prefill = edge.call_prefill
        self.call_strategy = edge.call_strategy
        self.draft_max_tokens = edge.draft_max_tokens
        self.draft_stop = edge.draft_stop
        self._max_connections = edge.max_connections
        self._secret = edge.api_key.get_secret_value() if edge.api_key else None
        self._headers = dict(JSON_HEADERS)
        if self._secret:
            self._headers["authorization"] = f"Bearer {self._secret}"
        self._timeout = aiohttp.ClientTimeout(
            total=edge.timeout_s, sock_connect=edge.connect_timeout_s
        )
        self._ping_timeout = aiohttp.ClientTimeout(
            total=edge.timeout_s, sock_connect=edge.connect_timeout_s
        )
        self._target = self.base_url.split("://", 1)[-1].split("/", 1)[0]
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"EdgeClient(base_url={self.base_url!r}, model={self.model!r})"

    def _client(self) -> aiohttp.ClientSession:
        # built on first use, inside the running loop, then shared by every request
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=connector(self._max_connections),
                headers=self._headers,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                auto_decompress=True,
            )
        return self._session

    def request_body(
        self, body: dict[str, Any], sampling: Sampling | None = None
    ) -> dict[str, Any]:
        """The body sent upstream: the caller's fields shaped for this edge's flavour."""
        return shape_request(
            body, flavor=self.flavor or "openai", model=self.model,
            top_logprobs=self.top_logprobs, draft_max_tokens=self.draft_max_tokens,
            call_prefill=self.call_prefill, stop=self.draft_stop,
            call_strategy=self.call_strategy, sampling=sampling,
        )

    async def draft(self, body: dict[str, Any]) -> EdgeDraft:
        """One complete answer with log-probabilities; raises ``UpstreamError`` subclasses."""
        return await self._call(body, None)

    async def sample(self, body: dict[str, Any], n: int, temperature: float, seed: int) -> EdgeDraft:
        """``n`` sampled answers shaped as the draft is (prefill or guided call, cap, stops) but
        at ``temperature``, in one request (``n`` choices; llama-server processes the prompt
        once for all of them and needs ``--parallel`` ≥ n); raises ``UpstreamError``."""
        return await self._call(body, Sampling(n, temperature, seed))

    async def _call(self, body: dict[str, Any], sampling: Sampling | None) -> EdgeDraft:
        if self.flavor is None and time.monotonic() >= self._detect_after:
            await self.detect()
        data = orjson.dumps(self.request_body(body, sampling))
        started = time.perf_counter()
        try:
            async with self._client().post(
                self.base_url + "/chat/completions", data=data, timeout=self._timeout
            ) as resp:
                ttfb = time.perf_counter() - started
                raw = await resp.read()
                status = resp.status
                headers = resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("edge", exc, self._target)[0] from None
        latency = time.perf_counter() - started
        if status >= 300:
            raise status_error("edge", status, raw, headers, self._secret)
        response = parse_completion("edge", raw, self._secret)
        flavor = self.flavor or "openai"
        if (flavor == "vllm" and wants_prefill(body, self.call_prefill)
                and effective_strategy(self.call_strategy, flavor, self.call_prefill) == "prefill"):
            # vLLM's tool parser never sees the prefilled opener: a call may be left in content
            response = _recover_each(response, self.call_prefill)
        return EdgeDraft(
            response=response,
            token_logprobs=token_logprobs(response),
            latency_s=latency,
            response_bytes=len(raw),
            ttfb_s=ttfb,
        )

    async def ping(self) -> float:
        """``GET /models``: seconds it took; raises ``UpstreamError`` when the edge is not up.

        Also learns the edge's flavour from the answer when it is not configured.
        """
        started = time.perf_counter()
        try:
            async with self._client().get(
                self.base_url + "/models", timeout=self._ping_timeout
            ) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    raise status_error("edge", resp.status, raw, resp.headers, self._secret)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("edge", exc, self._target)[0] from None
        elapsed = time.perf_counter() - started
        if not self._configured_flavor:
            self._learn_flavor(raw)
        return elapsed

    async def detect(self) -> Flavor | None:
        """Learn the flavour from ``GET /models`` (once; retried at most every 10 s on failure)."""
        self._detect_after = time.monotonic() + 10.0
        try:
            await self.ping()
        except UpstreamError:
            return None
        return self.flavor

    def _learn_flavor(self, raw: bytes) -> None:
        try:
            listing = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        self.flavor = detect_flavor(listing)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _recover_each(response: dict[str, Any], call_prefill: str) -> dict[str, Any]:
    """``recover_prefilled_call`` on every choice (sampled drafts come as several)."""
    choices = response.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        return recover_prefilled_call(response, call_prefill)
    fixed = [recover_prefilled_call({"choices": [c]}, call_prefill)["choices"][0] for c in choices]
    return {**response, "choices": fixed}


def token_logprobs(response: dict[str, Any]) -> list[float]:
    """``choices[0].logprobs.content[*].logprob``; [] when the upstream sent none."""
    choices = response.get("choices") or [{}]
    logprobs = choices[0].get("logprobs") if isinstance(choices[0], dict) else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return []
    # one comprehension: this runs over every generated token of every draft
    return [
        float(value)
        for item in content
        if isinstance(item, dict)
        and isinstance(value := item.get("logprob"), _NUMBER)
        and not isinstance(value, bool)  # bool is an int, not a log-prob
    ]


_NUMBER = (float, int)
