"""Filter ``has_headroom``: headroom over every SLO not negative; no SLO fits everywhere."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.estimator import headroom
from gateway.routing.placement.filters import HasHeadroom
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_keeps_those_with_headroom(c):
    ctx, all_ = c
    kept = HasHeadroom().filter(ctx, all_)
    rooms = [headroom(ctx.request, est) for est in ctx.estimates(all_)]
    if rooms[0] is None:
        assert kept == all_
    else:
        assert kept == [i for i in all_ if rooms[i] >= 0.0]


def test_over_loaded_expert_has_none():
    r = RequestView(500, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
    ctx, all_ = ctx_of(
        r,
        ExpertView("idle", 0.9, in_flight=0, slots=32),
        ExpertView("over", 0.9, in_flight=16, slots=32),  # tpot 20 ms + 2 ms · 16 = 52 ms
    )
    assert HasHeadroom().filter(ctx, all_) == [0]
    assert HasHeadroom().filter(ctx_of(RequestView(500, 100), *ctx.experts)[0], all_) == all_
