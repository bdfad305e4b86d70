"""Scorer ``quality``: the expert's P(acceptable answer) for this request's type, as it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class Quality:
    name: ClassVar[str] = "quality"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        experts = ctx.experts
        return [min(max(experts[i].quality, 0.0), 1.0) for i in candidates]
