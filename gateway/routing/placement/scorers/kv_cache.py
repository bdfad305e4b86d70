"""Scorer ``kv_cache``: the inference gateway's KV-cache scorer, 1 − utilisation.

Utilisation is vLLM's ``kv_cache_usage_perc`` when fresh; without a KV gauge (llama.cpp) the
share of busy slots stands in for it, and an expert with neither counts as empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.estimator import effective_load
from gateway.routing.placement.interfaces import Context
from gateway.routing.placement.views import ExpertView


def utilisation(e: ExpertView) -> float:
    """KV-cache utilisation of the expert in [0, 1], or its stand-in."""
    if not e.stale and e.kv_usage is not None:
        return min(max(e.kv_usage, 0.0), 1.0)
    if e.slots:
        return min(effective_load(e) / e.slots, 1.0)
    return 0.0


@dataclass(frozen=True, slots=True)
class KvCache:
    name: ClassVar[str] = "kv_cache"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        experts = ctx.experts
        return [1.0 - utilisation(experts[i]) for i in candidates]
