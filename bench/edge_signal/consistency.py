"""The self-consistency part of the edge-signal report (rows measured with ``--samples K``):
what the samples' agreement says about a draft being right (AUC of each ``sc_`` signal alone;
the verifier with and without them is cross-validated by ``netgpt bench routing --verifier
--edge-outcomes``) and what drawing them costs in wall time per request."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.common.stats import AucCI, auc_ci

# signal -> how it is read from a row's ``samples`` (higher = more likely right)
SIGNALS = {
    "sc_agreement": lambda s: s["agreement"],
    "sc_name_agreement": lambda s: s["name_agreement"],
    "sc_distinct": lambda s: -s["distinct"],  # fewer distinct answers: more consistent
}
WAIT_S = 1.0  # NETGPT_EDGE_SAMPLE_WAIT_S's default
HELP = {
    "sc_agreement": "share of the K samples making exactly the draft's calls (BFCL's string rules)",
    "sc_name_agreement": "share of the samples calling the draft's functions",
    "sc_distinct": "distinct answers among draft and samples over K + 1, negated (fewer is better)",
}


@dataclass
class SampleStats:
    n: int  # rows measured with samples
    k: int
    temperature: float
    drawn: int  # rows whose samples came back
    same_draft: float  # share of paired greedy drafts equal to the lone one
    auc: dict[str, AucCI] = field(default_factory=dict)
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (p50, p90)
    extra_ratio_p50: float = float("nan")
    late_share: float = float("nan")  # samples back > WAIT_S after the paired draft


def _pct(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    p50, p90 = np.percentile(values, [50, 90])
    return float(p50), float(p90)


def sample_stats(rows: list[dict[str, Any]], seed: int, n_boot: int) -> SampleStats | None:
    """None when no row was measured with samples."""
    rows = [r for r in rows if r.get("sc_k")]
    if not rows:
        return None
    drawn = [r for r in rows if isinstance(r.get("samples"), dict)]
    paired = [r for r in rows if "sc_same_draft" in r]
    stats = SampleStats(
        n=len(rows), k=int(rows[0]["sc_k"]), temperature=float(rows[0].get("sc_temperature") or 0),
        drawn=len(drawn),
        same_draft=sum(bool(r["sc_same_draft"]) for r in paired) / len(paired) if paired else math.nan,
    )
    labels = np.array([bool(r["correct"]) for r in drawn])
    for name, read in SIGNALS.items():
        values = np.array([float(read(r["samples"])) for r in drawn])
        stats.auc[name] = auc_ci(values, labels, n_boot, seed=seed)
    timed = [r for r in rows if r.get("latency_s") is not None and r.get("sc_wall_s") is not None]
    stats.latency = {
        "draft alone": _pct([r["latency_s"] for r in timed]),
        "draft + samples (wall)": _pct([r["sc_wall_s"] for r in timed]),
        "extra per request": _pct([r["sc_wall_s"] - r["latency_s"] for r in timed]),
        "draft, beside the samples": _pct([r["sc_draft_s"] for r in timed]),
        "samples request": _pct([r["sc_samples_s"] for r in timed]),
    }
    ratios = [r["sc_wall_s"] / r["latency_s"] for r in timed if r["latency_s"] > 0]
    stats.extra_ratio_p50 = float(np.median(ratios)) if ratios else math.nan
    if timed:
        late = [r["sc_samples_s"] - r["sc_draft_s"] > WAIT_S for r in timed]
        stats.late_share = sum(late) / len(late)
    return stats


def report_lines(stats: SampleStats | None) -> list[str]:
    if stats is None:
        return []
    out = [
        f"## Self-consistency ({stats.k} samples at temperature {stats.temperature:g})",
        "",
        f"{stats.n} requests were also sent the way the gateway sends them with "
        f"`NETGPT_EDGE_SAMPLES={stats.k}`: the greedy draft and one request for {stats.k} "
        f"sampled drafts (`n` = {stats.k}) at once; {stats.drawn} got their samples back. The "
        f"paired greedy draft made the same calls as the lone one in {stats.same_draft:.1%} of "
        "requests. Prompt caching was off for every call of this run (`cache_prompt` false).",
        "",
        "| signal (alone) | AUC [95%] over requests with samples |",
        "|---|---|",
        *[f"| `{name}` — {HELP[name]} | {ci.text()} |" for name, ci in stats.auc.items()],
        "",
        "| wall time per request (s) | median | p90 |",
        "|---|---|---|",
        *[f"| {name} | {p50:.2f} | {p90:.2f} |" for name, (p50, p90) in stats.latency.items()],
        "",
        f"Median ratio (draft + samples) / draft alone: {stats.extra_ratio_p50:.2f}. The "
        f"samples came back more than {WAIT_S:g} s after their paired draft (the gateway's "
        f"default `NETGPT_EDGE_SAMPLE_WAIT_S`, which would have dropped them) on "
        f"{stats.late_share:.0%} of requests. The "
        "verifier with and without the `sc_` features, cross-validated: `netgpt bench routing "
        "--verifier --edge-outcomes` on this file.",
        "",
    ]
    return out
