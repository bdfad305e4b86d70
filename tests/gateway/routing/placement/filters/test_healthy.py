"""Filter ``healthy``: keeps exactly the healthy experts, in order."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.filters import Healthy
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_keeps_exactly_the_healthy_in_order(c):
    ctx, all_ = c
    assert Healthy().filter(ctx, all_) == [i for i in all_ if ctx.experts[i].healthy]


def test_only_looks_at_the_candidates_it_is_given():
    ctx, _ = ctx_of(RequestView(10, 10), *(ExpertView(n, 0.5, 0, healthy=n != "b") for n in "abc"))
    assert Healthy().filter(ctx, [2, 1]) == [2]
    assert Healthy().filter(ctx, []) == []
