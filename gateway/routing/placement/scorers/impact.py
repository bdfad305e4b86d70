"""Scorer ``impact``: the request's own QoS less the harm it does to the requests in flight.

    raw = quality · P(meet SLO) − miss_weight · (expected SLO misses caused to others)
                                − latency_weight · (latency added to others + own latency)

scaled onto [0, 1] over the candidates (min-max: the order, hence the choice, is the raw
score's). ``quality`` is the expert's P(acceptable answer) for this request type; the
estimates come from ``estimator`` (the misses need the requests in flight with their slack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.estimator import Estimate
from gateway.routing.placement.interfaces import Context, higher_is_better
from gateway.routing.placement.views import ExpertView

MISS_WEIGHT = 1.0  # quality units lost per expected SLO miss caused to another request
LATENCY_WEIGHT = 0.01  # quality units per second of latency (others' added + own)


def impact_score(
    expert: ExpertView,
    est: Estimate,
    miss_weight: float = MISS_WEIGHT,
    latency_weight: float = LATENCY_WEIGHT,
) -> float:
    """The raw (unscaled) impact score of placing the request on ``expert``."""
    return (
        expert.quality * est.p_meet
        - miss_weight * est.added_slo_misses
        - latency_weight * (est.added_latency_s + est.total_s)
    )


@dataclass(frozen=True, slots=True)
class Impact:
    miss_weight: float = MISS_WEIGHT
    latency_weight: float = LATENCY_WEIGHT
    name: ClassVar[str] = "impact"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        experts = ctx.experts
        w_miss, w_lat = self.miss_weight, self.latency_weight
        raw = []
        # ``impact_score`` written out with the estimate unpacked: this runs for every candidate
        for i, (_, _, total, p_meet, _, added_lat, added_miss, _, _) in zip(
            candidates, ctx.estimates(candidates), strict=True
        ):
            raw.append(
                experts[i].quality * p_meet - w_miss * added_miss - w_lat * (added_lat + total)
            )
        return higher_is_better(raw)
