"""Filter ``fits_context``: prompt + expected output within the expert's context, edge included."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.filters import FitsContext
from tests.gateway.routing.placement.strategies import contexts, ctx_of


def test_the_limit_itself_fits_one_more_token_does_not():
    r = RequestView(prompt_tokens=900, expected_output_tokens=100)
    ctx, all_ = ctx_of(
        r,
        ExpertView("exact", 0.5, 0, context_limit=1000),
        ExpertView("short", 0.5, 0, context_limit=999),
        ExpertView("unknown", 0.5, 0, context_limit=None),
    )
    assert FitsContext().filter(ctx, all_) == [0, 2]


@given(contexts())
def test_keeps_a_subsequence_that_all_fit(c):
    ctx, all_ = c
    kept = FitsContext().filter(ctx, all_)
    need = ctx.request.prompt_tokens + ctx.request.expected_output_tokens
    assert kept == sorted(kept) and set(kept) <= set(all_)
    for i in all_:
        limit = ctx.experts[i].context_limit
        assert (i in kept) == (limit is None or need <= limit)
