"""Placement policies over the eligible experts (healthy, prompt fits), each a small pure unit.

Every policy gets the same inputs and returns ``(index, reason, estimate or None)``; the
estimate of the chosen expert is filled in by ``placement.place`` when a policy did not need
one. The baselines follow published routers (SEEDS.md):

- ``round_robin``: the next expert in turn.
- ``least_loaded``: fewest requests on it (exact in-flight, raised by fresh gauges).
- ``weighted``: the Kubernetes inference gateway's endpoint picker: queue score
  (maxQ−q)/(maxQ−minQ) weight 2 plus KV score 1−utilisation weight 2, highest wins. Without a
  KV gauge (llama.cpp) the share of busy slots stands in for utilisation.
- ``best_fit``: llm-d's predicted-latency scheduler: keep the experts predicted to meet the
  SLO, best fit = least headroom; none meets → most headroom. No exploration (deterministic).
- ``impact``: ours: among the experts predicted to meet the SLO (all when none does),
  maximise quality·P(meet SLO) − w_miss·(expected SLO misses caused to the requests in
  flight) − w_lat·(added latency of the others + own latency).
- ``learned``: an attention policy over the impact estimator's features (``learned.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from gateway.routing.impact import Estimate, effective_load, estimate
from gateway.routing.latency_model import LatencyModel
from gateway.routing.views import ExpertView, InFlight, RequestView

if TYPE_CHECKING:
    from gateway.routing.learned import LearnedPolicy

_DEFAULT_MODEL = LatencyModel()  # read only: used for an expert that has no model yet


@dataclass(slots=True)
class PolicyState:
    """What a policy keeps between calls, and its weights. The caller owns it (one per router)."""

    rr_next: int = 0
    miss_weight: float = 1.0  # quality units lost per expected SLO miss caused to another request
    latency_weight: float = 0.01  # quality units per second of latency (others' added + own)
    queue_weight: float = 2.0  # endpoint picker's queue scorer weight
    kv_weight: float = 2.0  # endpoint picker's KV-cache scorer weight
    # impact: an expert counts as meeting the SLO from this P(meet) up (0.95 chosen on the
    # simulator's training half of the Azure traces, seed 200, from 0.5/0.7/0.85/0.95)
    min_p_meet: float = 0.95
    learned: LearnedPolicy | None = field(default=None)


class PolicyInput(NamedTuple):
    """Everything a policy may look at (``experts``: the eligible ones, never empty)."""

    request: RequestView
    experts: Sequence[ExpertView]
    models: Mapping[str, LatencyModel]
    state: PolicyState
    in_flight: Mapping[str, Sequence[InFlight]] | None


PolicyResult = tuple[int, str, Estimate | None]
PolicyFn = Callable[[PolicyInput], PolicyResult]


def model_for(models: Mapping[str, LatencyModel], name: str) -> LatencyModel:
    return models.get(name, _DEFAULT_MODEL)


def estimates(
    request: RequestView,
    experts: Sequence[ExpertView],
    models: Mapping[str, LatencyModel],
    in_flight: Mapping[str, Sequence[InFlight]] | None,
) -> list[Estimate]:
    if in_flight is None:
        return [estimate(request, e, models.get(e.name, _DEFAULT_MODEL), None) for e in experts]
    return [
        estimate(request, e, models.get(e.name, _DEFAULT_MODEL), in_flight.get(e.name, ()))
        for e in experts
    ]


def _rotated_argbest(values: Sequence[float], start: int, lower: bool) -> int:
    """Index of the best value; ties go to the first at or after ``start`` (round robin)."""
    n = len(values)
    best_i = start % n
    best = values[best_i]
    for k in range(1, n):
        i = (start + k) % n
        v = values[i]
        if (v < best) if lower else (v > best):
            best, best_i = v, i
    return best_i


def round_robin(ctx: PolicyInput) -> PolicyResult:
    i = ctx.state.rr_next % len(ctx.experts)
    ctx.state.rr_next += 1
    return i, "round_robin", None


def least_loaded(ctx: PolicyInput) -> PolicyResult:
    loads = [effective_load(e) for e in ctx.experts]
    i = _rotated_argbest(loads, ctx.state.rr_next, lower=True)
    ctx.state.rr_next += 1
    return i, "least_loaded", None


def _queue(e: ExpertView) -> float:
    if not e.stale and e.waiting is not None:
        return e.waiting
    if e.slots:
        return max(e.in_flight - e.slots, 0)
    return float(e.in_flight)


def _utilisation(e: ExpertView) -> float:
    if not e.stale and e.kv_usage is not None:
        return min(max(e.kv_usage, 0.0), 1.0)
    if e.slots:
        return min(effective_load(e) / e.slots, 1.0)
    return 0.0


def weighted(ctx: PolicyInput) -> PolicyResult:
    experts, state = ctx.experts, ctx.state
    queues = [_queue(e) for e in experts]
    lo, hi = min(queues), max(queues)
    span = hi - lo
    scores = [
        state.queue_weight * ((hi - q) / span if span > 0 else 1.0)
        + state.kv_weight * (1.0 - _utilisation(e))
        for q, e in zip(queues, experts, strict=True)
    ]
    i = _rotated_argbest(scores, state.rr_next, lower=False)
    state.rr_next += 1
    return i, "weighted_score", None


def headroom(request: RequestView, est: Estimate) -> float | None:
    """Smallest relative slack over the request's SLOs; None when it has none."""
    rooms = []
    if request.slo_ttft_s:
        rooms.append((request.slo_ttft_s - est.ttft_s) / request.slo_ttft_s)
    if request.slo_tpot_s and request.expected_output_tokens > 1:
        rooms.append((request.slo_tpot_s - est.tpot_s) / request.slo_tpot_s)
    if request.deadline_s:
        rooms.append((request.deadline_s - est.total_s) / request.deadline_s)
    return min(rooms) if rooms else None


