"""The dynamic fallback threshold τ(z) of ARCHITECTURE.md.

    τ(z) = clip( q_c − λ_L·(r + D/b + t_c) − (λ_$ + μ)·cost , 0, 1 )

with ``cost = p_in(t)·n_in + p_out(t)·n_out`` the expected price of the cloud call in dollars.
Fall back to the cloud iff s < τ(z). τ is non-increasing in RTT r, price and μ, and
non-decreasing in bandwidth b (tested with hypothesis in tests/gateway/routing).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routing.pricing import cost_usd
from gateway.routing.state import LinkEstimate

# bytes per token of JSON chat text: request bytes -> an input-token estimate
BYTES_PER_TOKEN = 4.0


@dataclass(frozen=True, slots=True)
class ThresholdParams:
    q_cloud: float = 0.95
    lambda_latency: float = 0.1  # quality per second
    lambda_cost: float = 20.0  # quality per dollar


@dataclass(frozen=True, slots=True)
class CloudCallEstimate:
    """What a cloud call for this request would cost: bytes moved, compute time, dollars."""

    bytes_moved: float
    compute_s: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ThresholdTerms:
    """τ and the parts it is made of (for logs, headers and /v1/router/state)."""

    tau: float
    latency_s: float
    latency_penalty: float
    cost_penalty: float

    def as_dict(self) -> dict[str, float]:
        return {
            "current": self.tau,
            "latency_s": self.latency_s,
            "latency_penalty": self.latency_penalty,
            "cost_penalty": self.cost_penalty,
        }


def expected_cost_usd(
    input_tokens: float, output_tokens: float, price_in_per_token: float, price_out_per_token: float
) -> float:
    """The cost a cloud call is expected to have (``gateway.routing.pricing.cost_usd``)."""
    return cost_usd((price_in_per_token, price_out_per_token), input_tokens, output_tokens)


def cloud_latency_s(link: LinkEstimate, call: CloudCallEstimate) -> float:
    """r + D/b + t_c: what the cloud call would add in seconds."""
    return link.rtt_s + call.bytes_moved / link.bandwidth_bytes_per_s + call.compute_s


def threshold_terms(
    params: ThresholdParams, link: LinkEstimate, call: CloudCallEstimate, mu: float = 0.0
) -> ThresholdTerms:
    latency = cloud_latency_s(link, call)
    latency_penalty = params.lambda_latency * latency
    cost_penalty = (params.lambda_cost + max(mu, 0.0)) * call.cost_usd
    raw = params.q_cloud - latency_penalty - cost_penalty
    tau = min(1.0, max(0.0, raw))
    return ThresholdTerms(tau, latency, latency_penalty, cost_penalty)


def threshold(
    params: ThresholdParams, link: LinkEstimate, call: CloudCallEstimate, mu: float = 0.0
) -> float:
    return threshold_terms(params, link, call, mu).tau
