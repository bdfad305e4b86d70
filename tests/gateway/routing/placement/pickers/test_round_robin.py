"""Picker ``round_robin``: the next candidate in turn, scores ignored."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.placement import Context, PolicyState, RequestView
from gateway.routing.placement.pickers import RoundRobin


@given(st.integers(1, 9), st.integers(0, 100))
def test_next_in_turn(n, rr):
    ctx = Context(RequestView(1, 1), [], {}, PolicyState(rr_next=rr))
    assert RoundRobin().pick(ctx, list(range(n)), [0.0] * n) == rr % n
    assert ctx.state.rr_next == rr + 1


def test_cycles_whatever_the_scores():
    ctx = Context(RequestView(1, 1), [], {}, PolicyState())
    picks = [RoundRobin().pick(ctx, [0, 1, 2], [1.0, 0.0, 0.0]) for _ in range(4)]
    assert picks == [0, 1, 2, 0]
