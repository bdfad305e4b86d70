"""Scorer ``learned``: the learned policy's choice (``learned_model``) as a vote.

The attention policy sees all candidates at once and picks one; its logits are not comparable
across requests, so its score is 1 for the expert it picks and 0 for the others (weighted with
other scorers, it is one vote). Its weights travel in ``PolicyState.learned``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class Learned:
    name: ClassVar[str] = "learned"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        policy = ctx.state.learned
        if policy is None:
            raise ValueError(
                "the learned policy needs its weights: "
                "PolicyState(learned=learned_model.load_policy())"
            )
        experts = ctx.experts
        k = policy.choose(ctx.request, [experts[i] for i in candidates], ctx.estimates(candidates))
        scores = [0.0] * len(candidates)
        scores[k] = 1.0
        return scores
