"""Replays the evaluation requests along one trace and routes them with every policy.

Each request arrives at a time on the trace; the router sees the probes' EWMA estimate of RTT
and bandwidth at that time (``gateway`` defaults: a probe every 5 s, α = 0.5), the price in
force and μ, and decides through ``gateway.routing.threshold`` and ``gateway.routing.decision``.
The realised latency uses the trace's true value at that time.

Score-based policies (fixed, quantile, dynamic, budget) pay the edge draft's time before a
fallback, as the gateway does; always-cloud, random and the oracle decide before drafting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bench.common.traces import Trace, ewma_estimates
from bench.routing.budget import DualAscent
from bench.routing.signal import confidence_of, edge_scores
from bench.routing.workload import Workload
from gateway.routing.calibration import fit_isotonic
from gateway.routing.decision import decide
from gateway.routing.state import LinkEstimate
from gateway.routing.threshold import (
    BYTES_PER_TOKEN,
    CloudCallEstimate,
    ThresholdParams,
    expected_cost_usd,
    threshold,
    threshold_terms,
)

PROBE_INTERVAL_S = 5.0
PROBE_ALPHA = 0.5


@dataclass(frozen=True)
class Setup:
    """What the router knows, fitted on the calibration split."""

    q_cloud: float
    calibrate: Callable[[float], float]
    compute_prior_s: float
    expected_output_tokens: float
    expected_response_bytes: float
    price_in: float  # USD per token, list price
    price_out: float
    quantile_taus: dict[float, float]  # target cloud share → fixed τ (RouteLLM's method)
    cost_ref_usd: float
    score_auc: float


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    spend_per_1k: float  # USD per 1,000 requests
    latency_s: float  # mean end-to-end
    cloud_share: float

    def __add__(self, other: Metrics) -> Metrics:
        return Metrics(
            self.accuracy + other.accuracy,
            self.spend_per_1k + other.spend_per_1k,
            self.latency_s + other.latency_s,
            self.cloud_share + other.cloud_share,
        )

    def scaled(self, k: float) -> Metrics:
        return Metrics(
            self.accuracy * k, self.spend_per_1k * k, self.latency_s * k, self.cloud_share * k
        )


def make_setup(
    cal: Workload,
    prices: tuple[float, float],
    auc: float,
    shares: Sequence[float],
    seed: int,
) -> Setup:
    from bench.routing.signal import auc as auc_of

    rng = np.random.default_rng(seed)
    confidence = confidence_of(cal.edge_raw, cal.edge_correct, auc, rng)
    ok = cal.valid
    calibrate = fit_isotonic(confidence[ok].tolist(), cal.edge_correct[ok].tolist())
    scores = edge_scores(cal.valid, confidence, cal.n_calls, calibrate)
    p_in, p_out = prices[0] / 1e6, prices[1] / 1e6
    exp_out = float(np.median(cal.output_tokens))
    cost_ref = float(
        np.median(expected_cost_usd(cal.request_bytes / BYTES_PER_TOKEN, exp_out, p_in, p_out))
    )
    return Setup(
        q_cloud=float(cal.cloud_correct.mean()),
        calibrate=calibrate,
        compute_prior_s=float(np.median(cal.cloud_compute_s)),
        expected_output_tokens=exp_out,
        expected_response_bytes=float(np.median(cal.response_bytes)),
        price_in=p_in,
        price_out=p_out,
        quantile_taus={rho: float(np.quantile(scores, rho)) for rho in shares},
        cost_ref_usd=cost_ref,
        score_auc=auc_of(scores, cal.edge_correct),
    )


@dataclass(frozen=True)
class Replay:
    """One trace at one price level, with everything the policies need per request."""

    trace: Trace
    factor: float
    order: NDArray[np.int64]  # arrival order of evaluation requests
    arrival_s: NDArray[np.float64]
    scores: NDArray[np.float64]
    links: list[LinkEstimate]  # the router's estimate at each arrival
    calls: list[CloudCallEstimate]
    est_rtt: NDArray[np.float64]
    est_bw: NDArray[np.float64]
    edge_lat: NDArray[np.float64]
    cloud_lat: NDArray[np.float64]  # realised: true RTT + bytes/true bandwidth + recorded compute
    cloud_cost: NDArray[np.float64]  # realised: recorded tokens × price in force
    edge_ok: NDArray[np.bool_]
    cloud_ok: NDArray[np.bool_]
    valid: NDArray[np.bool_]


def make_replay(
    trace: Trace, ev: Workload, setup: Setup, factor: float, auc: float, rng: np.random.Generator
) -> Replay:
    n = len(ev)
    order = rng.permutation(n)
    arrival = np.linspace(0.0, trace.duration_s, n, endpoint=False)
    true_bw, true_rtt = trace.at(arrival)
    est_bw, est_rtt = ewma_estimates(trace, arrival, PROBE_INTERVAL_S, PROBE_ALPHA)
    w = ev.take(order)
    confidence = confidence_of(w.edge_raw, w.edge_correct, auc, rng)
    scores = edge_scores(w.valid, confidence, w.n_calls, setup.calibrate)
    exp_cost = expected_cost_usd(
        w.request_bytes / BYTES_PER_TOKEN,
        setup.expected_output_tokens,
        setup.price_in * factor,
        setup.price_out * factor,
    )
    calls = [
        CloudCallEstimate(float(b) + setup.expected_response_bytes, setup.compute_prior_s, float(c))
        for b, c in zip(w.request_bytes, exp_cost, strict=True)
    ]
    links = [LinkEstimate(float(r), float(b)) for r, b in zip(est_rtt, est_bw, strict=True)]
    moved = w.request_bytes + w.response_bytes
    return Replay(
        trace=trace,
        factor=factor,
        order=order,
        arrival_s=arrival,
        scores=scores,
        links=links,
        calls=calls,
        est_rtt=est_rtt,
        est_bw=est_bw,
        edge_lat=w.edge_latency_s,
        cloud_lat=true_rtt + moved / true_bw + w.cloud_compute_s,
        cloud_cost=(w.input_tokens * setup.price_in + w.output_tokens * setup.price_out) * factor,
        edge_ok=w.edge_correct,
        cloud_ok=w.cloud_correct,
        valid=w.valid,
    )


def reference_call(setup: Setup, request_bytes: float, factor: float = 1.0) -> CloudCallEstimate:
    """The cloud call of a typical request (median size): what ``threshold.current`` reports."""
    cost = expected_cost_usd(
        request_bytes / BYTES_PER_TOKEN,
        setup.expected_output_tokens,
        setup.price_in * factor,
        setup.price_out * factor,
    )
    return CloudCallEstimate(
        request_bytes + setup.expected_response_bytes, setup.compute_prior_s, cost
    )


def measure(rp: Replay, to_cloud: NDArray[np.bool_], drafted: bool = True) -> Metrics:
    latency = np.where(to_cloud, rp.cloud_lat + (rp.edge_lat if drafted else 0.0), rp.edge_lat)
    return Metrics(
        accuracy=float(np.where(to_cloud, rp.cloud_ok, rp.edge_ok).mean()),
        spend_per_1k=float(np.where(to_cloud, rp.cloud_cost, 0.0).mean() * 1000.0),
        latency_s=float(latency.mean()),
        cloud_share=float(to_cloud.mean()),
    )


def route_fixed(rp: Replay, tau: float) -> NDArray[np.bool_]:
    return np.array(
        [
            decide(score=float(s), tau=tau, schema_valid=bool(v)).route == "cloud"
            for s, v in zip(rp.scores, rp.valid, strict=True)
        ]
    )


def dynamic_taus(rp: Replay, params: ThresholdParams) -> NDArray[np.float64]:
    return np.array(
        [threshold(params, link, call) for link, call in zip(rp.links, rp.calls, strict=True)]
    )


def route_dynamic(
    rp: Replay, params: ThresholdParams
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    taus = dynamic_taus(rp, params)
    routes = np.array(
        [
            decide(score=float(s), tau=float(t), schema_valid=bool(v)).route == "cloud"
            for s, t, v in zip(rp.scores, taus, rp.valid, strict=True)
        ]
    )
    return routes, taus


def route_budget(rp: Replay, params: ThresholdParams, controller: DualAscent) -> NDArray[np.bool_]:
    routes = np.zeros(len(rp.scores), dtype=bool)
    mu = controller.mu
    for i, (link, call) in enumerate(zip(rp.links, rp.calls, strict=True)):
        tau = threshold_terms(params, link, call, mu).tau
        cloud = (
            decide(score=float(rp.scores[i]), tau=tau, schema_valid=bool(rp.valid[i])).route
            == "cloud"
        )
        routes[i] = cloud
        mu = controller.observe(cloud)
    return routes


def route_oracle(rp: Replay) -> NDArray[np.bool_]:
    result: NDArray[np.bool_] = ~rp.edge_ok & rp.cloud_ok
    return result
