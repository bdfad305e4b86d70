"""The sweep behind ``netgpt bench experts``: scenarios × workloads × loads × policies × seeds."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.experts.profiles import ExpertProfile, profile
from bench.experts.recorded import Answers, load_answers
from bench.experts.sim import CloudProfile, Outcome, simulate
from bench.experts.workload import (
    LATENCIES,
    TRACES,
    QualityTable,
    SimRequest,
    SloClass,
    TraceRow,
    available_traces,
    from_trace,
    poisson,
    recorded_call_latencies,
    synthetic_sizes,
)
from gateway.routing.placement import POLICIES, PolicyState


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    experts: tuple[str, ...]
    slos: tuple[SloClass, ...]
    description: str


# GPU-class edge box: four different models on four GPUs (profiles are assumptions, stated in
# their files); SLOs in llm-d's terms, half interactive, half relaxed.
GPU_BOX = Scenario(
    "gpu-box",
    ("xlam-7b-l4", "xlam-1b-l4", "hermes-8b-a10g", "glm-9b-a100"),
    (SloClass(0.5, 1.0, 0.05), SloClass(0.5, 3.0, 0.10)),
    "4 vLLM experts of different models on different GPUs (assumed profiles), BFCL quality",
)
SCENARIOS = {s.name: s for s in (GPU_BOX,)}


@dataclass(slots=True)
class Options:
    out: Path
    data: Path | None
    quick: bool = False
    seeds: int = 3
    loads: tuple[float, ...] = (0.5, 0.8, 0.95)
    policies: tuple[str, ...] = POLICIES
    requests: int = 4000
    scenario: str = "gpu-box"
    learned_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    quality: str = "replay"  # replay: recorded per-request outputs where they exist | category
    expert_models: dict[str, str] = field(default_factory=dict)  # expert profile -> model
    cloud_model: str = "gpt-4o-2024-08-06-FC"


def expert_profiles(scenario: Scenario, models: dict[str, str]) -> list[ExpertProfile]:
    """The scenario's expert profiles, each serving the model ``models`` names for it."""
    unknown = sorted(set(models) - set(scenario.experts))
    if unknown:
        raise ValueError(f"no expert {', '.join(unknown)} in scenario {scenario.name}; "
                         f"its experts: {', '.join(scenario.experts)}")
    out = []
    for name in scenario.experts:
        p = profile(name)
        out.append(replace(p, model=models[name]) if name in models else p)
    return out


def load_notes(answers: Answers | None, models: list[str]) -> list[str]:
    if answers is None:
        return [f"{m}: per-category accuracy (no recorded outputs under --data)"
                for m in dict.fromkeys(models)]
    return answers.notes(models)


def size_pool(traces: dict[str, list[TraceRow]], rng: random.Random) -> list[TraceRow]:
    if "azure-conv" in traces:
        return traces["azure-conv"]
    return [TraceRow(0.0, *synthetic_sizes(rng)) for _ in range(4000)]


def capacity_rps(profiles: Sequence[ExpertProfile], pool: Sequence[TraceRow]) -> float:
    """Requests/s the experts serve at full concurrency for the pool's mean request."""
    p = statistics.fmean(r.prompt_tokens for r in pool)
    o = statistics.fmean(r.output_tokens for r in pool)
    return sum(pr.capacity_rps(p, o) for pr in profiles)


def workloads(traces: dict[str, list[TraceRow]]) -> list[str]:
    return ["poisson", *sorted(traces)]


def total_runs(opts: Options) -> int:
    """How many simulations ``run`` will do (for a progress bar)."""
    traces = [
        n for n, rel in TRACES.items() if opts.data is not None and (opts.data / rel).exists()
    ]
    return (1 + len(traces)) * len(opts.loads) * opts.seeds * len(opts.policies)


def trace_part(trace: Sequence[TraceRow], part: str) -> Sequence[TraceRow]:
    """The first half of a trace trains the learned policy; the second half is reported."""
    half = len(trace) // 2
    return {"train": trace[:half], "eval": trace[half:]}.get(part, trace)


def make_requests(
    workload: str,
    n: int,
    util: float,
    seed: int,
    profiles: Sequence[ExpertProfile],
    slos: Sequence[SloClass],
    traces: dict[str, list[TraceRow]],
    part: str = "eval",
    answers: Answers | None = None,
) -> list[SimRequest]:
    """The workload's requests; with ``answers``, each stands for a BFCL item of its type
    (drawn from its own seed, so every policy sees the same items)."""
    rng = random.Random(seed * 7919 + int(util * 1000))
    if workload == "poisson":
        pool = trace_part(size_pool(traces, random.Random(seed)), part)
        reqs = poisson(n, util * capacity_rps(profiles, pool), rng, slos, pool)
    else:
        trace = trace_part(traces[workload], part)
        reqs = from_trace(trace, n, util * capacity_rps(profiles, trace), rng, slos)
    if answers is not None:
        answers.assign(reqs, random.Random(seed * 104729 + int(util * 1000) + 7))
    return reqs


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


