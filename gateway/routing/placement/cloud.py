"""The cloud against the placed expert: ``cloud_wins``, a pure rule on the SLO.

The cloud is not a placement candidate (it has no load to score); the caller asks this rule
after ``place`` with its network-aware estimate of the cloud's latency.
"""

from __future__ import annotations

from gateway.routing.placement.views import Placement, RequestView


def cloud_wins(
    placement: Placement,
    cloud_latency_s: float,
    request: RequestView,
    cloud_ttft_s: float | None = None,
) -> bool:
    """True when the request should go to the cloud instead of the placed expert.

    The cloud wins when no expert can take the request at all, or when the chosen expert is
    not predicted to meet the SLO but the network-aware cloud estimate is (total latency
    against the deadline, ``cloud_ttft_s`` — default: the whole cloud latency, the
    conservative reading — against the TTFT objective, and the cloud's per-token time against
    the TPOT objective). Otherwise the edge/cloud decision stays with τ.
    """
    if placement.expert is None:
        return True
    if placement.meets_slo:
        return False
    if request.slo_ttft_s is None and request.slo_tpot_s is None and request.deadline_s is None:
        return False
    ttft = cloud_ttft_s if cloud_ttft_s is not None else cloud_latency_s
    if request.deadline_s is not None and cloud_latency_s > request.deadline_s:
        return False
    if request.slo_ttft_s is not None and ttft > request.slo_ttft_s:
        return False
    if request.slo_tpot_s is not None and request.expected_output_tokens > 1:
        tpot = max(cloud_latency_s - ttft, 0.0) / (request.expected_output_tokens - 1)
        if tpot > request.slo_tpot_s:
            return False
    return True
