"""Scorer ``kv_cache``: 1 − KV utilisation (busy-slot share without a KV gauge)."""

from hypothesis import given

from gateway.routing.placement import ExpertView, RequestView
from gateway.routing.placement.scorers import KvCache
from tests.gateway.routing.placement.strategies import contexts, ctx_of


@given(contexts())
def test_scores_in_unit_interval(c):
    ctx, all_ = c
    s = KvCache().score(ctx, all_)
    assert len(s) == len(all_) and all(0.0 <= x <= 1.0 for x in s)


def test_kv_gauge_then_busy_slots_then_empty():
    ctx, all_ = ctx_of(
        RequestView(1, 1),
        ExpertView("vllm", 0.5, 0, kv_usage=0.25),
        ExpertView("stale", 0.5, 2, kv_usage=0.25, slots=8, stale=True),
        ExpertView("llamacpp", 0.5, 6, slots=4),
        ExpertView("unknown", 0.5, 6),
    )
    assert KvCache().score(ctx, all_) == [0.75, 0.75, 0.0, 1.0]
