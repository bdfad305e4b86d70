"""Hypothesis strategies for placement: experts, requests, requests in flight, contexts."""

from __future__ import annotations

from hypothesis import strategies as st

from gateway.routing.placement import Context, ExpertView, InFlight, PolicyState, RequestView

experts_st = st.lists(
    st.builds(
        ExpertView,
        name=st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]),
        quality=st.floats(0.0, 1.0),
        in_flight=st.integers(0, 40),
        running=st.none() | st.floats(0, 40),
        waiting=st.none() | st.floats(0, 20),
        kv_usage=st.none() | st.floats(0, 1),
        slots=st.none() | st.integers(1, 32),
        healthy=st.booleans(),
        stale=st.booleans(),
        context_limit=st.none() | st.integers(256, 8192),
    ),
    min_size=0,
    max_size=8,
    unique_by=lambda e: e.name,
)
requests_st = st.builds(
    RequestView,
    prompt_tokens=st.integers(1, 6000),
    expected_output_tokens=st.integers(1, 800),
    slo_ttft_s=st.none() | st.floats(0.05, 5.0),
    slo_tpot_s=st.none() | st.floats(0.005, 0.2),
    deadline_s=st.none() | st.floats(0.1, 60.0),
)
flights_st = st.lists(
    st.builds(InFlight, remaining_tokens=st.floats(1, 500), slack_s=st.none() | st.floats(-5, 30)),
    max_size=10,
)


@st.composite
def contexts(draw: st.DrawFn, min_experts: int = 1) -> tuple[Context, list[int]]:
    """A context over 1-8 experts (with or without requests in flight) and every position."""
    experts = draw(experts_st.filter(lambda es: len(es) >= min_experts))
    in_flight = draw(st.none() | st.fixed_dictionaries({e.name: flights_st for e in experts}))
    ctx = Context(draw(requests_st), experts, {}, PolicyState(), in_flight)
    return ctx, list(range(len(experts)))


def ctx_of(request: RequestView, *experts: ExpertView) -> tuple[Context, list[int]]:
    """A context over ``experts`` and every position, no requests in flight known."""
    return Context(request, list(experts), {}, PolicyState()), list(range(len(experts)))
