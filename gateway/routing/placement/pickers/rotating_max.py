"""Picker ``rotating_max``: the highest total score; ties go round robin.

Among equal scores the first at or after the round-robin position wins, and the position
moves on by one each call (``PolicyState.rr_next``), so equally good experts share the load
instead of the first one taking it all (the deterministic form of a random tie-break).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class RotatingMax:
    name: ClassVar[str] = "rotating_max"

    def pick(self, ctx: Context, candidates: Sequence[int], scores: Sequence[float]) -> int:
        state = ctx.state
        n = len(candidates)
        start = state.rr_next
        state.rr_next += 1
        best_j = start % n
        best = scores[best_j]
        for k in range(1, n):
            j = (start + k) % n
            if scores[j] > best:
                best_j, best = j, scores[j]
        return best_j
