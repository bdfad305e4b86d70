"""The small Protocols the service talks to, and the values that cross them.

Adapters (``edge_worker``, ``cloud_adapter``, ``gateway.network``, ``gateway.dataset``) implement
these; only ``gateway.app`` wires concrete ones in. Each has a fake in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.routing.state import NetworkState


@dataclass(slots=True)
class EdgeDraft:
    """A complete answer from the edge model, with the log-probabilities of its tokens."""

    response: dict[str, Any]  # the chat.completion object as vLLM returned it
    token_logprobs: list[float]
    latency_s: float
    response_bytes: int
    ttfb_s: float = 0.0

    @property
    def message(self) -> dict[str, Any]:
        choices = self.response.get("choices") or [{}]
        msg: dict[str, Any] = choices[0].get("message") or {}
        return msg

    @property
    def choice_tool_calls(self) -> list[list[dict[str, Any]] | None]:
        """Each choice's ``tool_calls`` (None where a choice has none): the sampled drafts of
        ``EdgeBackend.sample`` come as the choices of one response."""
        out: list[list[dict[str, Any]] | None] = []
        for choice in self.response.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            out.append(calls if isinstance(calls, list) else None)
        return out

    @property
    def finish_reason(self) -> str | None:
        choices = self.response.get("choices") or [{}]
        reason: str | None = choices[0].get("finish_reason")
        return reason


@dataclass(slots=True)
class CloudAnswer:
    response: dict[str, Any]  # chat.completion object
    latency_s: float
    cost_usd: float
    input_tokens: int
    output_tokens: int
    response_bytes: int = 0
    ttfb_s: float = 0.0
    attempts: int = 1


@dataclass(slots=True)
class CloudStream:
    """An open streamed cloud answer: SSE ``data:`` payloads (bytes, without the prefix)."""

    chunks: AsyncIterator[bytes]
    ttfb_s: float
    attempts: int = 1
    # filled in when the stream ends
    assembled: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0


class EdgeBackend(Protocol):
    async def draft(self, body: dict[str, Any]) -> EdgeDraft:
        """Ask the edge model for a complete (non-streamed) answer with log-probabilities.

        Raises ``UpstreamError`` subclasses (connect, timeout, status)."""
        ...

    async def sample(self, body: dict[str, Any], n: int, temperature: float, seed: int) -> EdgeDraft:
        """``n`` answers shaped as the draft is, sampled at ``temperature`` from ``seed``, as
        the choices of one response (self-consistency); raises ``UpstreamError``."""
        ...


class CloudBackend(Protocol):
    async def complete(self, body: dict[str, Any]) -> CloudAnswer:
        """One non-streamed completion, with retries; raises ``UpstreamError`` subclasses."""
        ...

    async def stream(self, body: dict[str, Any]) -> CloudStream:
        """Open a streamed completion (retries happen before the first byte only)."""
        ...


class NetworkView(Protocol):
    def snapshot(self) -> NetworkState:
        """The current network estimates; never does I/O."""
        ...

    def observe_transfer(self, target: str, nbytes: int, transfer_s: float) -> None:
        """Passive bandwidth sample from a real upstream response."""
        ...

    def observe_compute(self, target: str, seconds: float) -> None:
        """The upstream's measured compute time (latency net of network)."""
        ...


class RecordSink(Protocol):
    def submit(self, record: dict[str, Any]) -> None:
        """Queue a dataset record; never blocks the request path."""
        ...


class Background(Protocol):
    """A component with work of its own in the background (probes, scrapes, flushes): the
    composition root starts each in the lifespan and stops each, in reverse order, at
    shutdown; ``stop`` never hangs (``gateway.infra.tasks.cancel_and_wait``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
