"""Picker ``round_robin``: the next candidate in turn, whatever the scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class RoundRobin:
    name: ClassVar[str] = "round_robin"

    def pick(self, ctx: Context, candidates: Sequence[int], scores: Sequence[float]) -> int:  # noqa: ARG002
        state = ctx.state
        j = state.rr_next % len(candidates)
        state.rr_next += 1
        return j
