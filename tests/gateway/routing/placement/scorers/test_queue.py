"""Scorer ``queue``: the endpoint picker's (maxQ − q)/(maxQ − minQ), with its stand-ins."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.scorers import Queue
from gateway.routing.placement.scorers.queue import queue_length
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_scores_in_unit_interval_shortest_queue_best(c):
    ctx, all_ = c
    s = Queue().score(ctx, all_)
    q = [queue_length(ctx.experts[i]) for i in all_]
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)
    assert s[q.index(min(q))] == 1.0
    if max(q) > min(q):
        assert s[q.index(max(q))] == 0.0


def test_waiting_gauge_then_requests_beyond_slots_then_in_flight():
    assert queue_length(ExpertView("a", 0.5, in_flight=9, waiting=2.0, slots=4)) == 2.0
    assert queue_length(ExpertView("a", 0.5, in_flight=9, waiting=2.0, slots=4, stale=True)) == 5
    assert queue_length(ExpertView("a", 0.5, in_flight=3, slots=4)) == 0
    assert queue_length(ExpertView("a", 0.5, in_flight=3)) == 3.0


def test_equal_queues_all_score_one():
    ctx, all_ = ctx_of(RequestView(1, 1), ExpertView("a", 0.5, 2), ExpertView("b", 0.9, 2))
    assert Queue().score(ctx, all_) == [1.0, 1.0]
