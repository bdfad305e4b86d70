"""The routing decision and its reason (the ``x-netgpt-reason`` values of the contract)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Route = Literal["edge", "cloud"]
Reason = Literal[
    "score_above_threshold",
    "score_below_threshold",
    "schema_invalid",
    "offload_requested",
    "edge_unavailable",
    "cloud_unavailable",
    "forced",
    "slo_cloud",  # no edge expert is predicted to meet the SLO but the cloud is
    "edge_skipped",  # the verifier's request-only prediction could not reach tau: no draft
]


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    reason: Reason


def decide(
    *,
    score: float,
    tau: float,
    schema_valid: bool,
    offload_requested: bool = False,
    edge_available: bool = True,
) -> Decision:
    """Fall back to the cloud iff the draft is unusable or s < τ."""
    if not edge_available:
        return Decision("cloud", "edge_unavailable")
    if offload_requested:
        return Decision("cloud", "offload_requested")
    if not schema_valid:
        return Decision("cloud", "schema_invalid")
    if score < tau:
        return Decision("cloud", "score_below_threshold")
    return Decision("edge", "score_above_threshold")
