"""The judge stage: the draft's offload signal, schema guard and score s, then the route.

The decisions themselves are the pure functions of ``gateway.routing`` (schema guard, score,
``decide``); this stage gathers their inputs from the request context and the live inputs.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import Settings
from gateway.metrics import GatewayMetrics
from gateway.policy.inputs import LiveInputs
from gateway.policy.verifier_store import VerifierHolder
from gateway.routing.decision import Decision, decide
from gateway.routing.offload import requests_offload, strip_offload
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls
from gateway.routing.score import DraftFeatures, logprob_summary, score
from gateway.routing.verifier import LogprobSummary, features, prepare
from gateway.service.context import RequestContext

FORCED_EDGE = Decision("edge", "forced")
FORCED_CLOUD = Decision("cloud", "forced")
SKIPPED = Decision("cloud", "edge_skipped")


class Judge:
    def __init__(
        self,
        settings: Settings,
        *,
        inputs: LiveInputs,
        metrics: GatewayMetrics,
        validators: ValidatorCache,
        verifier: VerifierHolder | None = None,
        model_of: Callable[[str | None], str | None] = lambda _expert: None,
    ) -> None:
        self.verifier = verifier
        self.model_of = model_of  # the edge model an expert serves (the verifier is per model)
        self.routing = settings.routing
        self.calibration_required = settings.calibration.required
        self.inputs = inputs
        self.metrics = metrics
        self.validators = validators

    def route(self, ctx: RequestContext) -> Decision | None:
        """Edge or cloud, and why; None when the edge was forced and gave no draft."""
        if ctx.draft is not None:
            self.inspect(ctx)
        if ctx.forced == "edge":
            return FORCED_EDGE if ctx.draft is not None else None
        if ctx.forced == "cloud":
            return FORCED_CLOUD
        if ctx.skipped:
            return SKIPPED
        plan = ctx.plan
        if plan is not None and plan.to_cloud is not None:  # no expert up, or none in time
            return Decision("cloud", plan.to_cloud)
        check = ctx.draft_check
        return decide(
            score=ctx.score or 0.0,
            tau=ctx.threshold,
            schema_valid=bool(check and check.valid),
            offload_requested=ctx.offload,
            edge_available=ctx.draft is not None,
        )

    def inspect(self, ctx: RequestContext) -> None:
        """Offload signal, schema guard, features and score of the draft, into ``ctx``."""
        assert ctx.draft is not None
        r = self.routing
        message = ctx.draft.message
        offload = r.offload_enabled and requests_offload(message, r.offload_marker, r.offload_tool)
        if offload:
            message = strip_offload(message, r.offload_marker, r.offload_tool)
            ctx.draft.response["choices"][0]["message"] = message
        check = check_tool_calls(
            message.get("tool_calls"),
            ctx.schemas,
            self.validators,
            tool_choice=ctx.raw.get("tool_choice"),
            parallel_tool_calls=ctx.raw.get("parallel_tool_calls"),
        )
        if not check.valid:
            self.metrics.schema_invalid.labels("edge").inc()
        mean_lp, min_lp = logprob_summary(ctx.draft.token_logprobs)
        ctx.offload = offload
        ctx.draft_check = check
        ctx.features = DraftFeatures(
            schema_valid=check.valid,
            n_tool_calls=len(message.get("tool_calls") or ()),
            mean_logprob=mean_lp,
            min_logprob=min_lp,
            n_tokens=len(ctx.draft.token_logprobs),
            offload_requested=offload,
            n_tools=len(ctx.schemas),
            n_turns=len(ctx.raw.get("messages") or ()),
        )
        # the chosen expert's quality, once records have taught it, is the prior of a draft
        # that came without log-probabilities
        quality = ctx.plan.quality if ctx.plan is not None else None
        prior = r.score_without_logprobs if quality is None else quality
        ctx.score = score(ctx.features, self.inputs.active_calibrator(), prior,
                          require_calibration=self.calibration_required)
        if check.valid and not offload and self.verifier is not None:
            model = self.verifier.model_for(self.model_of(ctx.expert))
            if model is not None:  # the fitted verifier gives s; the calibrated score is the fallback
                request = ctx.verifier_request or prepare(ctx.raw.get("messages") or (),
                                                          ctx.raw.get("tools") or ())
                logprobs = None if mean_lp is None or min_lp is None else LogprobSummary(
                    mean_lp, min_lp, len(ctx.draft.token_logprobs))
                ctx.score = model.score(
                    features(request, message.get("tool_calls"), logprobs, ctx.samples))
        self.metrics.route_score.observe(ctx.score)
