"""Filter ``has_headroom``: keep the experts whose predictions leave slack under every SLO.

llm-d's predicted-latency scheduler: headroom is the smallest relative slack over the request's
objectives (``estimator.headroom``); an expert fits when it is not negative. A request without
an SLO fits everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.estimator import headrooms
from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class HasHeadroom:
    name: ClassVar[str] = "has_headroom"

    def filter(self, ctx: Context, candidates: Sequence[int]) -> list[int]:
        rooms = headrooms(ctx.request, ctx.estimates(candidates))
        if rooms is None:  # no SLO: nothing to violate
            return list(candidates)
        return [i for i, room in zip(candidates, rooms, strict=True) if room >= 0.0]
