"""Filter ``meets_slo``: point predictions within the SLO and P(meet) at least the floor."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.filters import MeetsSlo
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts(), st.floats(0.0, 1.0))
def test_passes_what_the_estimates_say(c, floor):
    ctx, all_ = c
    kept = MeetsSlo(floor).filter(ctx, all_)
    ests = ctx.estimates(all_)
    assert kept == [i for i in all_ if ests[i].meets and ests[i].p_meet >= floor]
    assert set(MeetsSlo(1.0).filter(ctx, all_)) <= set(MeetsSlo(floor).filter(ctx, all_))


def test_a_request_without_slo_meets_everywhere():
    ctx, all_ = ctx_of(RequestView(500, 100), ExpertView("busy", 0.5, 40, slots=2))
    assert MeetsSlo(0.95).filter(ctx, all_) == all_


def test_an_overloaded_expert_does_not_meet_a_tight_ttft():
    r = RequestView(500, 100, slo_ttft_s=0.5)
    ctx, all_ = ctx_of(r, ExpertView("slow", 0.9, 30, slots=2), ExpertView("idle", 0.9, 0, slots=8))
    assert MeetsSlo(0.95).filter(ctx, all_) == [1]
