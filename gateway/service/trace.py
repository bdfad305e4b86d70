"""Build the dataset record of a cloud-routed (or shadow) request, as a plain dict.

``gateway.dataset`` validates it into its versioned, ``extra="forbid"`` model, redacts message
text and writes it; this module only gathers what the request path already has in hand.
Headers are never part of a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.ports import EdgeDraft
from gateway.routing.schema_guard import SchemaCheck
from gateway.routing.score import DraftFeatures
from gateway.routing.state import NetworkState

_NOT_STORED = ("stream", "stream_options")


@dataclass(slots=True)
class RouteTrace:
    """What one request went through; filled in along the request path."""

    request_id: str
    started: float  # time.perf_counter() at arrival
    created_at: float  # time.time() at arrival
    network: NetworkState
    threshold: float
    route: str = "edge"
    reason: str = ""
    score: float | None = None
    draft: EdgeDraft | None = None
    draft_check: SchemaCheck | None = None
    features: DraftFeatures | None = None
    edge_s: float | None = None
    cloud_s: float | None = None
    # (tokens, usd) of the answer the client got, for per-key limits (gateway/tenancy)
    on_usage: Callable[[int, float], None] | None = None
    expert: str | None = None  # the edge expert that drafted
    plan: Any = None  # gateway.experts.router.Plan: where placement sent the request


def _draft_part(trace: RouteTrace) -> dict[str, Any] | None:
    if trace.draft is None:
        return None
    check, features = trace.draft_check, trace.features
    return {
        "message": trace.draft.message,
        "finish_reason": trace.draft.finish_reason,
        "schema_valid": bool(check and check.valid),
        "schema_error": check.error if check else None,
        "mean_logprob": features.mean_logprob if features else None,
        "min_logprob": features.min_logprob if features else None,
    }


def _cloud_part(response: dict[str, Any]) -> dict[str, Any]:
    choice = (response.get("choices") or [{}])[0]
    return {
        "message": choice.get("message") or {},
        "finish_reason": choice.get("finish_reason"),
        "model": response.get("model"),
        "usage": response.get("usage"),
    }


def build_record(
    trace: RouteTrace,
    *,
    kind: str,
    request: dict[str, Any],
    cloud_response: dict[str, Any] | None,
    cloud_schema_valid: bool | None,
    cost_usd: float,
    input_tokens: int,
    output_tokens: int,
    price_per_token: tuple[float, float],
    models: tuple[str, str],
) -> dict[str, Any]:
    return {
        "id": f"{trace.request_id}:{kind}",
        "request_id": trace.request_id,
        "kind": kind,
        "created_at": trace.created_at,
        "route": trace.route,
        "reason": trace.reason,
        "score": trace.score,
        "threshold": trace.threshold,
        "request": {k: v for k, v in request.items() if k not in _NOT_STORED},
        "edge_draft": _draft_part(trace),
        "cloud_response": _cloud_part(cloud_response) if cloud_response is not None else None,
        "cloud_schema_valid": cloud_schema_valid,
        "network": trace.network.as_dict(),
        "price": {
            "input_per_mtok": price_per_token[0] * 1e6,
            "output_per_mtok": price_per_token[1] * 1e6,
        },
        "latency": {
            "edge_s": trace.edge_s,
            "cloud_s": trace.cloud_s,
            "total_s": time.perf_counter() - trace.started,
        },
        "tokens": {"input": input_tokens, "output": output_tokens},
        "cost_usd": cost_usd,
        "models": {"edge": models[0], "cloud": models[1]},
    }
