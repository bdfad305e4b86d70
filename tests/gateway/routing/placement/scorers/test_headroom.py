"""Scorer ``headroom``: tightest fit when all fit, most room when not, fastest without SLO."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.estimator import headroom
from gateway.routing.placement.scorers import Headroom
from tests.gateway.routing.placement.strategies import contexts, ctx_of

R = RequestView(500, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
IDLE = ExpertView("idle", 0.9, in_flight=0, slots=32)
SOME = ExpertView("some", 0.9, in_flight=6, slots=32)  # tpot 20 ms + 2 ms · 6 = 32 ms
OVER = ExpertView("over", 0.9, in_flight=16, slots=32)  # 52 ms: over the 50 ms objective
WORSE = ExpertView("worse", 0.9, in_flight=24, slots=32)


@given(contexts())
def test_scores_in_unit_interval_best_is_the_rule(c):
    ctx, all_ = c
    s = Headroom().score(ctx, all_)
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)
    ests = ctx.estimates(all_)
    rooms = [headroom(ctx.request, e) for e in ests]
    best = s.index(max(s))
    if rooms[0] is None:
        assert ests[best].total_s == min(e.total_s for e in ests)
    elif min(rooms) >= 0.0:
        assert rooms[best] == min(rooms)
    else:
        assert rooms[best] == max(rooms)


def test_tightest_fit_when_all_fit():
    ctx, all_ = ctx_of(R, IDLE, SOME)
    assert Headroom().score(ctx, all_) == [0.0, 1.0]


def test_most_room_when_some_do_not_fit():
    ctx, all_ = ctx_of(R, WORSE, OVER)
    assert Headroom().score(ctx, all_) == [0.0, 1.0]


def test_fastest_without_slo():
    ctx, all_ = ctx_of(RequestView(500, 100), SOME, IDLE)
    assert Headroom().score(ctx, all_) == [0.0, 1.0]
