"""Scorer ``learned``: 1 for the learned policy's choice, 0 for the others."""

from collections.abc import Sequence

import pytest
from hypothesis import given, settings

from gateway.routing.placement import Estimate, ExpertView, RequestView
from gateway.routing.placement.learned_model import load_policy
from gateway.routing.placement.scorers import Learned
from tests.gateway.routing.placement.strategies import contexts, ctx_of

POLICY = load_policy()


@settings(max_examples=50)
@given(contexts())
def test_one_hot_on_the_policys_choice(c):
    ctx, all_ = c
    ctx.state.learned = POLICY
    s = Learned().score(ctx, all_)
    assert sorted(s) == [0.0] * (len(all_) - 1) + [1.0]
    assert s.index(1.0) == POLICY.choose(ctx.request, list(ctx.experts), ctx.estimates(all_))


class Last:
    """A chooser that always takes the last expert (the ``Chooser`` protocol, as in training)."""

    def choose(
        self, request: RequestView, experts: Sequence[ExpertView], ests: Sequence[Estimate]
    ) -> int:
        return len(experts) - 1


def test_any_chooser_fits_and_sees_only_the_candidates():
    ctx, _ = ctx_of(RequestView(1, 1), *(ExpertView(n, 0.5, 0) for n in "abcd"))
    ctx.state.learned = Last()
    assert Learned().score(ctx, [0, 2, 3]) == [0.0, 0.0, 1.0]
    assert Learned().score(ctx, [1, 0]) == [0.0, 1.0]


def test_without_weights_says_how_to_load_them():
    ctx, all_ = ctx_of(RequestView(1, 1), ExpertView("a", 0.5, 0))
    with pytest.raises(ValueError, match="load_policy"):
        Learned().score(ctx, all_)
