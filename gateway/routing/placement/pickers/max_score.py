"""Picker ``max_score``: the highest total score; a tie goes to the first candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class MaxScore:
    name: ClassVar[str] = "max_score"

    def pick(self, ctx: Context, candidates: Sequence[int], scores: Sequence[float]) -> int:  # noqa: ARG002
        return max(range(len(scores)), key=scores.__getitem__)  # max() keeps the first best
