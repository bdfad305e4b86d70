"""The live side of placement: the one call the request path makes before the edge draft.

    plan = placer.plan(raw, body_bytes, slo, cloud_latency_s)   # no I/O
    if plan.to_cloud: ...                                      # "slo_cloud" / "edge_unavailable"
    draft = await placer.draft(plan, body)                     # the chosen expert's client
    placer.finished(plan, route, expert, elapsed_s)            # SLO misses, for the metrics

``plan`` builds the pure views (``ExpertView``, ``RequestView``) from the live load, the quality
table and the request, calls ``gateway.routing.placement.place`` (the configured policy's
profile: filters → scorers → picker) and, when no expert is predicted to meet the request's
SLO, ``cloud_wins`` against the network-aware cloud estimate. ``draft`` counts
the call in flight (shared through Redis when there are replicas), marks an expert that cannot
be reached as down, and feeds the expert's latency model the measured times.

The gateway buffers an edge draft and answers with it whole, so the client's first byte of an
edge answer comes when the draft is complete: for placement the TTFT objective bounds the whole
edge call (with the deadline), and the TPOT objective the expert's decode speed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gateway.config import Settings
from gateway.errors import UpstreamConnectError, UpstreamError
from gateway.experts.config import Expert, check_policy
from gateway.experts.load import LiveLoad
from gateway.experts.quality import DEFAULT_PRIOR, QualityHolder, RequestType, request_type
from gateway.experts.slo import Slo
from gateway.metrics import GatewayMetrics
from gateway.ports import EdgeBackend, EdgeDraft
from gateway.routing.decision import Reason
from gateway.routing.placement import (
    ExpertView,
    InFlight,
    LatencyModel,
    LatencyPrior,
    Placement,
    PolicyState,
    RequestView,
    cloud_wins,
    place,
    remaining_tokens,
)
from gateway.routing.threshold import BYTES_PER_TOKEN

OUTPUT_EWMA = 0.05  # weight of one draft in the running mean of output tokens
# the latency model (pure-Python least squares, ~25 us an update) learns from at most this many
# edge calls a second per expert: at thousands of requests a second it would cost 5-10 % of the
# edge path's CPU, and 50 samples a second track any real drift
MAX_OBSERVE_PER_S = 50.0
_NEEDS_FLIGHTS = frozenset({"impact", "learned"})  # policies that score others' SLO misses


@dataclass(slots=True)
class _Active:
    """An edge call in flight, as the impact estimator sees it."""

    started: float
    ttft_s: float
    tpot_s: float
    output_tokens: float
    deadline: float | None  # monotonic


@dataclass(slots=True)
class Plan:
    """Where one request goes, and what was predicted for it."""

    expert: Expert | None
    request: RequestView | None  # None on the one-expert fast path (nothing was predicted)
    slo: Slo
    rtype: RequestType | None = None
    placement: Placement | None = None
    to_cloud: Reason | None = None  # "slo_cloud" or "edge_unavailable": skip the edge
    quality: float | None = None  # learned from records (None: only the prior is known)


class ExpertPlacer:
    """Places each request on an edge expert (or the cloud) and drafts there; one per app."""

    def __init__(
        self,
        settings: Settings,
        experts: Sequence[Expert],
        clients: Mapping[str, EdgeBackend],
        load: LiveLoad,
        quality: QualityHolder,
        metrics: GatewayMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = check_policy(settings.routing.placement_policy)
        self.experts = {e.name: e for e in experts}
        self.clients = clients
        self.load = load
        self.quality = quality
        self.clock = clock
        self.models = {
            e.name: LatencyModel(LatencyPrior(**e.config.latency.model_dump()) if e.config.latency else None)
            for e in experts
        }
        self.policy_state = PolicyState()
        if self.policy == "learned":
            from gateway.routing.placement.learned_model import load_policy

            self.policy_state.learned = load_policy()
        self.output_tokens = float(settings.routing.expected_output_tokens)
        self._single = experts[0] if len(experts) == 1 else None
        self._active: dict[str, dict[int, _Active]] = {e.name: {} for e in experts}
        self._ids = itertools.count()
        self._next_observe = dict.fromkeys(self.experts, 0.0)
        # metric children bound once (labels() takes a lock and builds a key)
        self._placed = metrics.placements.counts
        for n in [*self.experts, "cloud", "none"]:
            self._placed.setdefault((n, self.policy), 0)
        self._missed: dict[str, Counter] = {
            n: metrics.slo_misses.labels(n, self.policy) for n in [*self.experts, "cloud"]
        }
        self._mape: dict[str, Gauge] = {n: metrics.latency_model_mape.labels(n) for n in self.experts}
        self._actual: dict[str, Histogram] = {
            n: metrics.expert_latency.labels(n, "actual") for n in self.experts
        }
        self._predicted: dict[str, Histogram] = {
            n: metrics.expert_latency.labels(n, "predicted") for n in self.experts
        }
        for gauge in self._mape.values():
            gauge.set(0.0)

    # ---------------------------------------------------------------- before the draft
    def plan(self, raw: dict[str, Any], body_bytes: int, slo: Slo, cloud_latency_s: float) -> Plan:
        single = self._single
        if single is not None and not slo.any:  # one expert, no SLO: nothing to weigh
            if not self.load.loads[single.name].healthy:
                self._placed[("none", self.policy)] += 1
                return Plan(None, None, slo, to_cloud="edge_unavailable")
            self._placed[(single.name, self.policy)] += 1
            return Plan(single, None, slo)
        request = self._request_view(raw, body_bytes, slo)
        rtype = request_type(raw, self.quality.domains)
        views = [self._view(e, rtype) for e in self.experts.values()]
        flights = self._flights() if self.policy in _NEEDS_FLIGHTS else None
        placement = place(request, views, self.models, self.policy, self.policy_state, flights)
        if placement.expert is None:
            self._placed[("none", self.policy)] += 1
            return Plan(None, request, slo, rtype, placement, to_cloud="edge_unavailable")
        expert = self.experts[placement.expert]
        if not placement.meets_slo and cloud_wins(placement, cloud_latency_s, request):
            # the expert stays in the plan, for a request that forces the edge
            self._placed[("cloud", self.policy)] += 1
            return Plan(expert, request, slo, rtype, placement, to_cloud="slo_cloud")
        self._placed[(expert.name, self.policy)] += 1
        self._predicted[expert.name].observe(placement.predicted_total_s)
        learned = self.quality.table.knows(expert.config.model)
        return Plan(expert, request, slo, rtype, placement, quality=placement.quality if learned else None)

    def _request_view(self, raw: dict[str, Any], body_bytes: int, slo: Slo) -> RequestView:
        expected = self.output_tokens
        cap = raw.get("max_completion_tokens") or raw.get("max_tokens")
        if isinstance(cap, int) and 0 < cap < expected:
            expected = float(cap)
        # an edge answer reaches the client whole: its first byte comes at the end of the draft
        deadline = slo.deadline_s
        if slo.ttft_s is not None:
            deadline = slo.ttft_s if deadline is None else min(deadline, slo.ttft_s)
        return RequestView(
            prompt_tokens=int(body_bytes / BYTES_PER_TOKEN),
            expected_output_tokens=max(int(expected), 1),
            slo_tpot_s=slo.tpot_s,
            deadline_s=deadline,
        )

    def _view(self, expert: Expert, rtype: RequestType) -> ExpertView:
        c = expert.config
        load = self.load.loads[expert.name]
        prior = c.quality if c.quality is not None else DEFAULT_PRIOR
        return ExpertView(
            name=expert.name,
            quality=self.quality.quality(c.model, rtype, prior),
            in_flight=load.total_in_flight,
            running=load.running,
            waiting=load.waiting,
            kv_usage=load.kv_usage,
            slots=c.slots,
            healthy=load.healthy,
            stale=self.load.stale(load),
            context_limit=c.context_limit,
            tags=frozenset(c.tags),
        )

    def _flights(self) -> dict[str, list[InFlight]]:
        now = self.clock()
        out: dict[str, list[InFlight]] = {}
        for name, active in self._active.items():
            flights = []
            for a in active.values():
                decoded = max(now - a.started - a.ttft_s, 0.0) / a.tpot_s
                slack = None if a.deadline is None else a.deadline - now
                flights.append(InFlight(remaining_tokens(a.output_tokens, decoded), slack))
            out[name] = flights
        return out

    # ---------------------------------------------------------------- the draft
    async def draft(self, plan: Plan, body: dict[str, Any]) -> EdgeDraft:
        """The chosen expert's draft; raises ``UpstreamError`` as the edge client does."""
        assert plan.expert is not None
        name = plan.expert.name
        concurrency = self.load.acquire(name)
        key = next(self._ids) if self._single is None else None  # one expert: no impact to weigh
        if key is not None:
            self._active[name][key] = self._flight(plan, name, concurrency)
        try:
            draft = await self.clients[name].draft(body)
        except UpstreamError as exc:
            if isinstance(exc, UpstreamConnectError):  # nobody answers there: avoid it now
                self.load.failed(name, exc.code or "connect")
            raise
        finally:
            self.load.release(name)
            if key is not None:
                del self._active[name][key]
        self._observe(plan.expert, plan.request, draft, concurrency)
        return draft

    async def sample(
        self, plan: Plan, body: dict[str, Any], n: int, temperature: float, seed: int
    ) -> EdgeDraft:
        """``n`` sampled drafts from the expert that drafts (self-consistency). Not a draft:
        neither the in-flight counts nor the latency model see it (the server's own gauges
        do); raises ``UpstreamError`` as the edge client does."""
        assert plan.expert is not None
        return await self.clients[plan.expert.name].sample(body, n, temperature, seed)

    def _flight(self, plan: Plan, name: str, concurrency: int) -> _Active:
        started = self.clock()
        p, req = plan.placement, plan.request
        assert req is not None  # only the one-expert fast path has none, and it keeps no flights
        if p is not None and p.predicted_total_s > 0:
            tpot = max((p.predicted_total_s - p.predicted_ttft_s) / max(req.expected_output_tokens - 1, 1), 1e-4)
            ttft = p.predicted_ttft_s
        else:
            prediction = self.models[name].predict(concurrency, req.prompt_tokens, req.expected_output_tokens)
            ttft, tpot = prediction.ttft_s, prediction.tpot_s
        deadline = None if req.deadline_s is None else started + req.deadline_s
        return _Active(started, ttft, tpot, req.expected_output_tokens, deadline)

    def _observe(self, expert: Expert, req: RequestView | None, draft: EdgeDraft, concurrency: int) -> None:
        name = expert.name
        now = self.clock()
        if now < self._next_observe[name]:
            return  # learning from MAX_OBSERVE_PER_S calls a second is plenty, and cheap
        self._next_observe[name] = now + 1.0 / MAX_OBSERVE_PER_S
        total = draft.latency_s
        self._actual[name].observe(total)  # sampled like the model: the dashboard wants quantiles
        usage = draft.response.get("usage") or {}
        output = usage.get("completion_tokens") or len(draft.token_logprobs) or 1
        prompt = usage.get("prompt_tokens") or (req.prompt_tokens if req is not None else 0)
        self.output_tokens += OUTPUT_EWMA * (float(output) - self.output_tokens)
        slots = expert.config.slots
        if slots is not None and concurrency > slots:
            return  # it waited for a slot: the model describes service, not queueing
        model = self.models[name]
        model.observe(concurrency, prompt, output, measured_ttft(draft, model, concurrency, output), total)
        self._mape[name].set(model.mape)

    # ---------------------------------------------------------------- after the answer
    def finished(
        self, plan: Plan, route: str, expert: str | None, elapsed_s: float, draft: EdgeDraft | None
    ) -> None:
        """Count an SLO miss: the whole answer later than the deadline or the TTFT objective
        (an edge answer arrives whole), or the draft decoded slower than the TPOT objective."""
        if plan.request is None:
            return
        limit = plan.request.deadline_s
        missed = limit is not None and elapsed_s > limit
        tpot = plan.slo.tpot_s
        if not missed and tpot is not None and draft is not None and route == "edge":
            measured = draft_tpot_s(draft)
            missed = measured is not None and measured > tpot
        if missed:
            self._missed["cloud" if route == "cloud" or expert is None else expert].inc()

    def model_of(self, expert: str | None) -> str | None:
        """The model name the expert's client asks for (the dataset record's ``models.edge``)."""
        if expert is None:
            return None
        client = self.clients[expert]
        model = getattr(client, "model", None)
        return model if isinstance(model, str) else self.experts[expert].config.model

    def state(self) -> dict[str, Any]:
        """The ``experts`` section of ``GET /v1/router/state``."""
        live = self.load.state()
        return {
            "policy": self.policy,
            "expected_output_tokens": round(self.output_tokens, 1),
            "quality": self.quality.state(),
            "experts": {
                name: {
                    "model": e.config.model,
                    "flavor": e.config.flavor,
                    "base_url": str(e.config.base_url),
                    "slots": e.config.slots,
                    "tags": e.config.tags,
                    "context_limit": e.config.context_limit,
                    "load": live[name],
                    "latency_model": {
                        "observations": self.models[name].n,
                        "mape": round(self.models[name].mape, 4),
                        "recent_mape": round(self.models[name].recent_mape, 4),
                        "coefficients": self.models[name].coefficients,
                    },
                }
                for name, e in self.experts.items()
            },
        }


def measured_ttft(draft: EdgeDraft, model: LatencyModel, concurrency: int, output: int) -> float:
    """Time to first token of a non-streamed draft: llama-server reports its decode time
    (``timings.predicted_ms``), so TTFT = latency − decode; vLLM reports none, so the model's
    own per-token time splits the latency (the total is still measured exactly)."""
    timings = draft.response.get("timings")
    if isinstance(timings, dict) and isinstance(decode_ms := timings.get("predicted_ms"), int | float):
        decode = float(decode_ms) / 1000.0
    else:
        decode = max(output - 1, 0) * model.tpot(concurrency)
    return min(max(draft.latency_s - decode, 1e-3), draft.latency_s)


def draft_tpot_s(draft: EdgeDraft) -> float | None:
    """Measured decode time per token of a draft (llama-server's timings), else None."""
    timings = draft.response.get("timings")
    if isinstance(timings, dict):
        per_token = timings.get("predicted_per_token_ms")
        if isinstance(per_token, int | float) and per_token > 0:
            return float(per_token) / 1000.0
    return None


def no_expert_error() -> UpstreamConnectError:
    return UpstreamConnectError(
        "edge", "no edge expert is up (each failed its last scrape or call); see GET /v1/router/state"
    )
