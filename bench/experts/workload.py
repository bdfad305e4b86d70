"""Workloads for the expert simulator: arrivals, sizes, request types, SLOs, qualities.

- **Arrivals**: Poisson, or the real Azure LLM inference trace (Patel et al., "Splitwise", ISCA
  2024; ``workloads/AzureLLMInferenceTrace_{conv,code}.csv`` under ``--data``): a window of
  consecutive requests, time-scaled so its mean rate gives the target utilisation (the bursts
  are kept). Sizes (prompt and generated tokens) come from the same trace rows; Poisson
  arrivals draw sizes from the conversation trace (or, without data, a stated lognormal).
- **Request types**: the BFCL v1 categories, drawn in BFCL's own proportions (the trace has no
  prompt text, so a type is assigned at random: simulated).
- **Quality** of an expert: where the model's outputs are recorded, what it really answered
  to the BFCL request a simulated request stands for (``bench.experts.recorded``); otherwise
  the model's recorded BFCL v1 accuracy on that category
  (``outcomes/bfcl_2024-08-11_summary.csv``); without data, the ASSUMED table below.
- **Output length known to the gateway**: the true length times lognormal noise (σ 0.5): an
  output-length predictor of that quality is assumed.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REQUEST_TYPES = (
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
)
TYPE_WEIGHTS = (400, 200, 200, 200, 240)  # BFCL v1 category sizes
SUMMARY = "outcomes/bfcl_2024-08-11_summary.csv"
LATENCIES = "outcomes/bfcl_2024-08-11_selected_long.csv"
TRACES = {
    "azure-conv": "workloads/AzureLLMInferenceTrace_conv.csv",
    "azure-code": "workloads/AzureLLMInferenceTrace_code.csv",
}
OUTPUT_NOISE_SIGMA = 0.5

# Used only when the recorded table is not available (tests, a machine without the data):
# round figures, not measurements.
ASSUMED_QUALITY: dict[str, tuple[float, ...]] = {
    "default": (0.85, 0.85, 0.75, 0.7, 0.6),
    "high": (0.95, 0.93, 0.9, 0.88, 0.85),
    "low": (0.7, 0.7, 0.55, 0.5, 0.45),
}


@dataclass(frozen=True, slots=True)
class SloClass:
    share: float
    ttft_s: float | None
    tpot_s: float | None


@dataclass(slots=True)
class SimRequest:
    rid: int
    arrival: float
    prompt_tokens: int
    output_tokens: int  # true length
    expected_output_tokens: int  # what the gateway believes
    rtype: str
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    deadline_s: float | None = None  # end to end (x-netgpt-deadline-ms)
    prompt_id: str | None = None  # the BFCL v1 request it stands for (replays; else None)


class QualityTable:
    """P(acceptable) per (model, request type); ``source`` says recorded or assumed."""

    def __init__(self, table: Mapping[tuple[str, str], float], source: str) -> None:
        self.table = dict(table)
        self.source = source

    def get(self, model: str, rtype: str, offset: float = 0.0) -> float:
        q = self.table.get((model, rtype))
        if q is None:
            tier = model if model in ASSUMED_QUALITY else "default"
            q = ASSUMED_QUALITY[tier][REQUEST_TYPES.index(rtype)]
        return min(max(q + offset, 0.0), 1.0)

    @classmethod
    def load(cls, data: Path | None) -> QualityTable:
        path = data / SUMMARY if data is not None else None
        if path is None or not path.exists():
            return cls({}, "assumed (no recorded outcomes found)")
        table: dict[tuple[str, str], float] = {}
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["category"] in REQUEST_TYPES:
                    table[(row["model"], row["category"])] = float(row["accuracy"])
        return cls(table, f"recorded BFCL v1 accuracy per category ({SUMMARY})")


@dataclass(frozen=True, slots=True)
class TraceRow:
    t_s: float
    prompt_tokens: int
    output_tokens: int


def load_trace(path: Path) -> list[TraceRow]:
    rows: list[TraceRow] = []
    t0: datetime | None = None
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            stamp = datetime.fromisoformat(row["TIMESTAMP"][:26])
            t0 = t0 or stamp
            rows.append(
                TraceRow(
                    (stamp - t0).total_seconds(),
                    int(row["ContextTokens"]),
                    max(int(row["GeneratedTokens"]), 1),
                )
            )
    rows.sort(key=lambda r: r.t_s)
    return rows


def available_traces(data: Path | None) -> dict[str, list[TraceRow]]:
    out: dict[str, list[TraceRow]] = {}
    if data is None:
        return out
    for name, rel in TRACES.items():
        if (data / rel).exists():
            out[name] = load_trace(data / rel)
    return out


def synthetic_sizes(rng: random.Random) -> tuple[int, int]:
    """Lognormal sizes near the conversation trace's medians (prompt ~1000, output ~130)."""
    return (
        min(int(rng.lognormvariate(math.log(1000), 0.7)), 7000),
        max(1, min(int(rng.lognormvariate(math.log(130), 0.9)), 1000)),
    )


def _finish(
    rng: random.Random, rid: int, t: float, prompt: int, output: int, slos: Sequence[SloClass]
) -> SimRequest:
    rtype = rng.choices(REQUEST_TYPES, weights=TYPE_WEIGHTS)[0]
    cls = rng.choices(slos, weights=[c.share for c in slos])[0]
    expected = max(1, round(output * math.exp(rng.gauss(0.0, OUTPUT_NOISE_SIGMA))))
    return SimRequest(rid, t, prompt, output, expected, rtype, cls.ttft_s, cls.tpot_s)


def poisson(
    n: int,
    rate: float,
    rng: random.Random,
    slos: Sequence[SloClass],
    sizes: Sequence[TraceRow] | None,
) -> list[SimRequest]:
    out, t = [], 0.0
    for rid in range(n):
        t += rng.expovariate(rate)
        if sizes:
            row = sizes[rng.randrange(len(sizes))]
            p, o = row.prompt_tokens, row.output_tokens
        else:
            p, o = synthetic_sizes(rng)
        out.append(_finish(rng, rid, t, p, o, slos))
    return out


def from_trace(
    trace: Sequence[TraceRow], n: int, rate: float, rng: random.Random, slos: Sequence[SloClass]
) -> list[SimRequest]:
    """``n`` consecutive trace rows from a random start, time-scaled to mean ``rate`` req/s."""
    n = min(n, len(trace))
    start = rng.randrange(0, len(trace) - n + 1)
    window = trace[start : start + n]
    span = max(window[-1].t_s - window[0].t_s, 1e-9)
    scale = (n / rate) / span  # the window's own mean rate becomes ``rate``
    t0 = window[0].t_s
    return [
        _finish(rng, rid, (row.t_s - t0) * scale, row.prompt_tokens, row.output_tokens, slos)
        for rid, row in enumerate(window)
    ]


def mean_sizes(requests: Sequence[SimRequest]) -> tuple[float, float]:
    n = max(len(requests), 1)
    return (sum(r.prompt_tokens for r in requests) / n, sum(r.output_tokens for r in requests) / n)


def recorded_call_latencies(data: Path | None, model: str) -> list[float]:
    """Recorded whole-call latencies (s) of ``model`` on BFCL v1 (empty without the data)."""
    path = data / LATENCIES if data is not None else None
    if path is None or not path.exists():
        return []
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["model"] == model and row.get("latency_s"):
                out.append(float(row["latency_s"]))
    return out
