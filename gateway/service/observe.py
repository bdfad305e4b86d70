"""The observe stage: what every answer leaves behind — routing headers, metrics, the request
log line, the budget, the network estimates, per-key usage and the dataset record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

from gateway.config import Settings
from gateway.experts.placer import ExpertPlacer
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.ports import CloudAnswer, NetworkView, RecordSink
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls
from gateway.service.context import RequestContext
from gateway.service.record import build_record

log = logging.getLogger("netgpt.request")


class Budget(Protocol):
    def record(self, route: str, cost_usd: float, now: float) -> None: ...

    def exhausted(self) -> bool: ...


def observe_link(
    network: NetworkView, target: str, nbytes: int, latency_s: float, ttfb_s: float, min_bytes: int
) -> None:
    """Feed a transfer to the bandwidth estimate when it was large enough to say something."""
    if nbytes >= min_bytes:
        network.observe_transfer(target, nbytes, max(latency_s - ttfb_s, 1e-6))


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


@dataclass(slots=True)
class Models:
    """The model names the service asks each side for; the edge one switches live
    (``POST /v1/router/edge-model``)."""

    edge: str
    cloud: str


class Observer:
    def __init__(
        self,
        settings: Settings,
        *,
        models: Models,
        metrics: GatewayMetrics,
        inputs: LiveInputs,
        experts: ExpertPlacer,
        validators: ValidatorCache,
        sink: RecordSink | None,
        budget: Budget | None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.metrics = metrics
        self.inputs = inputs
        self.experts = experts
        self.validators = validators
        self.sink = sink
        self.budget = budget
        # labelled children bound once: each .labels() call takes a lock and builds a key
        self.edge_duration = metrics.upstream_duration.labels("edge")
        self.cloud_duration = metrics.upstream_duration.labels("cloud")
        self._answered: dict[tuple[str, str, int], Counter] = {}
        self._route_duration: dict[str, Histogram] = {}

    def headers(self, ctx: RequestContext) -> dict[str, str]:
        headers = {
            "x-netgpt-route": ctx.route,
            "x-netgpt-score": _fmt(ctx.score),
            "x-netgpt-threshold": _fmt(ctx.threshold),
            "x-netgpt-reason": ctx.reason,
            "x-request-id": ctx.request_id,
        }
        if ctx.expert is not None:
            headers["x-netgpt-expert"] = ctx.expert
        return headers

    def budget_record(self, route: str, cost: float) -> None:
        if self.budget is not None:
            self.budget.record(route, cost, time.time())

    def finish(self, ctx: RequestContext, status: int) -> None:
        """Count the answered request and log it (once per request)."""
        elapsed = time.perf_counter() - ctx.started
        key = (ctx.route, ctx.reason, status)
        answered = self._answered.get(key)
        if answered is None:  # a handful of (route, reason, status) combinations exist
            answered = self._answered[key] = self.metrics.requests.labels(ctx.route, ctx.reason, str(status))
        answered.inc()
        duration = self._route_duration.get(ctx.route)
        if duration is None:
            duration = self._route_duration[ctx.route] = self.metrics.request_duration.labels(ctx.route)
        duration.observe(elapsed)
        if ctx.plan is not None and ctx.plan.slo.any:
            self.experts.finished(ctx.plan, ctx.route, ctx.expert, elapsed, ctx.draft)
        if self.settings.log_requests:
            log.info("chat completion", extra=_log_fields(ctx, status, elapsed))

    def after_cloud(self, ctx: RequestContext, answer: CloudAnswer, *, kind: str) -> None:
        """Metrics, budget, network observation, usage and the dataset record of a cloud
        answer (``kind``: ``routed``, or ``shadow`` for exploration)."""
        self.cloud_duration.observe(answer.latency_s)
        self.metrics.cloud_cost.inc(answer.cost_usd)
        self.metrics.cloud_tokens.labels("input").inc(answer.input_tokens)
        self.metrics.cloud_tokens.labels("output").inc(answer.output_tokens)
        network = self.inputs.network
        observe_link(network, "cloud", answer.response_bytes, answer.latency_s, answer.ttfb_s,
                     self.settings.network.min_transfer_bytes)
        network.observe_compute("cloud", max(answer.ttfb_s - ctx.network.cloud.rtt_s, 0.0))
        # a shadow call costs money but answers no request: the budget counts it apart
        self.budget_record("shadow" if kind == "shadow" else "cloud", answer.cost_usd)
        if kind != "shadow" and ctx.on_usage is not None:
            ctx.on_usage(answer.input_tokens + answer.output_tokens, answer.cost_usd)
        message = (answer.response.get("choices") or [{}])[0].get("message") or {}
        check = check_tool_calls(
            message.get("tool_calls"), ctx.schemas, self.validators, tool_choice=ctx.raw.get("tool_choice")
        )
        if not check.valid:
            self.metrics.schema_invalid.labels("cloud").inc()
        if self.sink is not None:
            self.sink.submit(build_record(
                ctx,
                kind=kind,
                answer=answer,
                cloud_schema_valid=check.valid,
                price_per_token=self.inputs.prices(),
                models=(self.experts.model_of(ctx.expert) or self.models.edge, self.models.cloud),
            ))


def _log_fields(ctx: RequestContext, status: int, elapsed: float) -> dict[str, Any]:
    return {
        "request_id": ctx.request_id,
        "route": ctx.route,
        "reason": ctx.reason,
        "score": ctx.score,
        "threshold": round(ctx.threshold, 4),
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "edge_ms": None if ctx.edge_s is None else round(ctx.edge_s * 1000, 3),
        "cloud_ms": None if ctx.cloud_s is None else round(ctx.cloud_s * 1000, 3),
    }
