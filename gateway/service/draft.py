"""The plan and draft stages: where placement sends the request, and the chosen edge expert's
draft (log-probs on, bounded by the edge flavour's shaping in ``edge_worker``).

Self-consistency (``NETGPT_EDGE_SAMPLES`` = k > 0): beside the greedy draft the same expert is
asked, at the same time, for k sampled drafts in one request (``n`` = k, the same shaping at
``NETGPT_EDGE_SAMPLE_TEMPERATURE``, a seed from the request id): llama-server processes the
prompt once for all k, vLLM shares it through its prefix cache, and k parallel requests would
cost k prompts on a CPU edge. Their agreement with the draft (``verifier.summarise``) goes to
``ctx.samples``: the verifier's ``sc_`` features and the dataset record. Samples that fail, or
are not back ``NETGPT_EDGE_SAMPLE_WAIT_S`` after the draft, leave ``ctx.samples`` None (the
draft is judged without them); they never fail the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Callable
from typing import Any

from gateway.config import Settings
from gateway.errors import UpstreamError
from gateway.experts.placer import ExpertPlacer
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.policy.verifier_store import VerifierHolder, request_only_score
from gateway.ports import EdgeDraft
from gateway.routing.offload import offload_tool_definition
from gateway.routing.verifier import SampleSummary, prepare, summarise
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
        edge = settings.edge
        self.samples, self.temperature = edge.samples, edge.sample_temperature
        self.sample_wait_s = edge.sample_wait_s
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
        """The draft into ``ctx.draft``; an edge failure into ``ctx.edge_error`` (never raised);
        with samples on, their agreement into ``ctx.samples``."""
        started = time.perf_counter()
        body = self.edge_body(ctx.raw)
        sampling = self._start_samples(ctx, body)
        try:
            try:
                draft = await self.experts.draft(ctx.plan, body)
            except UpstreamError as exc:
                ctx.edge_error = exc
                self.metrics.upstream_errors.labels("edge", exc.code or "error").inc()
                return
            finally:
                ctx.edge_s = time.perf_counter() - started
                self.observer.edge_duration.observe(ctx.edge_s)
            ctx.draft = draft
            ctx.expert = ctx.plan.expert.name
            observe_link(self.inputs.network, "edge", draft.response_bytes, draft.latency_s,
                         draft.ttfb_s, self.min_transfer_bytes)
            if sampling is not None:
                ctx.samples = await self._collect(sampling, draft)
        finally:
            if sampling is not None and not sampling.done():
                sampling.cancel()  # the draft failed, or the client left: nobody wants them
                with contextlib.suppress(asyncio.CancelledError, UpstreamError):
                    await sampling

    def _start_samples(self, ctx: RequestContext, body: dict[str, Any]) -> asyncio.Task[EdgeDraft] | None:
        """The request for k sampled drafts, sent now beside the draft; None when off or when
        the request can get no call (no tools, ``tool_choice`` "none")."""
        raw = ctx.raw
        if self.samples <= 0 or not raw.get("tools") or raw.get("tool_choice") == "none":
            return None
        seed = zlib.crc32(ctx.request_id.encode()) & 0x7FFFFFFF
        return asyncio.ensure_future(
            self.experts.sample(ctx.plan, body, self.samples, self.temperature, seed))

    async def _collect(self, sampling: asyncio.Task[EdgeDraft], draft: EdgeDraft) -> SampleSummary | None:
        """The samples' agreement with the draft, once they are back (at most
        ``sample_wait_s`` after the draft); None when they failed or came too late."""
        done, _ = await asyncio.wait({sampling}, timeout=self.sample_wait_s)
        if not done:
            self.metrics.edge_samples.labels("late").inc()
            return None  # the caller's finally cancels it
        try:
            sampled = sampling.result()
        except UpstreamError:
            self.metrics.edge_samples.labels("failed").inc()
            return None
        summary = summarise(draft.message.get("tool_calls"), sampled.choice_tool_calls)
        self.metrics.edge_samples.labels("drawn" if summary is not None else "failed").inc()
        return summary
