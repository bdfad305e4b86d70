"""Scorer ``impact``: the raw impact score's order, scaled onto [0, 1]."""

from hypothesis import given

from gateway.routing.placement import ExpertView, InFlight, RequestView
from gateway.routing.placement.scorers import Impact, impact_score
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_scores_in_unit_interval_and_order_of_the_raw_score(c):
    ctx, all_ = c
    s = Impact().score(ctx, all_)
    raw = [impact_score(ctx.experts[i], est) for i, est in zip(all_, ctx.estimates(all_), strict=True)]
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)
    for a in all_:
        for b in all_:
            if raw[a] > raw[b]:
                assert s[a] >= s[b]
    assert s[raw.index(max(raw))] == 1.0


def test_quality_wins_when_nobody_is_harmed():
    ctx, all_ = ctx_of(RequestView(500, 100), ExpertView("poor", 0.6, 0), ExpertView("good", 0.9, 0))
    assert Impact().score(ctx, all_) == [0.0, 1.0]


def test_misses_caused_to_requests_in_flight_cost():
    r = RequestView(2000, 200)
    a, b = ExpertView("a", 0.9, in_flight=1), ExpertView("b", 0.9, in_flight=1)
    tight = [InFlight(remaining_tokens=100, slack_s=100 * 0.022 + 0.01)]  # just meets now
    loose = [InFlight(remaining_tokens=100, slack_s=100.0)]
    ctx, all_ = ctx_of(r, a, b)
    ctx.in_flight = {"a": tight, "b": loose}
    assert Impact().score(ctx, all_) == [0.0, 1.0]
    # a heavier miss weight only widens the gap in raw terms; the order stays
    assert Impact(miss_weight=10.0).score(ctx, all_) == [0.0, 1.0]
