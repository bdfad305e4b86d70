"""Placement across edge experts: filters, a policy, and the prediction for the chosen expert.

    eligible = healthy experts whose context fits prompt + expected output
    index    = POLICY(request, eligible, latency models, state, requests in flight)
    Placement(expert, predicted TTFT/total, added latency and SLO misses of the others, ...)

Pure: the gateway and the simulator (``netgpt bench experts``) call the same code. The cloud
is not an expert here: the caller compares the placement with its network-aware cloud estimate
(``cloud_wins``), and τ uses the chosen expert's prediction and quality.

>>> from gateway.routing.placement import ExpertView, RequestView, place
>>> experts = [ExpertView("a", quality=0.8, in_flight=3), ExpertView("b", quality=0.7, in_flight=0)]
>>> place(RequestView(prompt_tokens=300, expected_output_tokens=30), experts, {}, "least_loaded").expert
'b'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.routing.impact import Estimate, estimate
from gateway.routing.latency_model import LatencyModel, LatencyPrediction, LatencyPrior
from gateway.routing.policies import POLICY_FUNCTIONS, PolicyInput, PolicyState, model_for
from gateway.routing.views import ExpertView, InFlight, Placement, RequestView

POLICIES: tuple[str, ...] = (
    "round_robin",
    "least_loaded",
    "weighted",
    "best_fit",
    "impact",
    "learned",
)
DEFAULT_POLICY = "impact"

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "Estimate",
    "ExpertView",
    "InFlight",
    "LatencyModel",
    "LatencyPrediction",
    "LatencyPrior",
    "Placement",
    "PolicyState",
    "RequestView",
    "cloud_wins",
    "eligible",
    "place",
]


def eligible(request: RequestView, experts: Sequence[ExpertView]) -> list[ExpertView]:
    """Healthy experts whose context holds the prompt and the expected output."""
    need = request.prompt_tokens + request.expected_output_tokens
    return [
        e for e in experts if e.healthy and (e.context_limit is None or need <= e.context_limit)
    ]


def place(
    request: RequestView,
    experts: Sequence[ExpertView],
    models: Mapping[str, LatencyModel],
    policy: str = DEFAULT_POLICY,
    state: PolicyState | None = None,
    in_flight_slos: Mapping[str, Sequence[InFlight]] | None = None,
) -> Placement:
    """Choose the expert for ``request``; ``expert=None`` when none can take it.

    ``models``: latency model per expert name (a missing one uses default coefficients).
    ``state``: the policy's state (round-robin position, weights, learned weights); pass the
    same object on every call. ``in_flight_slos``: per expert, the requests running there with
    their remaining tokens and SLO slack; without it SLO misses caused to others are not scored
    (added latency still is, from the counts).
    """
    fn = POLICY_FUNCTIONS.get(policy)
    if fn is None:
        raise ValueError(
            f"unknown placement policy {policy!r}; choose one of {', '.join(POLICIES)}"
        )
    candidates = eligible(request, experts)
    if not candidates:
        return Placement(None, 0.0, 0.0, 0.0, 0.0, False, policy, "no_eligible_expert")
    st = state if state is not None else PolicyState()
    i, reason, est = fn(PolicyInput(request, candidates, models, st, in_flight_slos))
    chosen = candidates[i]
    if est is None:
        flights = in_flight_slos.get(chosen.name, ()) if in_flight_slos is not None else None
        est = estimate(request, chosen, model_for(models, chosen.name), flights)
    return Placement(
        chosen.name,
        est.ttft_s,
        est.total_s,
        est.added_latency_s,
        est.added_slo_misses,
        est.meets,
        policy,
        reason,
        est.p_meet,
        chosen.quality,
    )


def cloud_wins(
    placement: Placement,
    cloud_latency_s: float,
    request: RequestView,
    cloud_ttft_s: float | None = None,
) -> bool:
    """True when the request should go to the cloud instead of the placed expert.

    The cloud wins when no expert can take the request at all, or when the chosen expert is
    not predicted to meet the SLO but the network-aware cloud estimate is (total latency
    against the deadline, ``cloud_ttft_s`` — default: the whole cloud latency, the
    conservative reading — against the TTFT objective, and the cloud's per-token time against
    the TPOT objective). Otherwise the edge/cloud decision stays with τ.
    """
    if placement.expert is None:
        return True
    if placement.meets_slo:
        return False
    if request.slo_ttft_s is None and request.slo_tpot_s is None and request.deadline_s is None:
        return False
    ttft = cloud_ttft_s if cloud_ttft_s is not None else cloud_latency_s
    if request.deadline_s is not None and cloud_latency_s > request.deadline_s:
        return False
    if request.slo_ttft_s is not None and ttft > request.slo_ttft_s:
        return False
    if request.slo_tpot_s is not None and request.expected_output_tokens > 1:
        tpot = max(cloud_latency_s - ttft, 0.0) / (request.expected_output_tokens - 1)
        if tpot > request.slo_tpot_s:
            return False
    return True
