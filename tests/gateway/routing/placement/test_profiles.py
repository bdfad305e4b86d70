"""The six profiles make the decisions the six policies are defined by (stated with hypothesis).

Each reference below is the policy's definition written directly on raw values with Python's
``min``/``max`` (first wins a tie), the way the monolithic policies computed it; the profile
runs filters → scaled scorers → picker. They must agree on every input, including the
round-robin position they leave behind.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing.placement import (
    POLICIES,
    PROFILES,
    Context,
    ExpertView,
    PolicyState,
    Profile,
    RequestView,
    choose,
    eligible,
    place,
)
from gateway.routing.placement.estimator import effective_load, headroom
from gateway.routing.placement.filters import FitsContext, Healthy, MeetsSlo
from gateway.routing.placement.learned_model import load_policy
from gateway.routing.placement.pickers import MaxScore
from gateway.routing.placement.scorers import Latency, Quality, impact_score
from gateway.routing.placement.scorers.kv_cache import utilisation
from gateway.routing.placement.scorers.queue import queue_length
from tests.gateway.routing.placement.strategies import experts_st, flights_st, requests_st


def _rotated(values: list[float], start: int) -> int:
    n = len(values)
    order = [(start + k) % n for k in range(n)]
    return max(order, key=lambda i: (values[i], -order.index(i)))


def reference(policy: str, ctx: Context, state: PolicyState) -> tuple[str, str]:
    """(expert, reason) as the policy is defined, over the eligible experts (never empty)."""
    es = eligible(ctx.request, ctx.experts)
    pos = [list(ctx.experts).index(e) for e in es]
    ests = ctx.estimates(pos)
    rr = state.rr_next
    if policy == "round_robin":
        state.rr_next += 1
        return es[rr % len(es)].name, "round_robin"
    if policy == "least_loaded":
        state.rr_next += 1
        return es[_rotated([-effective_load(e) for e in es], rr)].name, "least_loaded"
    if policy == "weighted":
        q = [queue_length(e) for e in es]
        span = max(q) - min(q)
        s = [
            2.0 * ((max(q) - qi) / span if span > 0 else 1.0) + 2.0 * (1.0 - utilisation(e))
            for qi, e in zip(q, es, strict=True)
        ]
        state.rr_next += 1
        return es[_rotated(s, rr)].name, "weighted_score"
    k = range(len(es))
    if policy == "best_fit":
        rooms = [headroom(ctx.request, est) for est in ests]
        if rooms[0] is None:
            return es[min(k, key=lambda i: ests[i].total_s)].name, "best_fit_headroom"
        fit = [i for i in k if rooms[i] >= 0.0]
        if fit:
            return es[min(fit, key=lambda i: rooms[i])].name, "best_fit_headroom"
        return es[max(k, key=lambda i: rooms[i])].name, "no_expert_meets_slo"
    if policy == "impact":
        meet = [i for i in k if ests[i].meets and ests[i].p_meet >= 0.95]
        among = meet or list(k)
        best = max(among, key=lambda i: impact_score(es[i], ests[i]))
        return es[best].name, "best_qos" if meet else "no_expert_meets_slo"
    assert policy == "learned" and state.learned is not None
    best = state.learned.choose(ctx.request, es, ests)
    return es[best].name, "learned" if any(e.meets for e in ests) else "no_expert_meets_slo"


LEARNED = load_policy()


def test_the_six_policy_names_are_the_setting_values():
    assert POLICIES == ("round_robin", "least_loaded", "weighted", "best_fit", "impact", "learned")
    assert all(PROFILES[p].name == p for p in POLICIES)


@settings(max_examples=150)
@given(
    requests_st,
    experts_st,
    st.none() | st.dictionaries(st.sampled_from("abcdefgh"), flights_st),
    st.sampled_from(POLICIES),
    st.integers(0, 20),
)
def test_each_profile_decides_as_its_policy_is_defined(r, experts, flights, policy, rr):
    state = PolicyState(rr_next=rr, learned=LEARNED)
    ref_state = PolicyState(rr_next=rr, learned=LEARNED)
    p = place(r, experts, {}, policy, state, flights)
    if not eligible(r, experts):
        assert p.expert is None and p.reason == "no_eligible_expert"
        return
    ctx = Context(r, experts, {}, ref_state, flights)
    assert (p.expert, p.reason) == reference(policy, ctx, ref_state)
    assert state.rr_next == ref_state.rr_next
    chosen = next(e for e in experts if e.name == p.expert)
    est = ctx.estimate(experts.index(chosen))
    assert (p.predicted_total_s, p.p_meet_slo, p.quality) == (
        est.total_s,
        est.p_meet,
        chosen.quality,
    )


@settings(max_examples=100)
@given(requests_st, experts_st)
def test_a_profile_of_other_plugins_chooses_among_those_that_pass(r, experts):
    """Profiles are data: a new one (quality weighted against speed, SLO-first) just works."""
    profile = Profile(
        "quality_then_speed",
        "custom",
        MaxScore(),
        ((Quality(), 3.0), (Latency(), 1.0)),
        filters=(Healthy(), FitsContext()),
        slo_check=MeetsSlo(0.5),
    )
    ctx = Context(r, experts, {}, PolicyState())
    got = choose(profile, ctx)
    fit = eligible(r, experts)
    ok = [i for i, e in enumerate(experts) if e in fit]
    if not ok:
        assert got is None
        return
    assert got is not None
    i, reason = got
    meeting = MeetsSlo(0.5).filter(ctx, ok)
    assert i in (meeting or ok)
    assert reason == ("custom" if meeting else "no_expert_meets_slo")


def test_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="best_fit"):
        place(RequestView(1, 1), [ExpertView("a", 1.0, 0)], {}, "fastest")
