"""Orchestrates a benchmark run: load, calibrate, replay every trace, aggregate, report."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.common.bfcl import check_data_dir, load_requests
from bench.common.costs import LIST_PRICES, price_factor
from bench.common.traces import FAMILIES, Trace, load_trace, pick, trace_files
from bench.routing.budget import DualAscent
from bench.routing.real_edge import apply_outcomes, load_outcomes
from bench.routing.simulate import (
    Metrics,
    Replay,
    Setup,
    make_replay,
    make_setup,
    measure,
    reference_call,
    route_budget,
    route_dynamic,
    route_fixed,
    route_oracle,
)
from bench.routing.workload import Workload, build_workload, split
from gateway.routing.threshold import ThresholdParams, threshold

Curve = list[tuple[float, Metrics]]


@dataclass(frozen=True)
class Options:
    data: Path
    out: Path
    quick: bool = False
    edge_model: str = "Salesforce_xLAM-1b-fc-r"
    cloud_model: str = "gpt-4o-2024-08-06-FC"
    auc: float = 0.8
    seed: int = 7
    usd_per_second: float = 0.001  # what one second of latency is worth, in dollars
    reference_lambda: float = 0.1  # λ_L of the dynamic policy shown in traces and checks
    budget_lambda: float = 0.01  # λ_L under the budget: low, so the cloud-share cap binds
    traces_per_family: int | None = None  # None: quick → 2, full → all
    # real edge outcomes (netgpt bench edge-signal) replace the edge model and its simulated signal
    edge_outcomes: Path | None = None

    @property
    def edge_label(self) -> str:
        if self.edge_outcomes is not None:
            return "real SmolLM2-135M (measured)"
        return self.edge_model

    @property
    def n_traces(self) -> int | None:
        if self.traces_per_family is not None:
            return self.traces_per_family
        return 4 if self.quick else None

    def lambdas(self) -> list[float]:
        k = 14 if self.quick else 30
        return [0.0, *np.geomspace(0.004, 1.5, k).tolist()]

    def fixed_taus(self) -> list[float]:
        return np.linspace(0.0, 1.0, 21 if self.quick else 51).tolist()

    def shares(self) -> list[float]:
        return [0.1, 0.2, 0.3]

    def params(self, q_cloud: float, lam: float) -> ThresholdParams:
        return ThresholdParams(q_cloud, lam, lam / self.usd_per_second)


@dataclass
class FamilyResult:
    """Sums over replays, turned into means by ``curves``."""

    count: int = 0
    sums: dict[str, dict[float, Metrics]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, policy: str, param: float, metrics: Metrics) -> None:
        bucket = self.sums[policy]
        bucket[param] = bucket[param] + metrics if param in bucket else metrics

    def curves(self) -> dict[str, Curve]:
        k = 1.0 / max(self.count, 1)
        return {p: sorted((x, m.scaled(k)) for x, m in b.items()) for p, b in self.sums.items()}


@dataclass
class TauSeries:
    trace: Trace
    arrival_s: NDArray[np.float64]
    est_rtt: NDArray[np.float64]
    est_bw: NDArray[np.float64]
    tau: NDArray[np.float64]
    tau_ref: NDArray[np.float64]  # τ for the reference request (``threshold.current``)
    scores: NDArray[np.float64]
    to_cloud: NDArray[np.bool_]


@dataclass
class RunResult:
    options: Options
    setup: Setup
    workload: Workload
    evaluation: Workload
    traces: dict[str, list[Trace]]
    # schedule → family → aggregated curves
    results: dict[str, dict[str, FamilyResult]]
    # reference dynamic policy under list prices, pooled per family: (est_rtt, est_bw, tau, route)
    reference: dict[str, list[tuple[NDArray[np.float64], ...]]]
    tau_series: list[TauSeries]
    elapsed_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(stages: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - start


def _evaluate(
    rp: Replay, setup: Setup, opts: Options, ref: list[tuple[NDArray[np.float64], ...]] | None
) -> list[tuple[str, float, Metrics]]:
    out: list[tuple[str, float, Metrics]] = []
    edge = np.zeros(len(rp.scores), dtype=bool)
    out.append(("always_edge", 0.0, measure(rp, edge, drafted=False)))
    out.append(("always_cloud", 1.0, measure(rp, ~edge, drafted=False)))
    out.append(("oracle", 0.0, measure(rp, route_oracle(rp), drafted=False)))
    for tau in opts.fixed_taus():
        out.append(("fixed", tau, measure(rp, route_fixed(rp, tau))))
    for rho, tau in setup.quantile_taus.items():
        out.append(("quantile", rho, measure(rp, route_fixed(rp, tau))))
    for lam in opts.lambdas():
        routes, taus = route_dynamic(rp, opts.params(setup.q_cloud, lam))
        out.append(("dynamic", lam, measure(rp, routes)))
    ref_params = opts.params(setup.q_cloud, opts.reference_lambda)
    routes, taus = route_dynamic(rp, ref_params)
    out.append(("dynamic_ref", opts.reference_lambda, measure(rp, routes)))
    if ref is not None:
        ref.append((rp.est_rtt, rp.est_bw, taus, routes.astype(float)))
    budget_params = opts.params(setup.q_cloud, opts.budget_lambda)
    for rho in opts.shares():
        controller = DualAscent(rho, setup.cost_ref_usd * rp.factor)
        out.append(("budget", rho, measure(rp, route_budget(rp, budget_params, controller))))
    return out


def run(opts: Options, progress: object | None = None) -> RunResult:
    """The whole benchmark; ``progress`` is a rich Progress (or None for silence)."""
    started = time.perf_counter()
    stages: dict[str, float] = {}
    data = check_data_dir(opts.data)
    with _timed(stages, "load + schema guard"):
        requests = load_requests(data, opts.edge_model, opts.cloud_model)
        workload = build_workload(requests, opts.edge_model)
        if opts.edge_outcomes is not None:
            workload = apply_outcomes(workload, load_outcomes(opts.edge_outcomes))
        cal, ev = split(workload, opts.seed)
        prices = LIST_PRICES[opts.cloud_model]
        setup = make_setup(cal, prices, opts.auc, opts.shares(), opts.seed)
    with _timed(stages, "load traces"):
        traces = {
            f: [load_trace(p, f) for p in pick(trace_files(data, f), opts.n_traces)]
            for f in FAMILIES
        }
    results: dict[str, dict[str, FamilyResult]] = {
        "flat": defaultdict(FamilyResult),
        "peak_offpeak": defaultdict(FamilyResult),
    }
    reference: dict[str, list[tuple[NDArray[np.float64], ...]]] = defaultdict(list)
    series: list[TauSeries] = []
    total = sum(len(v) for v in traces.values()) * 2
    task = progress.add_task("replaying traces", total=total) if progress is not None else None  # type: ignore[attr-defined]
    rng = np.random.default_rng(opts.seed + 1)
    with _timed(stages, "replay + route"):
        for family, family_traces in traces.items():
            for trace in family_traces:
                # 13:00 and 03:00 UTC: peak and off-peak under the gateway's PriceSchedule
                for hour in (13.0, 3.0):
                    factor = price_factor(opts.cloud_model, "peak_offpeak", hour)
                    rp = make_replay(trace, ev, setup, factor, opts.auc, rng)
                    peak = hour == 13.0
                    ref = reference[family] if peak else None
                    evaluated = _evaluate(rp, setup, opts, ref)
                    targets = ["flat", "peak_offpeak"] if peak else ["peak_offpeak"]
                    for schedule in targets:
                        bucket = results[schedule][family]
                        bucket.count += 1
                        for policy, param, metrics in evaluated:
                            bucket.add(policy, param, metrics)
                    if peak and len([s for s in series if s.trace.family == family]) < 1:
                        est_rtt, est_bw, taus, routes = reference[family][-1]
                        ref_call = reference_call(setup, float(np.median(ev.request_bytes)), factor)
                        params = opts.params(setup.q_cloud, opts.reference_lambda)
                        tau_ref = np.array([threshold(params, link, ref_call) for link in rp.links])
                        series.append(
                            TauSeries(
                                trace,
                                rp.arrival_s,
                                est_rtt,
                                est_bw,
                                taus,
                                tau_ref,
                                rp.scores,
                                routes.astype(bool),
                            )
                        )
                    if progress is not None:
                        progress.update(task, advance=1, description=f"replaying {family}")  # type: ignore[attr-defined]
    return RunResult(
        opts,
        setup,
        workload,
        ev,
        traces,
        results,
        reference,
        series,
        elapsed_s=time.perf_counter() - started,
        stage_s=stages,
    )
