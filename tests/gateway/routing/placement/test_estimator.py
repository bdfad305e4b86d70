"""The estimator's batch helpers agree with their one-at-a-time definitions."""

from hypothesis import given

from gateway.routing.placement.estimator import headroom, headrooms
from tests.gateway.routing.placement.strategies import contexts


@given(contexts())
def test_headrooms_are_the_headroom_of_each(c):
    ctx, all_ = c
    ests = ctx.estimates(all_)
    one = [headroom(ctx.request, est) for est in ests]
    many = headrooms(ctx.request, ests)
    assert many == (None if one[0] is None else one)


@given(contexts())
def test_context_estimates_once_and_as_the_estimator_does(c):
    from gateway.routing.placement import estimate
    from gateway.routing.placement.interfaces import DEFAULT_MODEL

    ctx, all_ = c
    first = ctx.estimates(all_)
    assert ctx.estimates(all_[::-1]) == first[::-1]
    assert all(a is b for a, b in zip(ctx.estimates(all_), first, strict=True))  # cached
    for i in all_:
        e = ctx.experts[i]
        flights = None if ctx.in_flight is None else ctx.in_flight.get(e.name, ())
        assert first[i] == estimate(ctx.request, e, DEFAULT_MODEL, flights)
