"""Laws of placement across edge experts (gateway.routing.placement.place), stated with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing.placement import (
    POLICIES,
    ExpertView,
    InFlight,
    LatencyModel,
    Placement,
    PolicyState,
    RequestView,
    cloud_wins,
    estimate,
    place,
    remaining_tokens,
)
from tests.gateway.routing.placement.strategies import experts_st, flights_st, requests_st

HEURISTIC = tuple(p for p in POLICIES if p != "learned")

def _fits(e: ExpertView, r: RequestView) -> bool:
    return e.healthy and (
        e.context_limit is None or r.prompt_tokens + r.expected_output_tokens <= e.context_limit
    )


@settings(max_examples=100, deadline=None)
@given(requests_st, experts_st, st.sampled_from(HEURISTIC))
def test_unhealthy_or_too_small_experts_are_never_chosen(r, experts, policy):
    p = place(r, experts, {}, policy, PolicyState())
    ok = {e.name for e in experts if _fits(e, r)}
    if ok:
        assert p.expert in ok
        assert p.reason != "no_eligible_expert"
    else:
        assert p.expert is None and p.reason == "no_eligible_expert" and not p.meets_slo


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6000),
    st.integers(1, 800),
    st.none() | st.floats(0.05, 5.0),
    st.none() | st.floats(0.1, 60.0),
    experts_st,
    st.sampled_from(HEURISTIC),
)
def test_meets_slo_is_what_the_predictions_say(p_tok, o_tok, slo_ttft, deadline, experts, policy):
    r = RequestView(p_tok, o_tok, slo_ttft_s=slo_ttft, deadline_s=deadline)
    p = place(r, experts, {}, policy, PolicyState())
    if p.expert is None:
        return
    expected = (slo_ttft is None or p.predicted_ttft_s <= slo_ttft) and (
        deadline is None or p.predicted_total_s <= deadline
    )
    assert p.meets_slo == expected
    assert 0.0 <= p.p_meet_slo <= 1.0
    assert p.predicted_total_s >= p.predicted_ttft_s > 0.0


@settings(max_examples=100, deadline=None)
@given(requests_st, st.integers(0, 30), flights_st, flights_st)
def test_impact_is_non_negative_and_grows_with_load_in_flight(r, n, flights, more):
    e = ExpertView("a", 0.8, in_flight=n)
    m = LatencyModel()
    few = estimate(r, e, m, flights)
    assert few.added_latency_s >= 0.0 and few.added_slo_misses >= -1e-12
    # more requests in flight there: at least as much added latency (the expected misses need
    # not grow: each one's own time before the placement grows with the load too)
    all_of_them = estimate(r, ExpertView("a", 0.8, in_flight=n + len(more)), m, [*flights, *more])
    if n > 0:
        assert all_of_them.added_latency_s >= few.added_latency_s - 1e-9
    # from counts alone
    counts = [estimate(r, ExpertView("a", 0.8, in_flight=k), m).added_latency_s for k in range(8)]
    assert counts[0] == 0.0
    assert all(b >= a for a, b in zip(counts, counts[1:], strict=False))
    assert counts[7] > 0.0


@settings(max_examples=100, deadline=None)
@given(requests_st, st.integers(0, 30))
def test_own_latency_grows_with_load(r, n):
    m = LatencyModel()
    lo = estimate(r, ExpertView("a", 0.8, in_flight=n, slots=8), m)
    hi = estimate(r, ExpertView("a", 0.8, in_flight=n + 1, slots=8), m)
    assert hi.ttft_s >= lo.ttft_s - 1e-12 and hi.total_s >= lo.total_s - 1e-12


def test_a_request_pushed_past_its_slack_counts_as_a_miss():
    m = LatencyModel()  # tpot 20 ms alone, +2 ms per extra request
    r = RequestView(2000, 200)
    tight = [InFlight(remaining_tokens=100, slack_s=100 * 0.022 + 0.01)]  # just meets now
    loose = [InFlight(remaining_tokens=100, slack_s=100.0)]
    e = ExpertView("a", 0.9, in_flight=1)
    assert estimate(r, e, m, tight).added_slo_misses > 0.3
    assert estimate(r, e, m, loose).added_slo_misses < 1e-6
    assert estimate(r, e, m, tight).added_latency_s == pytest.approx(
        estimate(r, e, m, loose).added_latency_s
    )


def test_stale_gauges_fall_back_to_in_flight_counts():
    r = RequestView(100, 10)
    busy_gauges = ExpertView("a", 0.9, in_flight=0, running=30.0, waiting=10.0)
    stale = ExpertView("a", 0.9, in_flight=0, running=30.0, waiting=10.0, stale=True)
    other = ExpertView("b", 0.9, in_flight=2)
    assert place(r, [busy_gauges, other], {}, "least_loaded").expert == "b"
    assert place(r, [stale, other], {}, "least_loaded").expert == "a"


def test_weighted_scorer_prefers_short_queue_and_free_kv():
    r = RequestView(100, 10)
    experts = [
        ExpertView("full", 0.9, in_flight=5, running=5, waiting=6, kv_usage=0.9),
        ExpertView("free", 0.5, in_flight=5, running=5, waiting=0, kv_usage=0.1),
    ]
    assert place(r, experts, {}, "weighted").expert == "free"


def test_round_robin_cycles_over_the_healthy_experts():
    r = RequestView(100, 10)
    experts = [ExpertView(n, 0.5, 0, healthy=n != "b") for n in "abc"]
    state = PolicyState()
    assert [place(r, experts, {}, "round_robin", state).expert for _ in range(4)] == [
        "a",
        "c",
        "a",
        "c",
    ]


def test_impact_trades_quality_against_load():
    r = RequestView(500, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
    good_idle = ExpertView("good", 0.95, in_flight=0, slots=8)
    poor_idle = ExpertView("poor", 0.6, in_flight=0, slots=8)
    assert place(r, [poor_idle, good_idle], {}, "impact").expert == "good"
    # the good one is so loaded it would miss the TPOT objective: the poorer one meets it
    good_busy = ExpertView("good", 0.95, in_flight=14, slots=16)
    p = place(r, [poor_idle, good_busy], {}, "impact")
    assert p.expert == "poor" and p.meets_slo and p.reason == "best_qos"


def test_best_fit_takes_the_tightest_expert_that_meets():
    r = RequestView(500, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
    experts = [
        ExpertView("idle", 0.9, in_flight=0, slots=32),
        ExpertView("some", 0.9, in_flight=6, slots=32),  # tpot 20 ms + 2 ms · 6 = 32 ms
        ExpertView("over", 0.9, in_flight=16, slots=32),  # 20 ms + 2 ms · 16 = 52 ms: misses
    ]
    p = place(r, experts, {}, "best_fit")
    assert p.expert == "some" and p.meets_slo and p.reason == "best_fit_headroom"


def test_no_expert_meets_and_the_cloud_can():
    r = RequestView(500, 100, slo_ttft_s=0.5)
    slow = ExpertView("slow", 0.9, in_flight=30, slots=2)
    p = place(r, [slow], {}, "impact")
    assert not p.meets_slo and p.reason == "no_expert_meets_slo"
    assert cloud_wins(p, cloud_latency_s=2.0, request=r, cloud_ttft_s=0.4)
    assert not cloud_wins(p, cloud_latency_s=2.0, request=r, cloud_ttft_s=0.6)


def test_cloud_wins_rules():
    r = RequestView(500, 100, slo_ttft_s=1.0, deadline_s=5.0)
    meets = Placement("a", 0.2, 2.0, 0.0, 0.0, True, "impact", "best_qos")
    misses = Placement("a", 2.0, 9.0, 0.0, 0.0, False, "impact", "no_expert_meets_slo")
    nobody = Placement(None, 0.0, 0.0, 0.0, 0.0, False, "impact", "no_eligible_expert")
    assert not cloud_wins(meets, 0.5, r)  # the expert meets: τ decides, not this rule
    assert cloud_wins(misses, 0.9, r)
    assert not cloud_wins(misses, 6.0, r)  # the cloud would miss the deadline too
    assert cloud_wins(nobody, 60.0, r)  # nothing else can take it
    assert not cloud_wins(misses, 0.9, RequestView(500, 100))  # no SLO: nothing to win on


def test_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="impact"):
        place(RequestView(1, 1), [ExpertView("a", 1.0, 0)], {}, "fastest")


def test_remaining_tokens_after_outrunning_the_expectation():
    assert remaining_tokens(100, 30) == 70
    assert remaining_tokens(100, 300) == 150
    assert remaining_tokens(10, 10) == 5
    assert remaining_tokens(1, 0) == 1
