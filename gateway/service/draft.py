"""The plan and draft stages: where placement sends the request, and the chosen edge expert's
draft (log-probs on, bounded by the edge flavour's shaping in ``edge_worker``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.config import Settings
from gateway.errors import UpstreamError
from gateway.experts.placer import ExpertPlacer
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.policy.verifier_store import VerifierHolder, request_only_score
from gateway.routing.offload import offload_tool_definition
from gateway.routing.verifier import prepare
from gateway.service.context import RequestContext
from gateway.service.observe import Observer, observe_link


class Drafter:
    def __init__(
        self,
        settings: Settings,
        *,
        experts: ExpertPlacer,
        inputs: LiveInputs,
        metrics: GatewayMetrics,
        observer: Observer,
        verifier: VerifierHolder | None = None,
        edge_model: Callable[[], str] = lambda: "",
    ) -> None:
        self.verifier = verifier
        self.edge_model = edge_model
        self.skip_margin = settings.verifier.skip_margin
        self.experts = experts
        self.inputs = inputs
        self.metrics = metrics
        self.observer = observer
        self.min_transfer_bytes = settings.network.min_transfer_bytes
        r = settings.routing
        self._offload_tool = offload_tool_definition(r.offload_tool) if r.offload_enabled else None

    def plan(self, ctx: RequestContext) -> bool:
        """Place the request (unless the cloud is forced); True when an edge draft is wanted."""
        if ctx.forced == "cloud" or (ctx.forced is None and self._skip(ctx)):
            return False
        plan = ctx.plan = self.experts.plan(ctx.raw, ctx.body_bytes, ctx.slo, ctx.cloud_latency_s)
        return plan.expert is not None and (ctx.forced == "edge" or plan.to_cloud is None)

    def _skip(self, ctx: RequestContext) -> bool:
        """Pre-draft skip: the request-only prediction cannot reach τ with the margin."""
        if self.skip_margin is None or self.verifier is None:
            return False
        model = self.verifier.request_model_for(self.edge_model())
        if model is None:
            return False
        request = ctx.verifier_request = prepare(ctx.raw.get("messages") or (), ctx.raw.get("tools") or ())
        ctx.skipped = request_only_score(model, request.vector) < ctx.threshold - self.skip_margin
        return ctx.skipped

    def edge_body(self, raw: dict[str, Any]) -> dict[str, Any]:
        """What the edge is asked: the request as it came, plus the offload tool when that
        signal is on. The edge flavour shapes the rest (model, stream off, log-probs, cap)."""
        if self._offload_tool is not None and raw.get("tools"):
            return {**raw, "tools": [*raw["tools"], self._offload_tool]}
        return raw

    async def draft(self, ctx: RequestContext) -> None:
        """The draft into ``ctx.draft``; an edge failure into ``ctx.edge_error`` (never raised)."""
        started = time.perf_counter()
        try:
            draft = await self.experts.draft(ctx.plan, self.edge_body(ctx.raw))
        except UpstreamError as exc:
            ctx.edge_error = exc
            self.metrics.upstream_errors.labels("edge", exc.code or "error").inc()
            return
        finally:
            ctx.edge_s = time.perf_counter() - started
            self.observer.edge_duration.observe(ctx.edge_s)
        ctx.draft = draft
        ctx.expert = ctx.plan.expert.name
        observe_link(self.inputs.network, "edge", draft.response_bytes, draft.latency_s, draft.ttfb_s,
                     self.min_transfer_bytes)
