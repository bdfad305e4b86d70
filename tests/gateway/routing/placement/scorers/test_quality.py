"""Scorer ``quality``: the expert's quality for the request type, clipped to [0, 1]."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.scorers import Quality
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_is_the_quality(c):
    ctx, all_ = c
    assert Quality().score(ctx, all_) == [ctx.experts[i].quality for i in all_]


def test_out_of_range_values_are_clipped():
    ctx, all_ = ctx_of(RequestView(1, 1), ExpertView("a", 1.5, 0), ExpertView("b", -0.1, 0))
    assert Quality().score(ctx, all_) == [1.0, 0.0]
