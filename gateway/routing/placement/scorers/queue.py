"""Scorer ``queue``: the inference gateway's queue scorer, (maxQ − q)/(maxQ − minQ).

``q`` is the server's waiting gauge when fresh; without it (stale, or a server that does not
export one) the requests beyond its slots, or all of the gateway's in-flight count when the
slots are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context, lower_is_better
from gateway.routing.placement.views import ExpertView


def queue_length(e: ExpertView) -> float:
    """Requests waiting on the expert, from what is known of it."""
    if not e.stale and e.waiting is not None:
        return e.waiting
    if e.slots:
        return max(e.in_flight - e.slots, 0)
    return float(e.in_flight)


@dataclass(frozen=True, slots=True)
class Queue:
    name: ClassVar[str] = "queue"

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        experts = ctx.experts
        return lower_is_better([queue_length(experts[i]) for i in candidates])