def summarise(outcomes: Sequence[Outcome], stats: dict[str, float]) -> dict[str, float]:
    n = max(len(outcomes), 1)
    lat = [o.total_s for o in outcomes]
    edge = [o for o in outcomes if o.target != "cloud"]
    ape = [abs(o.predicted_total_s - o.total_s) / o.total_s for o in edge if o.total_s > 0]
    busy = [v for k, v in stats.items() if k.startswith("busy_")]
    mapes = [v for k, v in stats.items() if k.startswith("mape_") and v > 0.0]
    return {
        "slo_miss_rate": sum(1 for o in outcomes if not o.met) / n,
        "mean_qos": sum(o.qos for o in outcomes) / n,
        # delivered quality, SLO aside (replays: the share of right answers)
        "mean_quality": sum(o.quality for o in outcomes) / n,
        # the cloud's recorded token counts per request (all requests; 0 without replays)
        "cloud_tokens_in": sum(o.tokens_in for o in outcomes) / n,
        "cloud_tokens_out": sum(o.tokens_out for o in outcomes) / n,
        "p50_s": percentile(lat, 0.5),
        "p99_s": percentile(lat, 0.99),
        "cloud_share": sum(1 for o in outcomes if o.target == "cloud") / n,
        "busy_share": statistics.fmean(busy) if busy else 0.0,
        # predicted total (with the gateway's output-length guess) against the actual
        "placement_mape": statistics.fmean(ape) if ape else 0.0,
        # the latency models' own running error (true output length), mean over experts
        "model_mape": statistics.fmean(mapes) if mapes else 0.0,
    }


def run(opts: Options, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """All runs, aggregated over seeds: one row per (policy, workload, utilisation)."""
    from gateway.routing.placement.learned_model import load_policy

    scenario = SCENARIOS[opts.scenario]
    profiles = expert_profiles(scenario, opts.expert_models)
    qualities = QualityTable.load(opts.data)
    calls = recorded_call_latencies(opts.data, opts.cloud_model)
    cloud = (
        CloudProfile(model=opts.cloud_model, call_s=tuple(calls),
                     source=f"recorded BFCL call latencies ({LATENCIES})")
        if calls
        else CloudProfile(model=opts.cloud_model)
    )
    traces = available_traces(opts.data)
    answers = None
    if opts.quality == "replay":
        answers = load_answers(opts.data, [*(p.model for p in profiles), cloud.model])
        if answers.by_model:
            qualities = answers.beliefs(qualities)
            if answers.recorded(cloud.model):
                cloud = replace(cloud, source=f"the recorded latency of each request's BFCL item "
                                f"({cloud.model}, outcomes/results/)")
        else:
            answers = None
        opts.notes.append(
            "what each answer is worth: the recorded output of the model for the BFCL item the "
            "request stands for, judged by the BFCL checker, where it is recorded; else the "
            "per-category accuracy below. Per model: "
            + "; ".join(load_notes(answers, [*(p.model for p in profiles), cloud.model]))
        )
    else:
        opts.notes.append("what each answer is worth: per-category accuracy (--quality category)")
    opts.notes.append(f"quality per expert and request type: {qualities.source}")
    opts.notes.append(f"cloud call time: {cloud.source}")
    if not traces:
        opts.notes.append(
            "no Azure traces under --data: Poisson arrivals with assumed lognormal sizes only"
        )
    policies = list(opts.policies)
    learned = None
    if "learned" in policies:
        try:
            learned = load_policy(opts.learned_path)
        except (FileNotFoundError, ValueError) as exc:
            policies.remove("learned")
            opts.notes.append(f"learned policy skipped: {exc}")
    rows: list[dict[str, Any]] = []
    for workload in workloads(traces):
        for util in opts.loads:
            per_policy: dict[str, list[dict[str, float]]] = {p: [] for p in policies}
            # seed 0 is where the impact policy's weights were looked at: reported runs start at 1
            for seed in range(1, opts.seeds + 1):
                reqs = make_requests(
                    workload, opts.requests, util, seed, profiles, scenario.slos, traces,
                    answers=answers,
                )
                for pol in policies:
                    state = PolicyState(learned=learned)
                    outs, stats = simulate(reqs, profiles, qualities, pol, seed, state, cloud,
                                           answers=answers)
                    per_policy[pol].append(summarise(outs, stats))
                    if progress:
                        progress(f"{workload} util={util} seed={seed} {pol}")
            for pol, runs in per_policy.items():
                row: dict[str, Any] = {
                    "scenario": scenario.name,
                    "policy": pol,
                    "workload": workload,
                    "utilisation": util,
                    "seeds": len(runs),
                    "requests": opts.requests,
                }
                for key in runs[0]:
                    vals = [r[key] for r in runs]
                    row[key] = statistics.fmean(vals)
                    row[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
                rows.append(row)
    return rows
