"""Filter ``healthy``: drop an expert that failed its last scrape or call (the live load says)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class Healthy:
    name: ClassVar[str] = "healthy"

    def filter(self, ctx: Context, candidates: Sequence[int]) -> list[int]:
        experts = ctx.experts
        return [i for i in candidates if experts[i].healthy]
