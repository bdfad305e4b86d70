"""The request path (ARCHITECTURE.md): edge draft → schema guard → score → τ → answer.

``ChatService.handle`` takes a validated request and returns a :class:`ChatResult` (a JSON body
or an SSE stream, with the routing headers). It talks to the upstreams through the Protocols of
``gateway.ports``; nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from prometheus_client import Counter, Histogram

from gateway.config import Settings
from gateway.errors import GatewayError, UpstreamBusy, UpstreamError, both_failed
from gateway.experts.router import ExpertRouter, Plan, no_expert_error
from gateway.experts.slo import NO_SLO, Slo
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.ports import CloudAnswer, CloudBackend, CloudStream, RecordSink
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.sse import DONE, completion_to_sse, error_event, event
from gateway.routing.decision import Decision, decide
from gateway.routing.offload import offload_tool_definition, requests_offload, strip_offload
from gateway.routing.schema_guard import SchemaCheck, ValidatorCache, check_tool_calls, tool_schemas
from gateway.routing.score import DraftFeatures, logprob_summary, score
from gateway.service.trace import RouteTrace, build_record
from gateway.tenancy.limits import retry_after_header

log = logging.getLogger("netgpt.request")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class Budget(Protocol):
    def record(self, route: str, cost_usd: float, now: float) -> None: ...

    def exhausted(self) -> bool: ...


@dataclass(slots=True)
class ChatResult:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    media_type: str = "application/json"


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    body_bytes: int
    started: float = field(default_factory=time.perf_counter)
    slo: Slo = NO_SLO  # headers x-slo-ttft-ms, x-slo-tpot-ms, x-netgpt-deadline-ms or NETGPT_SLO_*
    on_usage: Callable[[int, float], None] | None = None  # (tokens, usd): per-key limits


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def _usage_only(payload: bytes) -> bool:
    if b'"choices"' not in payload:
        return False
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and "usage" in chunk


class ChatService:
    def __init__(
        self,
        settings: Settings,
        *,
        experts: ExpertRouter,
        cloud: CloudBackend,
        policy: LiveInputs,
        metrics: GatewayMetrics,
        sink: RecordSink | None = None,
        budget: Budget | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.experts = experts
        self.cloud = cloud
        self.policy = policy
        self.metrics = metrics
        self.sink = sink
        self.budget = budget
        self.rng = rng
        self.validators = ValidatorCache()
        r = settings.routing
        self.edge_model = settings.edge.model
        self.cloud_model = settings.cloud.model
        self._offload_tool = offload_tool_definition(r.offload_tool) if r.offload_enabled else None
        self._shadow_slots = asyncio.Semaphore(r.shadow_max_concurrency)
        self._background: set[asyncio.Task[None]] = set()
        # labelled children bound once: each .labels() call takes a lock and builds a key
        self._edge_duration = metrics.upstream_duration.labels("edge")
        self._cloud_duration = metrics.upstream_duration.labels("cloud")
        self._answered: dict[tuple[str, str, int], Counter] = {}
        self._route_duration: dict[str, Histogram] = {}

    # ---------------------------------------------------------------- entry point
    async def handle(
        self, raw: dict[str, Any], request: ChatCompletionRequest, info: RequestInfo
    ) -> ChatResult:
        forced = self._forced(request.model)
        state = self.policy.network.snapshot()
        terms = self.policy.threshold_for(info.body_bytes, state)
        self.metrics.fallback_threshold.set(terms.tau)
        trace = RouteTrace(info.request_id, info.started, time.time(), state, terms.tau)
        trace.on_usage = info.on_usage
        schemas = tool_schemas(raw.get("tools"))

        edge_error: UpstreamError | None = None
        offload = False
        plan = None if forced == "cloud" else self.experts.plan(raw, info.body_bytes, info.slo, terms.latency_s)
        trace.plan = plan
        if plan is not None and plan.expert is not None and (forced == "edge" or plan.to_cloud is None):
            try:
                await self._draft(raw, trace, plan)
            except UpstreamError as exc:
                edge_error = exc
                self.metrics.upstream_errors.labels("edge", exc.code or "error").inc()
        if trace.draft is not None:
            offload = self._inspect_draft(raw, schemas, trace)

        if forced == "edge":
            if trace.draft is None:
                trace.route = "edge"
                return self._fail(trace, edge_error or no_expert_error(), "forced")
            decision = Decision("edge", "forced")
        elif forced == "cloud":
            decision = Decision("cloud", "forced")
        elif plan is not None and plan.to_cloud is not None:  # no expert up, or none in time
            decision = Decision("cloud", plan.to_cloud)
            if plan.expert is None:  # should the cloud fail too, the error names both
                edge_error = no_expert_error()
        else:
            check = trace.draft_check
            decision = decide(
                score=trace.score or 0.0,
                tau=terms.tau,
                schema_valid=bool(check and check.valid),
                offload_requested=offload,
                edge_available=trace.draft is not None,
            )
        trace.route, trace.reason = decision.route, decision.reason
        if decision.route == "edge":
            result = self._answer_with_draft(request, trace)
            self._maybe_shadow(raw, trace)
            return result
        usable = trace.draft is not None and not offload and bool(trace.draft_check and trace.draft_check.valid)
        return await self._answer_with_cloud(raw, request, trace, schemas, usable, edge_error)

    def _forced(self, model: str) -> str | None:
        if model in ("edge", self.edge_model):
            return "edge"
        if model in ("cloud", self.cloud_model):
            return "cloud"
        return None

    # ---------------------------------------------------------------- edge
    def edge_body(self, raw: dict[str, Any]) -> dict[str, Any]:
        body = dict(raw)
        body["model"] = self.edge_model
        body.pop("stream", None)
        body.pop("stream_options", None)
        if self._offload_tool is not None and raw.get("tools"):
            body["tools"] = [*raw["tools"], self._offload_tool]
        return body

    async def _draft(self, raw: dict[str, Any], trace: RouteTrace, plan: Plan) -> None:
        started = time.perf_counter()
        try:
            draft = await self.experts.draft(plan, self.edge_body(raw))
        finally:
            trace.edge_s = time.perf_counter() - started
            self._edge_duration.observe(trace.edge_s)
        trace.draft = draft
        trace.expert = plan.expert.name if plan.expert is not None else None
        if draft.response_bytes >= self.settings.network.min_transfer_bytes:
            self.policy.network.observe_transfer(
                "edge", draft.response_bytes, max(draft.latency_s - draft.ttfb_s, 1e-6)
            )

    def _inspect_draft(
        self, raw: dict[str, Any], schemas: dict[str, Any], trace: RouteTrace
    ) -> bool:
        """Offload signal, schema guard and score of the draft; returns True on offload."""
        assert trace.draft is not None
        r = self.settings.routing
        message = trace.draft.message
        offload = r.offload_enabled and requests_offload(message, r.offload_marker, r.offload_tool)
        if offload:
            message = strip_offload(message, r.offload_marker, r.offload_tool)
            trace.draft.response["choices"][0]["message"] = message
        check = check_tool_calls(
            message.get("tool_calls"),
            schemas,
            self.validators,
            tool_choice=raw.get("tool_choice"),
            parallel_tool_calls=raw.get("parallel_tool_calls"),
        )
        if not check.valid:
            self.metrics.schema_invalid.labels("edge").inc()
        mean_lp, min_lp = logprob_summary(trace.draft.token_logprobs)
        trace.draft_check = check
        trace.features = DraftFeatures(
            schema_valid=check.valid,
            n_tool_calls=len(message.get("tool_calls") or ()),
            mean_logprob=mean_lp,
            min_logprob=min_lp,
            n_tokens=len(trace.draft.token_logprobs),
            offload_requested=offload,
            n_tools=len(schemas),
            n_turns=len(raw.get("messages") or ()),
        )
        # the chosen expert's quality, once records have taught it, is the prior of a draft
        # that came without log-probabilities
        quality = trace.plan.quality if trace.plan is not None else None
        prior = r.score_without_logprobs if quality is None else quality
        trace.score = score(trace.features, self.policy.active_calibrator(), prior,
                            require_calibration=self.policy.settings.calibration.required)
        self.metrics.route_score.observe(trace.score)
        return offload

    def _answer_with_draft(self, request: ChatCompletionRequest, trace: RouteTrace) -> ChatResult:
        assert trace.draft is not None
        response = trace.draft.response
        if not request.logprobs:
            for choice in response.get("choices") or ():
                choice["logprobs"] = None
        self._budget_record("edge", 0.0)
        if trace.on_usage is not None:
            usage = response.get("usage")
            total = usage.get("total_tokens") if isinstance(usage, dict) else None
            trace.on_usage(total if isinstance(total, int) else 0, 0.0)
        return self._respond(request, trace, response)

    # ---------------------------------------------------------------- cloud
    def cloud_body(self, raw: dict[str, Any], *, stream: bool) -> dict[str, Any]:
        body = dict(raw)
        body["model"] = self.cloud_model
        if not stream:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    async def _answer_with_cloud(
        self,
        raw: dict[str, Any],
        request: ChatCompletionRequest,
        trace: RouteTrace,
        schemas: dict[str, Any],
        draft_usable: bool,
        edge_error: UpstreamError | None,
    ) -> ChatResult:
        started = time.perf_counter()
        try:
            if request.stream:
                stream = await self.cloud.stream(self.cloud_body(raw, stream=True))
                return self._relay(raw, request, trace, schemas, stream, started)
            answer = await self.cloud.complete(self.cloud_body(raw, stream=False))
        except UpstreamError as exc:
            trace.cloud_s = time.perf_counter() - started
            self._cloud_duration.observe(trace.cloud_s)
            self.metrics.upstream_errors.labels("cloud", exc.code or "error").inc()
            if draft_usable and not exc_is_callers_fault(exc):
                trace.route, trace.reason = "edge", "cloud_unavailable"
                return self._answer_with_draft(request, trace)
            return self._fail(trace, exc if exc_is_callers_fault(exc) else both_failed(edge_error, exc))
        trace.cloud_s = time.perf_counter() - started
        self._after_cloud(raw, trace, schemas, answer, kind="routed")
        return self._respond(request, trace, answer.response)

    def _after_cloud(
        self,
        raw: dict[str, Any],
        trace: RouteTrace,
        schemas: dict[str, Any],
        answer: CloudAnswer,
        *,
        kind: str,
    ) -> None:
        """Metrics, budget, network observation and the dataset record of a cloud answer."""
        self._cloud_duration.observe(answer.latency_s)
        self.metrics.cloud_cost.inc(answer.cost_usd)
        self.metrics.cloud_tokens.labels("input").inc(answer.input_tokens)
        self.metrics.cloud_tokens.labels("output").inc(answer.output_tokens)
        network = self.policy.network
        if answer.response_bytes >= self.settings.network.min_transfer_bytes:
            network.observe_transfer(
                "cloud", answer.response_bytes, max(answer.latency_s - answer.ttfb_s, 1e-6)
            )
        rtt = trace.network.cloud.rtt_s
        network.observe_compute("cloud", max(answer.ttfb_s - rtt, 0.0))
        # a shadow call costs money but answers no request: the budget counts it apart
        self._budget_record("shadow" if kind == "shadow" else "cloud", answer.cost_usd)
        if kind != "shadow" and trace.on_usage is not None:
            trace.on_usage(answer.input_tokens + answer.output_tokens, answer.cost_usd)
        choice = (answer.response.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        cloud_check = check_tool_calls(
            message.get("tool_calls"), schemas, self.validators, tool_choice=raw.get("tool_choice")
        )
        if not cloud_check.valid:
            self.metrics.schema_invalid.labels("cloud").inc()
        self._submit(raw, trace, kind, answer.response, cloud_check, answer)

    def _submit(
        self,
        raw: dict[str, Any],
        trace: RouteTrace,
        kind: str,
        response: dict[str, Any],
        check: SchemaCheck,
        answer: CloudAnswer,
    ) -> None:
        if self.sink is None:
            return
        record = build_record(
            trace,
            kind=kind,
            request=raw,
            cloud_response=response,
            cloud_schema_valid=check.valid,
            cost_usd=answer.cost_usd,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            price_per_token=self.policy.prices(),
            models=(self.experts.model_of(trace.expert) or self.edge_model, self.cloud_model),
        )
        self.sink.submit(record)

    def _relay(
        self,
        raw: dict[str, Any],
        request: ChatCompletionRequest,
        trace: RouteTrace,
        schemas: dict[str, Any],
        stream: CloudStream,
        started: float,
    ) -> ChatResult:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)

        async def chunks() -> AsyncIterator[bytes]:
            status = 499  # until the stream ends one way or the other: the client went away
            try:
                async for payload in stream.chunks:
                    if payload == b"[DONE]" or (not include_usage and _usage_only(payload)):
                        continue
                    yield event(payload)
                status = 200
            except UpstreamError as exc:
                # broken mid-answer: an error event and no [DONE], so no client can take the
                # truncated answer for a complete one (the OpenAI SDK raises on it)
                status = exc.status
                self.metrics.upstream_errors.labels("cloud", exc.code or "error").inc()
                log.warning("cloud stream broke mid-answer: %s", exc.message,
                            extra={"request_id": trace.request_id})
                yield error_event(exc.envelope())
                return
            except Exception:
                status = 500
                log.exception("relaying the cloud stream failed", extra={"request_id": trace.request_id})
                yield error_event(GatewayError("the gateway failed while relaying the answer").envelope())
                return
            finally:
                trace.cloud_s = time.perf_counter() - started
                self._finish(trace, status)
            usage = stream.assembled.get("usage") or {}
            answer = CloudAnswer(
                response=stream.assembled,
                latency_s=trace.cloud_s,
                cost_usd=stream.cost_usd,
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                ttfb_s=stream.ttfb_s,
            )
            # the record goes to the sink before the client's last event: a client that hangs
            # up after [DONE] must not cost the dataset its pair
            self._after_cloud(raw, trace, schemas, answer, kind="routed")
            yield DONE

        return ChatResult(200, self._headers(trace) | SSE_HEADERS, stream=chunks(), media_type="text/event-stream")

    # ---------------------------------------------------------------- shadow exploration
    def _maybe_shadow(self, raw: dict[str, Any], trace: RouteTrace) -> None:
        rate = self.settings.routing.shadow_rate
        if rate <= 0 or trace.reason == "forced" or self.rng() >= rate:
            return
        if self._shadow_slots.locked() or (self.budget is not None and self.budget.exhausted()):
            self.metrics.shadow_requests.labels("skipped").inc()
            return
        task = asyncio.get_running_loop().create_task(self._shadow(raw, trace))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(self, raw: dict[str, Any], trace: RouteTrace) -> None:
        async with self._shadow_slots:
            try:
                answer = await self.cloud.complete(self.cloud_body(raw, stream=False))
            except UpstreamError:
                self.metrics.shadow_requests.labels("error").inc()
                return
            self.metrics.shadow_requests.labels("ok").inc()
            trace.cloud_s = answer.latency_s
            self._after_cloud(raw, trace, tool_schemas(raw.get("tools")), answer, kind="shadow")

    def _budget_record(self, route: str, cost: float) -> None:
        if self.budget is not None:
            self.budget.record(route, cost, time.time())

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for background (shadow) calls at shutdown, then cancel what is left."""
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout_s)
            for task in pending:
                task.cancel()

    # ---------------------------------------------------------------- responses
    def _headers(self, trace: RouteTrace) -> dict[str, str]:
        headers = self._route_headers(trace)
        if trace.expert is not None:
            headers["x-netgpt-expert"] = trace.expert
        return headers

    def _route_headers(self, trace: RouteTrace) -> dict[str, str]:
        return {
            "x-netgpt-route": trace.route,
            "x-netgpt-score": _fmt(trace.score),
            "x-netgpt-threshold": _fmt(trace.threshold),
            "x-netgpt-reason": trace.reason,
            "x-request-id": trace.request_id,
        }

    def _respond(
        self, request: ChatCompletionRequest, trace: RouteTrace, response: dict[str, Any]
    ) -> ChatResult:
        headers = self._headers(trace)
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            events = completion_to_sse(response, include_usage=include_usage)
            self._finish(trace, 200)
            return ChatResult(200, headers | SSE_HEADERS, stream=_iterate(events), media_type="text/event-stream")
        self._finish(trace, 200)
        return ChatResult(200, headers, body=orjson.dumps(response))

    def _fail(self, trace: RouteTrace, error: GatewayError, reason: str | None = None) -> ChatResult:
        if reason is not None:
            trace.reason = reason
        status = error.status
        if isinstance(error, UpstreamError) and exc_is_callers_fault(error):
            status = getattr(error, "status_code", status)
            body = getattr(error, "body", None) or error.envelope()
        else:
            body = error.envelope()
        self._finish(trace, status)
        headers = self._headers(trace)
        if isinstance(error, UpstreamBusy) and error.retry_after_s is not None:
            headers["retry-after"] = retry_after_header(error.retry_after_s)
        return ChatResult(status, headers, body=orjson.dumps(body))

    def _finish(self, trace: RouteTrace, status: int) -> None:
        elapsed = time.perf_counter() - trace.started
        key = (trace.route, trace.reason, status)
        answered = self._answered.get(key)
        if answered is None:  # a handful of (route, reason, status) combinations exist
            answered = self._answered[key] = self.metrics.requests.labels(trace.route, trace.reason, str(status))
        answered.inc()
        duration = self._route_duration.get(trace.route)
        if duration is None:
            duration = self._route_duration[trace.route] = self.metrics.request_duration.labels(trace.route)
        duration.observe(elapsed)
        if trace.plan is not None and trace.plan.slo.any:
            self.experts.finished(trace.plan, trace.route, trace.expert, elapsed, trace.draft)
        if self.settings.log_requests:
            log.info(
                "chat completion",
                extra={
                    "request_id": trace.request_id,
                    "route": trace.route,
                    "reason": trace.reason,
                    "score": trace.score,
                    "threshold": round(trace.threshold, 4),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "edge_ms": None if trace.edge_s is None else round(trace.edge_s * 1000, 3),
                    "cloud_ms": None if trace.cloud_s is None else round(trace.cloud_s * 1000, 3),
                },
            )


def exc_is_callers_fault(exc: GatewayError) -> bool:
    return bool(getattr(exc, "passthrough", False))


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in events:
        yield chunk
