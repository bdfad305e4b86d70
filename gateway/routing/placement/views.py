"""What placement sees and decides: immutable views of experts, the request, in-flight requests.

The gateway (or the simulator) builds these from its live state;
``gateway.routing.placement.place`` turns them into a ``Placement``. Nothing here reads a clock or a socket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExpertView:
    """One edge expert as the gateway sees it now."""

    name: str
    quality: float  # P(acceptable answer) of this expert for this request's type, 0..1
    in_flight: int  # the gateway's own exact count (all replicas, shared through Redis)
    running: float | None = None  # vllm:num_requests_running / llamacpp:requests_processing
    waiting: float | None = None  # vllm:num_requests_waiting / llamacpp:requests_deferred
    kv_usage: float | None = None  # vllm:kv_cache_usage_perc (0..1); None for llama.cpp
    slots: int | None = None  # concurrent slots (llama.cpp --parallel); None = unknown
    healthy: bool = True
    stale: bool = False  # gauges older than the staleness limit: use in_flight only
    context_limit: int | None = None  # tokens (prompt + output) one request may use
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RequestView:
    """The request to place: its size and its latency objectives (all optional)."""

    prompt_tokens: int
    expected_output_tokens: int
    slo_ttft_s: float | None = None  # x-slo-ttft-ms
    slo_tpot_s: float | None = None  # x-slo-tpot-ms
    deadline_s: float | None = None  # x-netgpt-deadline-ms (end to end)
    domain: str | None = None  # tool domain / request type (for quality lookups and tags)


@dataclass(frozen=True, slots=True)
class InFlight:
    """A request already running on an expert, as the impact estimator needs it.

    ``remaining_tokens``: output tokens it still has to produce (an estimate is fine, e.g.
    expected output minus what it produced: ``impact.remaining_tokens``). ``slack_s``: seconds
    left before it misses its own SLO: before its first token, arrival + TTFT objective (+ TPOT
    objective × expected output) − now; after it, first token time + TPOT objective × expected
    output − now. None when it has no SLO.
    """

    remaining_tokens: float
    slack_s: float | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """The decision and what it predicts."""

    expert: str | None  # None: no expert can take it (all unhealthy or over context)
    predicted_ttft_s: float
    predicted_total_s: float
    added_latency_s: float  # sum of extra latency this placement causes to requests in flight
    added_slo_misses: float  # expected number of in-flight requests pushed past their SLO
    meets_slo: bool  # the predictions meet every SLO the request carries
    policy: str
    reason: str  # best_qos, least_loaded, round_robin, weighted_score, best_fit_headroom,
    # learned, no_expert_meets_slo, no_eligible_expert
    p_meet_slo: float = 1.0  # predicted probability of meeting the request's SLO
    quality: float = 0.0  # the chosen expert's quality for this request
