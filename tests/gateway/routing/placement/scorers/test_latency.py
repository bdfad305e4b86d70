"""Scorer ``latency``: the fastest predicted total scores 1, the slowest 0."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.scorers import Latency
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_scores_in_unit_interval_fastest_best(c):
    ctx, all_ = c
    s = Latency().score(ctx, all_)
    totals = [est.total_s for est in ctx.estimates(all_)]
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)
    assert s[totals.index(min(totals))] == 1.0


def test_an_idle_expert_beats_a_busy_one():
    ctx, all_ = ctx_of(
        RequestView(500, 100), ExpertView("busy", 0.9, 12, slots=16), ExpertView("idle", 0.9, 0)
    )
    assert Latency().score(ctx, all_) == [0.0, 1.0]
