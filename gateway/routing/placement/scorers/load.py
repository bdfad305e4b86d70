"""Scorer ``load``: fewer requests on the expert is better (least loaded).

The load is the gateway's exact in-flight count, raised by the server's running + waiting gauges
when they are fresh (``estimator.effective_load``); scaled so the least loaded scores 1 and the
most loaded 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.estimator import effective_load
from gateway.routing.placement.interfaces import Context, lower_is_better


@dataclass(frozen=True, slots=True)
class Load:
    name: ClassVar[str] = "load"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        experts = ctx.experts
        return lower_is_better([effective_load(experts[i]) for i in candidates])
