"""Scorer ``headroom``: llm-d's best fit on predicted SLO headroom (``estimator.headroom``).

When every candidate fits (headroom ≥ 0) the tightest fit is best: it leaves the roomier
experts for requests that need them. When some do not fit the most headroom is best (the
least bad). A request without an SLO has no headroom: the fastest predicted is best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.estimator import headrooms
from gateway.routing.placement.interfaces import Context, higher_is_better, lower_is_better


@dataclass(frozen=True, slots=True)
class Headroom:
    name: ClassVar[str] = "headroom"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        ests = ctx.estimates(candidates)
        rooms = headrooms(ctx.request, ests)
        if rooms is None:  # no SLO: fastest predicted
            return lower_is_better([e.total_s for e in ests])
        if min(rooms) >= 0.0:
            return lower_is_better(rooms)
        return higher_is_better(rooms)