def best_fit(ctx: PolicyInput) -> PolicyResult:
    request = ctx.request
    ests = estimates(request, ctx.experts, ctx.models, ctx.in_flight)
    rooms = [headroom(request, est) for est in ests]
    if rooms[0] is None:  # no SLO: fastest predicted
        i = min(range(len(ests)), key=lambda k: ests[k].total_s)
        return i, "best_fit_headroom", ests[i]
    feasible = [k for k, h in enumerate(rooms) if h is not None and h >= 0.0]
    if feasible:
        i = min(feasible, key=lambda k: rooms[k] or 0.0)
        return i, "best_fit_headroom", ests[i]
    i = max(range(len(ests)), key=lambda k: rooms[k] or 0.0)
    return i, "no_expert_meets_slo", ests[i]


def impact_score(expert: ExpertView, est: Estimate, state: PolicyState) -> float:
    return (
        expert.quality * est.p_meet
        - state.miss_weight * est.added_slo_misses
        - state.latency_weight * (est.added_latency_s + est.total_s)
    )


def impact(ctx: PolicyInput) -> PolicyResult:
    experts, state = ctx.experts, ctx.state
    ests = estimates(ctx.request, experts, ctx.models, ctx.in_flight)
    # Filter, then score: an expert predicted to miss is only a candidate when none meets (the
    # caller then compares it with the cloud: ``cloud_wins``).
    floor = state.min_p_meet
    any_meets = False
    for est in ests:
        if est.meets and est.p_meet >= floor:
            any_meets = True
            break
    best_i, best = 0, -1e18
    for k, (e, est) in enumerate(zip(experts, ests, strict=True)):
        if any_meets and not (est.meets and est.p_meet >= floor):
            continue
        s = impact_score(e, est, state)
        if s > best:
            best, best_i = s, k
    return best_i, "best_qos" if any_meets else "no_expert_meets_slo", ests[best_i]


def learned(ctx: PolicyInput) -> PolicyResult:
    policy = ctx.state.learned
    if policy is None:
        raise ValueError(
            "the learned policy needs its weights: PolicyState(learned=learned.load_policy())"
        )
    ests = estimates(ctx.request, ctx.experts, ctx.models, ctx.in_flight)
    i = policy.choose(ctx.request, ctx.experts, ests)
    any_meets = any(est.meets for est in ests)
    return i, "learned" if any_meets else "no_expert_meets_slo", ests[i]


POLICY_FUNCTIONS: dict[str, PolicyFn] = {
    "round_robin": round_robin,
    "least_loaded": least_loaded,
    "weighted": weighted,
    "best_fit": best_fit,
    "impact": impact,
    "learned": learned,
}
