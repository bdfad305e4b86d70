"""The request context the stages share, and the outcome the service hands the API layer.

One :class:`RequestContext` per request, built once by ``ChatService.prepare`` (tool schemas,
flags, the forced route and τ are computed there and nowhere else) and filled in stage by stage.
The dataset record (``gateway.service.record``) is written from it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import UpstreamError
from gateway.experts.slo import NO_SLO, Slo
from gateway.ports import EdgeDraft
from gateway.protocol.chat import ChatCompletionRequest
from gateway.routing.schema_guard import SchemaCheck
from gateway.routing.score import DraftFeatures
from gateway.routing.state import NetworkState
from gateway.routing.verifier import SampleSummary


@dataclass(slots=True)
class RequestInfo:
    """What the API layer knows of a request besides its body."""

    request_id: str
    body_bytes: int
    started: float = field(default_factory=time.perf_counter)
    slo: Slo = NO_SLO  # headers x-slo-ttft-ms, x-slo-tpot-ms, x-netgpt-deadline-ms or NETGPT_SLO_*
    on_usage: Callable[[int, float], None] | None = None  # (tokens, usd): per-key limits


@dataclass(slots=True)
class RequestContext:
    """One request on its way through plan -> draft -> judge -> answer -> observe."""

    raw: dict[str, Any]  # the request as it arrived (forwarded upstream as it is)
    request: ChatCompletionRequest
    request_id: str
    started: float  # time.perf_counter() at arrival
    created_at: float  # time.time() at arrival
    body_bytes: int
    slo: Slo
    schemas: dict[str, Any]  # tool name -> JSON Schema of its parameters
    forced: str | None  # "edge" | "cloud" when the client named a side
    stream: bool
    include_usage: bool
    network: NetworkState
    threshold: float
    cloud_latency_s: float
    # (tokens, usd) of the answer the client got, for per-key limits (gateway/tenancy)
    on_usage: Callable[[int, float], None] | None = None
    route: str = "edge"
    reason: str = ""
    score: float | None = None
    plan: Any = None  # gateway.experts.placer.Plan: where placement sent the request
    expert: str | None = None  # the edge expert that drafted
    draft: EdgeDraft | None = None
    draft_check: SchemaCheck | None = None
    features: DraftFeatures | None = None
    offload: bool = False  # the draft asked for the cloud's help
    skipped: bool = False  # the pre-draft prediction sent it straight to the cloud
    verifier_request: Any = None  # gateway.routing.verifier.RequestContext, when computed
    samples: SampleSummary | None = None  # sampled drafts' agreement (NETGPT_EDGE_SAMPLES)
    edge_error: UpstreamError | None = None
    edge_s: float | None = None
    cloud_s: float | None = None

    @property
    def draft_usable(self) -> bool:
        """A schema-valid draft that did not ask for help: the answer should the cloud fail."""
        check = self.draft_check
        return self.draft is not None and not self.offload and bool(check and check.valid)


@dataclass(slots=True, frozen=True)
class StreamError:
    """An upstream broke mid-answer: the encoder ends the stream with this error, never with
    a marker that makes the truncated answer look complete."""

    envelope: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    """What the service answered; the API layer encodes it (JSON, SSE, error envelope).

    Exactly one of ``response`` (a whole ``chat.completion``: the edge draft or a cloud answer,
    sent as JSON or replayed as SSE when ``stream``), ``items`` (a cloud stream relayed as it
    arrives: chunk payloads as bytes, then possibly a :class:`StreamError`) or ``error`` (an
    error body) is set."""

    status: int
    headers: dict[str, str]
    response: dict[str, Any] | None = None
    items: AsyncIterator[bytes | StreamError] | None = None
    error: dict[str, Any] | None = None
    stream: bool = False
    include_usage: bool = False
