"""The one entry of placement: run a profile's filters → scorers → picker over the experts.

    placement = place(request, experts, models, policy, state, in_flight)

Pure: the gateway (``gateway.experts.placer``) and the simulator (``netgpt bench experts``) call
this same function. The cloud is not an expert here: the caller compares the placement with
its network-aware cloud estimate (``cloud_wins``), and τ uses the chosen expert's prediction
and quality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.routing.placement.interfaces import Context, PolicyState
from gateway.routing.placement.latency_model import LatencyModel
from gateway.routing.placement.profiles import (
    DEFAULT_POLICY,
    ELIGIBLE,
    NO_ELIGIBLE_EXPERT,
    NO_EXPERT_MEETS_SLO,
    POLICIES,
    PROFILES,
    Profile,
)
from gateway.routing.placement.views import ExpertView, InFlight, Placement, RequestView


def eligible(request: RequestView, experts: Sequence[ExpertView]) -> list[ExpertView]:
    """Healthy experts whose context holds the prompt and the expected output."""
    ctx = Context(request, experts, {}, PolicyState())
    candidates: Sequence[int] = range(len(experts))
    for f in ELIGIBLE:
        candidates = f.filter(ctx, candidates)
    return [experts[i] for i in candidates]


def choose(profile: Profile, ctx: Context) -> tuple[int, str] | None:
    """(position in ``ctx.experts``, reason) of the profile's choice; None when no one passes."""
    candidates: Sequence[int] = range(len(ctx.experts))
    for f in profile.filters:
        candidates = f.filter(ctx, candidates)
        if not candidates:
            return None
    reason = profile.reason
    if profile.slo_check is not None:
        meeting = profile.slo_check.filter(ctx, candidates)
        if not meeting:
            reason = NO_EXPERT_MEETS_SLO
        elif profile.slo_restricts:
            candidates = meeting
    return candidates[
        profile.picker.pick(ctx, candidates, weighted(profile, ctx, candidates))
    ], reason


def weighted(profile: Profile, ctx: Context, candidates: Sequence[int]) -> list[float]:
    """Σ weight · score per candidate over the profile's scorers (all 0 without scorers)."""
    scorers = profile.scorers
    if not scorers:
        return [0.0] * len(candidates)
    scorer, weight = scorers[0]
    scores = scorer.score(ctx, candidates)
    total = scores if weight == 1.0 else [weight * s for s in scores]
    for scorer, weight in scorers[1:]:
        scores = scorer.score(ctx, candidates)
        total = [t + weight * s for t, s in zip(total, scores, strict=True)]
    return total


def place(
    request: RequestView,
    experts: Sequence[ExpertView],
    models: Mapping[str, LatencyModel],
    policy: str = DEFAULT_POLICY,
    state: PolicyState | None = None,
    in_flight_slos: Mapping[str, Sequence[InFlight]] | None = None,
) -> Placement:
    """Choose the expert for ``request`` with the profile named ``policy``.

    ``expert=None`` when none can take it. ``models``: latency model per expert name (a missing
    one uses default coefficients). ``state``: pass the same object on every call (round-robin
    position, learned weights). ``in_flight_slos``: per expert, the requests running there with
    their remaining tokens and SLO slack; without it SLO misses caused to others are not scored
    (added latency still is, from the counts).

    >>> experts = [ExpertView("a", quality=0.8, in_flight=3), ExpertView("b", 0.7, in_flight=0)]
    >>> place(RequestView(prompt_tokens=300, expected_output_tokens=30), experts, {},
    ...       "least_loaded").expert
    'b'
    """
    profile = PROFILES.get(policy)
    if profile is None:
        raise ValueError(
            f"unknown placement policy {policy!r}; choose one of {', '.join(POLICIES)}"
        )
    ctx = Context(
        request, experts, models, state if state is not None else PolicyState(), in_flight_slos
    )
    chosen = choose(profile, ctx)
    if chosen is None:
        return Placement(None, 0.0, 0.0, 0.0, 0.0, False, policy, NO_ELIGIBLE_EXPERT)
    i, reason = chosen
    est = ctx.estimate(i)
    return Placement(
        experts[i].name,
        est.ttft_s,
        est.total_s,
        est.added_latency_s,
        est.added_slo_misses,
        est.meets,
        policy,
        reason,
        est.p_meet,
        experts[i].quality,
    )
