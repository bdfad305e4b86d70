"""Build the dataset record of a cloud-routed (or shadow) request, as a plain dict.

``gateway.dataset`` validates it into its versioned, ``extra="forbid"`` model, redacts message
text and writes it; this module only gathers what the request context already holds.
Headers are never part of a record.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.ports import CloudAnswer
from gateway.service.context import RequestContext

_NOT_STORED = ("stream", "stream_options")


def _draft_part(ctx: RequestContext) -> dict[str, Any] | None:
    if ctx.draft is None:
        return None
    check, features = ctx.draft_check, ctx.features
    return {
        "message": ctx.draft.message,
        "finish_reason": ctx.draft.finish_reason,
        "schema_valid": bool(check and check.valid),
        "schema_error": check.error if check else None,
        "mean_logprob": features.mean_logprob if features else None,
        "min_logprob": features.min_logprob if features else None,
        "n_tokens": features.n_tokens if features else None,
        "samples": ctx.samples.to_dict() if ctx.samples is not None else None,
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
    ctx: RequestContext,
    *,
    kind: str,
    answer: CloudAnswer,
    cloud_schema_valid: bool | None,
    price_per_token: tuple[float, float],
    models: tuple[str, str],
) -> dict[str, Any]:
    return {
        "id": f"{ctx.request_id}:{kind}",
        "request_id": ctx.request_id,
        "kind": kind,
        "created_at": ctx.created_at,
        "route": ctx.route,
        "reason": ctx.reason,
        "score": ctx.score,
        "threshold": ctx.threshold,
        "request": {k: v for k, v in ctx.raw.items() if k not in _NOT_STORED},
        "edge_draft": _draft_part(ctx),
        "cloud_response": _cloud_part(answer.response),
        "cloud_schema_valid": cloud_schema_valid,
        "network": ctx.network.as_dict(),
        "price": {
            "input_per_mtok": price_per_token[0] * 1e6,
            "output_per_mtok": price_per_token[1] * 1e6,
        },
        "latency": {
            "edge_s": ctx.edge_s,
            "cloud_s": ctx.cloud_s,
            "total_s": time.perf_counter() - ctx.started,
        },
        "tokens": {"input": answer.input_tokens, "output": answer.output_tokens},
        "cost_usd": answer.cost_usd,
        "models": {"edge": models[0], "cloud": models[1]},
    }
