"""The answer stage: the edge draft, or the cloud's answer (relayed as it streams), or an error;
each as an :class:`Outcome` for the API layer to encode."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.errors import GatewayError, UpstreamBusy, UpstreamError, both_failed
from gateway.metrics import GatewayMetrics
from gateway.ports import CloudAnswer, CloudBackend, CloudStream
from gateway.service.context import Outcome, RequestContext, StreamError
from gateway.service.observe import Models, Observer
from gateway.tenancy.limits import retry_after_header

log = logging.getLogger("netgpt.request")


def callers_fault(exc: GatewayError) -> bool:
    """An upstream 4xx caused by the request itself: passed through as the upstream said it."""
    return bool(getattr(exc, "passthrough", False))


class Answerer:
    def __init__(
        self, *, cloud: CloudBackend, models: Models, metrics: GatewayMetrics, observer: Observer
    ) -> None:
        self.cloud = cloud
        self.models = models
        self.metrics = metrics
        self.observer = observer

    def cloud_body(self, raw: dict[str, Any], *, stream: bool) -> dict[str, Any]:
        body = dict(raw)
        body["model"] = self.models.cloud
        if not stream:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def with_draft(self, ctx: RequestContext) -> Outcome:
        assert ctx.draft is not None
        response = ctx.draft.response
        if not ctx.request.logprobs:
            for choice in response.get("choices") or ():
                choice["logprobs"] = None
        self.observer.budget_record("edge", 0.0)
        if ctx.on_usage is not None:
            usage = response.get("usage")
            total = usage.get("total_tokens") if isinstance(usage, dict) else None
            ctx.on_usage(total if isinstance(total, int) else 0, 0.0)
        return self.respond(ctx, response)

    async def with_cloud(self, ctx: RequestContext) -> Outcome:
        started = time.perf_counter()
        try:
            if ctx.stream:
                stream = await self.cloud.stream(self.cloud_body(ctx.raw, stream=True))
                return Outcome(200, self.observer.headers(ctx), items=self._relay(ctx, stream, started),
                               stream=True, include_usage=ctx.include_usage)
            answer = await self.cloud.complete(self.cloud_body(ctx.raw, stream=False))
        except UpstreamError as exc:
            ctx.cloud_s = time.perf_counter() - started
            self.observer.cloud_duration.observe(ctx.cloud_s)
            self.metrics.upstream_errors.labels("cloud", exc.code or "error").inc()
            if callers_fault(exc):
                return self.fail(ctx, exc)
            if ctx.draft_usable:
                ctx.route, ctx.reason = "edge", "cloud_unavailable"
                return self.with_draft(ctx)
            return self.fail(ctx, both_failed(ctx.edge_error, exc))
        ctx.cloud_s = time.perf_counter() - started
        self.observer.after_cloud(ctx, answer, kind="routed")
        return self.respond(ctx, answer.response)

    async def _relay(
        self, ctx: RequestContext, stream: CloudStream, started: float
    ) -> AsyncIterator[bytes | StreamError]:
        status = 499  # until the stream ends one way or the other: the client went away
        try:
            async for payload in stream.chunks:
                if payload != b"[DONE]":
                    yield payload
            status = 200
        except UpstreamError as exc:
            # broken mid-answer: the encoder ends with an error event and no [DONE], so no
            # client can take the truncated answer for a complete one (the OpenAI SDK raises)
            status = exc.status
            self.metrics.upstream_errors.labels("cloud", exc.code or "error").inc()
            log.warning("cloud stream broke mid-answer: %s", exc.message,
                        extra={"request_id": ctx.request_id})
            yield StreamError(exc.envelope())
            return
        except Exception:
            status = 500
            log.exception("relaying the cloud stream failed", extra={"request_id": ctx.request_id})
            yield StreamError(GatewayError("the gateway failed while relaying the answer").envelope())
            return
        finally:
            ctx.cloud_s = time.perf_counter() - started
            self.observer.finish(ctx, status)
        usage = stream.assembled.get("usage") or {}
        answer = CloudAnswer(
            response=stream.assembled,
            latency_s=ctx.cloud_s,
            cost_usd=stream.cost_usd,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            ttfb_s=stream.ttfb_s,
        )
        # the record goes to the sink before the encoder's last event: a client that hangs
        # up after [DONE] must not cost the dataset its pair
        self.observer.after_cloud(ctx, answer, kind="routed")

    def respond(self, ctx: RequestContext, response: dict[str, Any]) -> Outcome:
        self.observer.finish(ctx, 200)
        return Outcome(200, self.observer.headers(ctx), response=response, stream=ctx.stream,
                       include_usage=ctx.include_usage)

    def fail(self, ctx: RequestContext, error: GatewayError, reason: str | None = None) -> Outcome:
        if reason is not None:
            ctx.reason = reason
        status = error.status
        if isinstance(error, UpstreamError) and callers_fault(error):
            status = getattr(error, "status_code", status)
            body = getattr(error, "body", None) or error.envelope()
        else:
            body = error.envelope()
        if status >= 500:  # the client gets the envelope; the operator gets the cause in the log
            log.warning("request failed: %s", error.message, extra={
                "request_id": ctx.request_id, "route": ctx.route, "reason": ctx.reason,
                "status": status, "code": error.code})
        self.observer.finish(ctx, status)
        headers = self.observer.headers(ctx)
        if isinstance(error, UpstreamBusy) and error.retry_after_s is not None:
            headers["retry-after"] = retry_after_header(error.retry_after_s)
        return Outcome(status, headers, error=body)
