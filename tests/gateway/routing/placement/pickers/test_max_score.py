"""Picker ``max_score``: the first candidate with the highest score."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.placement import Context, PolicyState, RequestView
from gateway.routing.placement.pickers import MaxScore

CTX = Context(RequestView(1, 1), [], {}, PolicyState())


@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0, 4), min_size=1, max_size=9))
def test_first_of_the_best(scores):
    j = MaxScore().pick(CTX, list(range(len(scores))), scores)
    assert j == scores.index(max(scores))


def test_does_not_move_the_round_robin_position():
    state = PolicyState(rr_next=5)
    MaxScore().pick(Context(RequestView(1, 1), [], {}, state), [0, 1], [1.0, 1.0])
    assert state.rr_next == 5
