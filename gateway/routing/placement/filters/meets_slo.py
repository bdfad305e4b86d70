"""Filter ``meets_slo``: keep the experts predicted to meet every SLO the request carries.

An expert passes when its point predictions (TTFT, TPOT, total) are within the objectives and
the predicted probability of meeting them all is at least ``min_p_meet`` (``estimator``: the
latency model's recent error turns a prediction into a probability). A request without an SLO
passes everywhere. Profiles use it as their SLO check: when no expert passes, they keep all of
them and the placement's reason is ``no_expert_meets_slo`` (then the cloud may win).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class MeetsSlo:
    min_p_meet: float = 0.0
    name: ClassVar[str] = "meets_slo"

    def filter(self, ctx: Context, candidates: Sequence[int]) -> list[int]:
        floor = self.min_p_meet
        ests = ctx.estimates(candidates)
        return [
            i for i, est in zip(candidates, ests, strict=True) if est.meets and est.p_meet >= floor
        ]
