"""Scorer ``load``: least loaded 1, most loaded 0, in between by the effective load."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.estimator import effective_load
from gateway.routing.placement.scorers import Load
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_scores_in_unit_interval_and_ordered_by_load(c):
    ctx, all_ = c
    s = Load().score(ctx, all_)
    loads = [effective_load(ctx.experts[i]) for i in all_]
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)
    for a in all_:
        for b in all_:
            if loads[a] < loads[b]:
                assert s[a] >= s[b]
    assert s[loads.index(min(loads))] == 1.0


def test_fresh_gauges_raise_the_count_and_stale_ones_do_not():
    r = RequestView(10, 10)
    ctx, all_ = ctx_of(
        r,
        ExpertView("gauged", 0.5, in_flight=1, running=9.0, waiting=1.0),
        ExpertView("stale", 0.5, in_flight=1, running=9.0, waiting=1.0, stale=True),
        ExpertView("mid", 0.5, in_flight=4),
    )
    assert Load().score(ctx, all_) == [0.0, 1.0, 6 / 9]
