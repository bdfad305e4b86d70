"""Scorer ``latency``: the shortest predicted end-to-end time (queueing included) is best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context, lower_is_better


@dataclass(frozen=True, slots=True)
class Latency:
    name: ClassVar[str] = "latency"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        return lower_is_better([est.total_s for est in ctx.estimates(candidates)])
