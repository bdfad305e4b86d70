"""``ChatService``: the request path (ARCHITECTURE.md) as stages over one request context.

    prepare (context built once) -> plan -> draft -> judge -> answer -> observe

``handle`` takes a validated request and returns an :class:`Outcome` (the API layer encodes
it). It talks to the upstreams through the Protocols of ``gateway.ports``; nothing here knows
about HTTP frameworks. Each stage is a small object built once, here, from its own inputs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from gateway.config import Settings
from gateway.experts.placer import ExpertPlacer, no_expert_error
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.policy.verifier_store import VerifierHolder
from gateway.ports import CloudBackend, RecordSink
from gateway.protocol.chat import ChatCompletionRequest
from gateway.routing.schema_guard import ValidatorCache, tool_schemas
from gateway.service.answer import Answerer
from gateway.service.context import Outcome, RequestContext, RequestInfo
from gateway.service.draft import Drafter
from gateway.service.judge import Judge
from gateway.service.observe import Budget, Models, Observer
from gateway.service.shadow import Shadow


class ChatService:
    def __init__(
        self,
        settings: Settings,
        *,
        experts: ExpertPlacer,
        cloud: CloudBackend,
        inputs: LiveInputs,
        metrics: GatewayMetrics,
        sink: RecordSink | None = None,
        budget: Budget | None = None,
        verifier: VerifierHolder | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.experts = experts
        self.inputs = inputs
        self.metrics = metrics
        self.models = Models(settings.edge.model, settings.cloud.model)
        validators = ValidatorCache()
        self.observer = Observer(settings, models=self.models, metrics=metrics, inputs=inputs,
                                 experts=experts, validators=validators, sink=sink, budget=budget)
        self.drafter = Drafter(settings, experts=experts, inputs=inputs, metrics=metrics,
                               observer=self.observer, verifier=verifier,
                               edge_model=lambda: self.models.edge)
        self.judge = Judge(settings, inputs=inputs, metrics=metrics, validators=validators,
                           verifier=verifier, model_of=self._model_of)
        self.answerer = Answerer(cloud=cloud, models=self.models, metrics=metrics,
                                 observer=self.observer)
        self.shadow = Shadow(settings, cloud=cloud, answerer=self.answerer, observer=self.observer,
                             metrics=metrics, budget=budget, rng=rng)

    @property
    def edge_model(self) -> str:
        return self.models.edge

    @edge_model.setter
    def edge_model(self, name: str) -> None:
        self.models.edge = name

    @property
    def cloud_model(self) -> str:
        return self.models.cloud

    def _model_of(self, expert: str | None) -> str:
        return self.experts.model_of(expert) or self.models.edge

    async def handle(
        self, raw: dict[str, Any], request: ChatCompletionRequest, info: RequestInfo
    ) -> Outcome:
        ctx = self.prepare(raw, request, info)
        if self.drafter.plan(ctx):
            await self.drafter.draft(ctx)
        decision = self.judge.route(ctx)
        if decision is None:  # the edge was forced and gave no draft
            ctx.route = "edge"
            return self.answerer.fail(ctx, ctx.edge_error or no_expert_error(), "forced")
        ctx.route, ctx.reason = decision.route, decision.reason
        if decision.route == "edge":
            outcome = self.answerer.with_draft(ctx)
            self.shadow.maybe(ctx)
            return outcome
        plan = ctx.plan
        if plan is not None and plan.expert is None and ctx.edge_error is None:
            ctx.edge_error = no_expert_error()  # should the cloud fail too, the error names both
        return await self.answerer.with_cloud(ctx)

    def prepare(
        self, raw: dict[str, Any], request: ChatCompletionRequest, info: RequestInfo
    ) -> RequestContext:
        """The request context, with everything later stages need computed once."""
        model = request.model
        forced = ("edge" if model in ("edge", self.models.edge)
                  else "cloud" if model in ("cloud", self.models.cloud) else None)
        network = self.inputs.network.snapshot()
        terms = self.inputs.threshold_for(info.body_bytes, network)
        self.metrics.fallback_threshold.set(terms.tau)
        options = request.stream_options
        return RequestContext(
            raw=raw,
            request=request,
            request_id=info.request_id,
            started=info.started,
            created_at=time.time(),
            body_bytes=info.body_bytes,
            slo=info.slo,
            schemas=tool_schemas(raw.get("tools")),
            forced=forced,
            stream=bool(request.stream),
            include_usage=bool(options and options.include_usage),
            network=network,
            threshold=terms.tau,
            cloud_latency_s=terms.latency_s,
            on_usage=info.on_usage,
        )

    async def drain(self, timeout_s: float = 5.0) -> None:
        """At shutdown: wait for background (shadow) calls, then cancel what is left."""
        await self.shadow.drain(timeout_s)
