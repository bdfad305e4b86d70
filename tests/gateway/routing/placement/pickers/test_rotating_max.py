"""Picker ``rotating_max``: a best candidate; ties go round robin from the state's position."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.placement import Context, PolicyState, RequestView
from gateway.routing.placement.pickers import RotatingMax


def _ctx(rr: int = 0) -> Context:
    return Context(RequestView(1, 1), [], {}, PolicyState(rr_next=rr))


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=1, max_size=9), st.integers(0, 50))
def test_picks_a_best_the_first_at_or_after_the_position(scores, rr):
    ctx = _ctx(rr)
    j = RotatingMax().pick(ctx, list(range(len(scores))), scores)
    n = len(scores)
    rotated = [(rr + k) % n for k in range(n)]
    assert j == next(i for i in rotated if scores[i] == max(scores))
    assert ctx.state.rr_next == rr + 1


def test_equal_candidates_share_the_load():
    ctx = _ctx()
    picks = [RotatingMax().pick(ctx, [7, 8, 9], [1.0, 1.0, 1.0]) for _ in range(6)]
    assert picks == [0, 1, 2, 0, 1, 2]
    assert [RotatingMax().pick(ctx, [7, 8, 9], [0.0, 1.0, 0.5]) for _ in range(3)] == [1, 1, 1]
